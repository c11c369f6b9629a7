package jetstream_test

import (
	"encoding/json"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/eventstore"
)

// storedMsg reads the raw message at seq, headers as stored.
func storedMsg(t *testing.T, js njs.JetStream, seq uint64) *njs.RawStreamMsg {
	t.Helper()
	st, err := js.Stream(ctx10(t), jetstream.DefaultStreamName)
	require.NoError(t, err)
	m, err := st.GetMsg(ctx10(t), seq)
	require.NoError(t, err)
	return m
}

func streamMsgs(t *testing.T, js njs.JetStream) uint64 {
	t.Helper()
	st, err := js.Stream(ctx10(t), jetstream.DefaultStreamName)
	require.NoError(t, err)
	info, err := st.Info(ctx10(t))
	require.NoError(t, err)
	return info.State.Msgs
}

// Every stored message carries Nats-Msg-Id = its event ID, whether it went
// out as a plain publish or inside an atomic batch.
func TestNatsMsgIDIsTheEventIDOnEveryAppend(t *testing.T) {
	srv := startServer(t, t.TempDir())
	s := openEmbedded(t, jetstream.Config{URL: srv.ClientURL()})
	_, js := rawJS(t, srv.ClientURL())
	a, b := streamID("douyin"), streamID("jd")
	cases := []struct {
		name string
		reqs []eventstore.AppendRequest
	}{
		{"plain publish (one event)", []eventstore.AppendRequest{{Stream: a, Expected: eventstore.NoStream, Events: newEvs("PayoutInitiated", 1)}}},
		{"atomic batch (one stream)", []eventstore.AppendRequest{{Stream: a, Expected: 1, Events: newEvs("PayoutPaid", 3)}}},
		{"atomic batch (two streams)", []eventstore.AppendRequest{
			{Stream: a, Expected: 4, Events: newEvs("PayoutClosed", 1)},
			{Stream: b, Expected: eventstore.NoStream, Events: newEvs("ShopRegistered", 2)},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := s.AppendBatch(ctx10(t), c.reqs)
			require.NoError(t, err)
			var want []uuid.UUID
			for _, r := range c.reqs {
				for _, e := range r.Events {
					want = append(want, e.ID)
				}
			}
			last := res[0].LastPosition
			for _, r := range res {
				last = max(last, r.LastPosition)
			}
			first := last - uint64(len(want)) + 1
			for k, id := range want {
				m := storedMsg(t, js, first+uint64(k))
				require.Equal(t, []string{id.String()}, m.Header.Values(jetstream.HeaderMsgID), "position %d", first+uint64(k))
				require.Equal(t, m.Header.Get(jetstream.HeaderEventID), m.Header.Get(jetstream.HeaderMsgID))
				require.Equal(t, m.Header.Get(jetstream.HeaderCEID), m.Header.Get(jetstream.HeaderMsgID))
			}
		})
	}
}

// The server's deduplication contract, as nats-server v2.15.2 implements
// it for the ledger's messages: a plain re-publish of a stored event ID
// within the window is acknowledged as a duplicate of the stored position
// and stores nothing; an atomic batch holding a stored event ID is refused
// whole with 10201 and stores nothing.
func TestRepublishedEventIDIsDeduplicated(t *testing.T) {
	srv := startServer(t, t.TempDir())
	s := openEmbedded(t, jetstream.Config{URL: srv.ClientURL()})
	nc, js := rawJS(t, srv.ClientURL()) // full rights, like a relay or an operator
	shop := streamID("douyin")
	res, err := s.Append(ctx10(t), shop, eventstore.NoStream, newEvs("PayoutInitiated", 2))
	require.NoError(t, err)
	stored := storedMsg(t, js, res.LastPosition)
	n := streamMsgs(t, js)

	// copyOf is the stored message as a relay would publish it again:
	// the same subject, ledger headers and body.
	copyOf := func() *nats.Msg {
		m := nats.NewMsg(stored.Subject)
		for k, v := range stored.Header {
			if k == "Nats-Batch-Id" || k == "Nats-Batch-Sequence" || k == "Nats-Batch-Commit" ||
				k == "Nats-Expected-Last-Subject-Sequence" || k == "Nats-Expected-Last-Subject-Sequence-Subject" {
				continue
			}
			m.Header[k] = v
		}
		m.Data = stored.Data
		return m
	}

	t.Run("plain publish: acknowledged as duplicate", func(t *testing.T) {
		ack, err := js.PublishMsg(ctx10(t), copyOf())
		require.NoError(t, err)
		require.True(t, ack.Duplicate)
		require.Equal(t, res.LastPosition, ack.Sequence, "the ack names the stored position")
		require.Equal(t, n, streamMsgs(t, js), "nothing stored")
	})
	t.Run("atomic batch: refused whole with 10201", func(t *testing.T) {
		fresh := copyOf()
		fresh.Header.Set(jetstream.HeaderMsgID, uuid.NewString())
		msgs := []*nats.Msg{fresh, copyOf()}
		id := nuid.Next()
		for k, m := range msgs {
			m.Header.Set("Nats-Batch-Id", id)
			m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(k+1))
		}
		msgs[1].Header.Set("Nats-Batch-Commit", "1")
		require.NoError(t, nc.PublishMsg(msgs[0]))
		resp, err := nc.RequestMsg(msgs[1], 5*time.Second)
		require.NoError(t, err)
		var ack struct {
			Error *jetstream.APIError `json:"error"`
		}
		require.NoError(t, json.Unmarshal(resp.Data, &ack))
		require.NotNil(t, ack.Error, "%s", resp.Data)
		require.Equal(t, 10201, ack.Error.Code, "JSAtomicPublishContainsDuplicateMessageErr")
		require.Equal(t, n, streamMsgs(t, js), "nothing of the batch stored")
	})
	require.Len(t, readAll(t, s), 2)
	verifyAll(t, s)
}

