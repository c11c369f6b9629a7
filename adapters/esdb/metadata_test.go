package esdb

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/eventstore"
)

var testAt = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)

// simulateRecorded is what the client hands back for an event the server
// stored from d: the fields the server copies, plus the ones it assigns.
func simulateRecorded(name string, revision, pos uint64, d esdb.EventData) *esdb.RecordedEvent {
	ct := "application/octet-stream"
	if d.ContentType == esdb.ContentTypeJson {
		ct = "application/json"
	}
	return &esdb.RecordedEvent{
		EventID: d.EventID, EventType: d.EventType, ContentType: ct,
		StreamID: name, EventNumber: revision,
		Position:    esdb.Position{Commit: pos, Prepare: pos},
		CreatedDate: time.Now().UTC(), Data: d.Data, UserMetadata: d.Metadata,
		SystemMetadata: map[string]string{"type": d.EventType, "content-type": ct},
	}
}

// EventData -> esdb.EventData -> recorded by the server -> RecordedEvent
// gives back every field, and the chain still verifies.
func TestMappingRoundTrip(t *testing.T) {
	const stream = "douyin.S1001"
	events := []eventstore.EventData{
		{ID: uuid.Must(uuid.NewV7()), Type: "PayoutInitiated", SchemaVersion: 2, Data: []byte(`{"amount":"12.50"}`)},
		{ID: uuid.Must(uuid.NewV7()), Type: "PayoutConfirmed", SchemaVersion: 1, Data: []byte(`{}`)},
		{ID: uuid.Must(uuid.NewV7()), Type: "Empty", SchemaVersion: 0, Data: nil},
	}
	// Chained after an existing head of version 4.
	prevHead := eventstore.ChainHash(eventstore.Hash{}, stream, 4, eventstore.EventData{ID: uuid.New(), Type: "X"})
	recs := eventstore.Chain(stream, 4, prevHead, events)
	name, err := ToESDBName(DefaultStreamPrefix, stream)
	require.NoError(t, err)
	v := eventstore.ChainVerifier{Stream: stream}
	v.Reset(4, prevHead)
	for i, rec := range recs {
		d, err := ToEventData(rec, testAt)
		require.NoError(t, err)
		require.Equal(t, rec.ID, d.EventID, "our ID is the EventStoreDB event ID (server idempotency)")
		require.Equal(t, rec.Type, d.EventType)
		require.Equal(t, esdb.ContentTypeJson, d.ContentType)
		require.Equal(t, rec.Data, d.Data)

		revision := uint64(4 + i) // version 5+i
		pos := uint64(10_000 + 300*i)
		got, err := FromRecordedEvent(DefaultStreamPrefix, simulateRecorded(name, revision, pos, d), pos)
		require.NoError(t, err)
		require.Equal(t, stream, got.Stream)
		require.Equal(t, revision+1, got.Version, "Version = revision + 1")
		require.Equal(t, rec.Version, got.Version)
		require.Equal(t, pos, got.Position)
		require.Equal(t, rec.ID, got.ID)
		require.Equal(t, rec.Type, got.Type)
		require.Equal(t, rec.SchemaVersion, got.SchemaVersion)
		require.Equal(t, string(rec.Data), string(got.Data))
		require.Equal(t, rec.PrevHash, got.PrevHash)
		require.Equal(t, rec.Hash, got.Hash)
		require.True(t, testAt.Equal(got.RecordedAt), "recorded-at keeps nanoseconds: %v", got.RecordedAt)
		require.NoError(t, v.Check(got))
	}
}

// The version in the metadata is informational: a moved event keeps its
// metadata but takes the server's revision, so the chain check catches it.
func TestMovedEventFailsTheChain(t *testing.T) {
	const stream = "jd.S7"
	rec := eventstore.Chain(stream, 0, eventstore.Hash{}, []eventstore.EventData{{ID: uuid.New(), Type: "A", Data: []byte(`{}`)}})[0]
	d, err := ToEventData(rec, testAt)
	require.NoError(t, err)
	got, err := FromRecordedEvent(DefaultStreamPrefix, simulateRecorded("ledger-"+stream, 3, 99, d), 99)
	require.NoError(t, err)
	require.Equal(t, uint64(4), got.Version)
	v := eventstore.ChainVerifier{Stream: stream}
	require.True(t, errors.Is(v.Check(got), eventstore.ErrChainBroken))
}

