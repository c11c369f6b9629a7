package jetstream

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/eventstore"
)

func sampleEvent(t testing.TB) eventstore.RecordedEvent {
	t.Helper()
	e := eventstore.EventData{ID: uuid.MustParse("0190f3a2-7b1c-7d4e-9a2b-3c4d5e6f7a8b"), Type: "PayoutInitiated", SchemaVersion: 2, Data: []byte(`{"amount":"12.50"}`)}
	recs := eventstore.Chain("douyin.S1001", 6, eventstore.Hash{7}, []eventstore.EventData{e})
	r := recs[0]
	r.RecordedAt = time.Date(2026, 3, 1, 10, 20, 30, 123456789, time.UTC)
	r.Position = 42
	return r
}

func TestDecodeRoundTrip(t *testing.T) {
	want := sampleEvent(t)
	m := encode("ledger.douyin.S1001.PayoutInitiated", want)
	got, err := Decode(m.Subject, 42, m.Header, m.Data)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Equal(t, "1.0", m.Header.Get(HeaderCESpecVersion))
	require.Equal(t, want.ID.String(), m.Header.Get(HeaderCEID))
	require.Equal(t, "douyin.S1001", m.Header.Get(HeaderCESource))
	require.Equal(t, want.Hash.String(), m.Header.Get(HeaderHash))
	require.Equal(t, want.PrevHash.String(), m.Header.Get(HeaderPrevHash))

	// Any prefix, even of several tokens.
	got, err = Decode("acme.prod.douyin.S1001.PayoutInitiated", 42, m.Header, m.Data)
	require.NoError(t, err)
	require.Equal(t, want, got)

	// CloudEvents headers are optional.
	h := cloneHeader(m.Header)
	for _, k := range []string{HeaderCEID, HeaderCEType, HeaderCESource, HeaderCETime, HeaderCESpecVersion} {
		delete(h, k)
	}
	_, err = Decode(m.Subject, 42, h, m.Data)
	require.NoError(t, err)
}

func cloneHeader(h nats.Header) nats.Header {
	out := nats.Header{}
	for k, v := range h {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func TestDecodeRefusesMalformed(t *testing.T) {
	base := encode("ledger.douyin.S1001.PayoutInitiated", sampleEvent(t))
	set := func(k, v string) func(nats.Header) { return func(h nats.Header) { h.Set(k, v) } }
	del := func(k string) func(nats.Header) { return func(h nats.Header) { delete(h, k) } }
	cases := []struct {
		name     string
		subject  string
		position uint64
		mutate   func(nats.Header)
		body     []byte
	}{
		{name: "no position", position: 0},
		{name: "subject of another stream", subject: "ledger.douyin.S1002.PayoutInitiated"},
		{name: "subject of another type", subject: "ledger.douyin.S1001.PayoutPaid"},
		{name: "subject without prefix", subject: "douyin.S1001.PayoutInitiated"},
		{name: "subject with empty prefix token", subject: "a..douyin.S1001.PayoutInitiated"},
		{name: "no stream", mutate: del(HeaderStream)},
		{name: "stream of one token", mutate: set(HeaderStream, "douyin")},
		{name: "stream of three tokens", mutate: set(HeaderStream, "douyin.S1.x")},
		{name: "wildcard stream", mutate: set(HeaderStream, "douyin.*")},
		{name: "two streams", mutate: func(h nats.Header) { h.Add(HeaderStream, "douyin.S1001") }},
		{name: "no version", mutate: del(HeaderVersion)},
		{name: "version zero", mutate: set(HeaderVersion, "0")},
		{name: "negative version", mutate: set(HeaderVersion, "-7")},
		{name: "version with leading zero", mutate: set(HeaderVersion, "07")},
		{name: "version overflow", mutate: set(HeaderVersion, "18446744073709551616")},
		{name: "no event ID", mutate: del(HeaderEventID)},
		{name: "bad event ID", mutate: set(HeaderEventID, "not-a-uuid")},
		{name: "nil event ID", mutate: set(HeaderEventID, uuid.Nil.String())},
		{name: "upper-case event ID", mutate: set(HeaderEventID, strings.ToUpper(base.Header.Get(HeaderEventID)))},
		{name: "no type", mutate: del(HeaderEventType)},
		{name: "type with a dot", mutate: set(HeaderEventType, "Payout.Initiated")},
		{name: "no schema version", mutate: del(HeaderSchemaVersion)},
		{name: "bad schema version", mutate: set(HeaderSchemaVersion, "v2")},
		{name: "no prev hash", mutate: del(HeaderPrevHash)},
		{name: "short prev hash", mutate: set(HeaderPrevHash, "abcd")},
		{name: "upper-case hash", mutate: set(HeaderHash, strings.ToUpper(base.Header.Get(HeaderHash)))},
		{name: "non-hex hash", mutate: set(HeaderHash, strings.Repeat("zz", 32))},
		{name: "no hash", mutate: del(HeaderHash)},
		{name: "version 1 with a prev hash", mutate: set(HeaderVersion, "1")},
		{name: "no recorded-at", mutate: del(HeaderRecordedAt)},
		{name: "bad recorded-at", mutate: set(HeaderRecordedAt, "yesterday")},
		{name: "ce-id disagrees", mutate: set(HeaderCEID, uuid.NewString())},
		{name: "ce-type disagrees", mutate: set(HeaderCEType, "PayoutPaid")},
		{name: "ce-source disagrees", mutate: set(HeaderCESource, "douyin.S1002")},
		{name: "ce-time disagrees", mutate: set(HeaderCETime, "2026-03-01T10:20:30Z")},
		{name: "ce-specversion", mutate: set(HeaderCESpecVersion, "0.3")},
		{name: "body too large", body: make([]byte, eventstore.MaxEventBytes+1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := cloneHeader(base.Header)
			if c.mutate != nil {
				c.mutate(h)
			}
			subj := base.Subject
			if c.subject != "" {
				subj = c.subject
			}
			pos := uint64(42)
			if c.name == "no position" {
				pos = c.position
			}
			body := base.Data
			if c.body != nil {
				body = c.body
			}
			_, err := Decode(subj, pos, h, body)
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrMalformed), "got %v", err)
		})
	}
	_, err := Decode("", 0, nil, nil)
	require.ErrorIs(t, err, ErrMalformed)
}