// The window is a second line of defence and costs server memory, so Open
// creates the stream with DuplicateWindow but accepts an existing stream
// with any other window, and leaves it as it is.
func TestDuplicateWindowOfExistingStreamIsAccepted(t *testing.T) {
	t.Run("created by Open", func(t *testing.T) {
		s := openEmbedded(t, jetstream.Config{})
		info, err := jetstream.StreamOf(s).Info(ctx10(t))
		require.NoError(t, err)
		require.Equal(t, jetstream.DuplicateWindow, info.Config.Duplicates)
	})
	for _, window := range []time.Duration{0, 100 * time.Millisecond, 2 * time.Minute, time.Hour} {
		t.Run("existing "+window.String(), func(t *testing.T) {
			srv := startServer(t, t.TempDir())
			_, js := rawJS(t, srv.ClientURL())
			cfg := goodStreamConfig()
			cfg.Duplicates = window // 0: the server's default (2 minutes)
			_, err := js.CreateStream(ctx10(t), cfg)
			require.NoError(t, err)
			before := storedWindow(t, js)
			s := openEmbedded(t, jetstream.Config{URL: srv.ClientURL()})
			_, err = s.Append(ctx10(t), streamID("douyin"), eventstore.NoStream, newEvs("PayoutInitiated", 2))
			require.NoError(t, err)
			require.Equal(t, before, storedWindow(t, js), "Open leaves the window as it found it")
		})
	}
}

func storedWindow(t *testing.T, js njs.JetStream) time.Duration {
	t.Helper()
	st, err := js.Stream(ctx10(t), jetstream.DefaultStreamName)
	require.NoError(t, err)
	return st.CachedInfo().Config.Duplicates
}

// Decode refuses a Nats-Msg-Id that is not the event ID: a consumer that
// deduplicates by either must never see them differ.
func TestDecodeRefusesMsgIDThatDisagrees(t *testing.T) {
	id := uuid.Must(uuid.NewV7())
	rec := eventstore.Chain("douyin.S1001", 0, eventstore.Hash{}, []eventstore.EventData{{ID: id, Type: "PayoutInitiated", SchemaVersion: 1, Data: []byte(`{}`)}})[0]
	rec.RecordedAt = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	subj, err := jetstream.EventSubject("ledger", rec.Stream, rec.Type)
	require.NoError(t, err)
	m := jetstream.Encode(subj, rec)
	require.Equal(t, id.String(), m.Header.Get(jetstream.HeaderMsgID))
	_, err = jetstream.Decode(subj, 1, m.Header, m.Data)
	require.NoError(t, err)
	for name, v := range map[string][]string{"another ID": {uuid.NewString()}, "twice": {id.String(), id.String()}} {
		h := nats.Header{}
		for k, vs := range m.Header {
			h[k] = vs
		}
		h[jetstream.HeaderMsgID] = v
		_, err = jetstream.Decode(subj, 1, h, m.Data)
		require.ErrorIs(t, err, jetstream.ErrMalformed, name)
	}
}

// BenchmarkDuplicateWindowMemory measures what the duplicate window costs
// the server: the heap after storing b.N messages with a Nats-Msg-Id each
// minus the same messages with a header of the same size instead, per
// message (the figure behind DuplicateWindow).
// go test -run '^$' -bench DuplicateWindowMemory -benchtime 100000x ./adapters/jetstream/
func BenchmarkDuplicateWindowMemory(b *testing.B) {
	heapAfter := func(withID bool) uint64 {
		srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: b.TempDir(), NoLog: true, NoSigs: true})
		if err != nil {
			b.Fatal(err)
		}
		srv.Start()
		defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
		if !srv.ReadyForConnections(10 * time.Second) {
			b.Fatal("server not ready")
		}
		nc, err := nats.Connect(srv.ClientURL())
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		js, _ := njs.New(nc)
		cfg := goodStreamConfig()
		cfg.Duplicates = time.Hour // nothing expires during the run
		if _, err := js.CreateStream(b.Context(), cfg); err != nil {
			b.Fatal(err)
		}
		base := heap()
		for i := range b.N {
			m := nats.NewMsg("ledger.douyin.S1001.PayoutInitiated")
			// The same bytes either way, so that only the dedupe map differs
			// (the server's block cache holds recent messages).
			key := "X-Pad"
			if withID {
				key = jetstream.HeaderMsgID
			}
			m.Header.Set(key, uuid.Must(uuid.NewV7()).String())
			m.Data = []byte(`{}`)
			if i%1000 == 999 || i == b.N-1 { // a request now and then: flow control, and all stored at the end
				if _, err := nc.RequestMsg(m, 10*time.Second); err != nil {
					b.Fatal(err)
				}
			} else if err := nc.PublishMsg(m); err != nil {
				b.Fatal(err)
			}
		}
		return heap() - base
	}
	without := heapAfter(false)
	with := heapAfter(true)
	b.ReportMetric(float64(int64(with)-int64(without))/float64(b.N), "heap-B/msgid")
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