func TestFromRecordedEventRefusals(t *testing.T) {
	rec := eventstore.Chain("jd.S7", 0, eventstore.Hash{}, []eventstore.EventData{{ID: uuid.New(), Type: "A"}})[0]
	good, err := ToEventData(rec, testAt)
	require.NoError(t, err)
	base := func() *esdb.RecordedEvent { return simulateRecorded("ledger-jd.S7", 0, 1, good) }
	cases := map[string]struct {
		mut  func(*esdb.RecordedEvent) *esdb.RecordedEvent
		want error
	}{
		"nil event":      {func(*esdb.RecordedEvent) *esdb.RecordedEvent { return nil }, nil},
		"foreign stream": {func(e *esdb.RecordedEvent) *esdb.RecordedEvent { e.StreamID = "orders-1"; return e }, ErrInvalidStreamName},
		"no ID":          {func(e *esdb.RecordedEvent) *esdb.RecordedEvent { e.EventID = uuid.Nil; return e }, nil},
		"no type":        {func(e *esdb.RecordedEvent) *esdb.RecordedEvent { e.EventType = ""; return e }, nil},
		"max revision":   {func(e *esdb.RecordedEvent) *esdb.RecordedEvent { e.EventNumber = math.MaxUint64; return e }, nil},
		"no metadata":    {func(e *esdb.RecordedEvent) *esdb.RecordedEvent { e.UserMetadata = nil; return e }, ErrMalformedMetadata},
		"foreign metadata": {func(e *esdb.RecordedEvent) *esdb.RecordedEvent {
			e.UserMetadata = []byte(`{"$correlationId":"x"}`)
			return e
		}, ErrMalformedMetadata},
	}
	for name, c := range cases {
		_, err := FromRecordedEvent(DefaultStreamPrefix, c.mut(base()), 1)
		require.Error(t, err, name)
		if c.want != nil {
			require.True(t, errors.Is(err, c.want), "%s: %v", name, err)
		}
	}
}

func TestDecodeMetadataRefusesMalformedInput(t *testing.T) {
	h := strings.Repeat("ab", 32)
	ok := `{"ledgerMetadata":1,"schemaVersion":1,"version":3,"prevHash":"` + h + `","hash":"` + h + `","recordedAt":"2026-01-02T03:04:05Z"}`
	_, err := DecodeMetadata([]byte(ok))
	require.NoError(t, err)
	swap := func(old, new string) string { return strings.Replace(ok, old, new, 1) }
	for name, in := range map[string]string{
		"empty":            ``,
		"not JSON":         `not json`,
		"truncated":        ok[:len(ok)-5],
		"array":            `[1,2]`,
		"null":             `null`,
		"no format":        swap(`"ledgerMetadata":1,`, ``),
		"other format":     swap(`"ledgerMetadata":1`, `"ledgerMetadata":2`),
		"format as string": swap(`"ledgerMetadata":1`, `"ledgerMetadata":"1"`),
		"no hash":          swap(`,"hash":"`+h+`"`, ``),
		"no prevHash":      swap(`"prevHash":"`+h+`",`, ``),
		"no recordedAt":    swap(`,"recordedAt":"2026-01-02T03:04:05Z"`, ``),
		"no version":       swap(`"version":3,`, ``),
		"no schemaVersion": swap(`"schemaVersion":1,`, ``),
		"version 0":        swap(`"version":3`, `"version":0`),
		"negative version": swap(`"version":3`, `"version":-3`),
		"huge version":     swap(`"version":3`, `"version":1e40`),
		"short hash":       swap(`"hash":"`+h, `"hash":"`+h[:62]),
		"upper-case hash":  swap(`"hash":"`+h, `"hash":"`+strings.ToUpper(h)),
		"non-hex hash":     swap(`"hash":"`+h, `"hash":"zz`+h[2:]),
		"bad time":         swap(`2026-01-02T03:04:05Z`, `yesterday`),
		"schema overflow":  swap(`"schemaVersion":1`, `"schemaVersion":99999999999999999999`),
		"too large":        `{"ledgerMetadata":1,"pad":"` + strings.Repeat("x", maxMetadataBytes) + `"}`,
		"hash wrong type":  swap(`"hash":"`+h+`"`, `"hash":7`),
	} {
		_, err := DecodeMetadata([]byte(in))
		require.True(t, errors.Is(err, ErrMalformedMetadata), "%s: got %v", name, err)
	}
}