// FuzzDecode: Decode never panics, and whatever it accepts re-encodes to a
// message that decodes to the same event.
func FuzzDecode(f *testing.F) {
	m := encode("ledger.douyin.S1001.PayoutInitiated", sampleEvent(f))
	hdr, err := headerBytes(m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(m.Subject, uint64(42), hdr, m.Data)
	f.Add("ledger.a.b.C", uint64(1), []byte("NATS/1.0\r\nLedger-Stream: a.b\r\n\r\n"), []byte(nil))
	f.Add("", uint64(0), []byte("NATS/1.0 404 Not Found\r\n\r\n"), []byte("x"))
	f.Add("ledger.a.b.C", uint64(7), []byte("NATS/1.0\r\nLedger-Version: 1\r\nLedger-Version: 2\r\n\r\n"), []byte("{}"))
	f.Fuzz(func(t *testing.T, subject string, position uint64, rawHeader, body []byte) {
		h, err := nats.DecodeHeadersMsg(rawHeader)
		if err != nil {
			return
		}
		r, err := Decode(subject, position, h, body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again := encode(subject, r)
		r2, err := Decode(subject, position, again.Header, again.Data)
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		if r2.ID != r.ID || r2.Version != r.Version || r2.Hash != r.Hash || r2.PrevHash != r.PrevHash ||
			r2.Stream != r.Stream || r2.Type != r.Type || r2.SchemaVersion != r.SchemaVersion ||
			string(r2.Data) != string(r.Data) || !r2.RecordedAt.Equal(r.RecordedAt) || r2.Position != r.Position {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", r, r2)
		}
	})
}

// headerBytes renders a message's header block as it travels on the wire.
func headerBytes(m *nats.Msg) ([]byte, error) {
	var b strings.Builder
	b.WriteString("NATS/1.0\r\n")
	for k, vs := range m.Header {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return []byte(b.String()), nil
}

// BenchmarkDecode: one stored event's headers checked and decoded, as
// every read (ReadAll, Subscribe, direct gets) does per message.
func BenchmarkDecode(b *testing.B) {
	r := sampleEvent(b)
	m := encode("ledger.douyin.S1001.PayoutInitiated", r)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(m.Subject, 42, m.Header, m.Data); err != nil {
			b.Fatal(err)
		}
	}
}