func TestEncodeDecodeMetadata(t *testing.T) {
	m := Metadata{SchemaVersion: -1, Version: math.MaxUint64, RecordedAt: testAt}
	m.PrevHash[0], m.Hash[31] = 1, 0xff
	b, err := EncodeMetadata(m)
	require.NoError(t, err)
	require.Less(t, len(b), metadataAllowance, "the size allowance per event covers the metadata")
	got, err := DecodeMetadata(b)
	require.NoError(t, err)
	require.Equal(t, m.SchemaVersion, got.SchemaVersion)
	require.Equal(t, m.Version, got.Version)
	require.Equal(t, m.PrevHash, got.PrevHash)
	require.Equal(t, m.Hash, got.Hash)
	require.True(t, m.RecordedAt.Equal(got.RecordedAt))
	// Unknown fields from a newer writer are ignored.
	_, err = DecodeMetadata(append(b[:len(b)-1], []byte(`,"newField":true}`)...))
	require.NoError(t, err)
}

func TestEventPosition(t *testing.T) {
	c := uint64(77)
	none := uint64(math.MaxUint64)
	ev := func(p uint64) *esdb.RecordedEvent {
		return &esdb.RecordedEvent{Position: esdb.Position{Commit: p, Prepare: p}}
	}
	require.Equal(t, uint64(42), eventPosition(&esdb.ResolvedEvent{Event: ev(42)}))
	require.Equal(t, uint64(42), eventPosition(&esdb.ResolvedEvent{Event: ev(42), Commit: &c}), "the event's own position first")
	require.Equal(t, uint64(77), eventPosition(&esdb.ResolvedEvent{Event: ev(math.MaxUint64), Commit: &c}))
	require.Zero(t, eventPosition(&esdb.ResolvedEvent{Event: ev(math.MaxUint64)}), "older servers: unknown on stream reads")
	require.Zero(t, eventPosition(&esdb.ResolvedEvent{Event: ev(math.MaxUint64), Commit: &none}))
	require.Zero(t, eventPosition(&esdb.ResolvedEvent{}))
}

// FuzzDecodeMetadata: the decoder never panics, and what it accepts
// re-encodes to a document it decodes to the same value.
func FuzzDecodeMetadata(f *testing.F) {
	h := strings.Repeat("0f", 32)
	seeds := []string{
		`{"ledgerMetadata":1,"schemaVersion":1,"version":3,"prevHash":"` + h + `","hash":"` + h + `","recordedAt":"2026-01-02T03:04:05.123456789Z"}`,
		`{"ledgerMetadata":1,"schemaVersion":-5,"version":18446744073709551615,"prevHash":"` + h + `","hash":"` + h + `","recordedAt":"2026-01-02T03:04:05+08:00"}`,
		`{"ledgerMetadata":2}`,
		`{"$correlationId":"abc","$causationId":"def"}`,
		`{"ledgerMetadata":1,"version":0}`,
		`{}`, `[]`, `null`, `""`, `1`, ``, `{`, "\xff\xfe",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMetadata(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedMetadata) {
				t.Fatalf("error does not wrap ErrMalformedMetadata: %v", err)
			}
			return
		}
		again, err := EncodeMetadata(m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := DecodeMetadata(again)
		if err != nil {
			t.Fatalf("decode of re-encoded %q: %v", again, err)
		}
		if m2.SchemaVersion != m.SchemaVersion || m2.Version != m.Version || m2.Hash != m.Hash ||
			m2.PrevHash != m.PrevHash || !m2.RecordedAt.Equal(m.RecordedAt) {
			t.Fatalf("round trip changed %+v into %+v", m, m2)
		}
	})
}
