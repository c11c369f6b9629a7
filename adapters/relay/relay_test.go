package relay_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/adapters/relay"
	"github.com/payoutledger/ledger/eventstore"
)

// The source is a real store (the embedded JetStream backend, through the
// eventstore.Store interface only, as the EventStoreDB backend would be);
// the target a separate nats-server with JetStream, as an operator's.

func openSource(t *testing.T) eventstore.Store {
	t.Helper()
	s, err := jetstream.Open(t.Context(), jetstream.Config{DataDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func startTarget(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	require.NoError(t, err)
	s.Start()
	require.True(t, s.ReadyForConnections(10*time.Second))
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

func connect(t *testing.T, srv *server.Server) (*nats.Conn, njs.JetStream) {
	t.Helper()
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := njs.New(nc)
	require.NoError(t, err)
	return nc, js
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newEvs(typ string, n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: typ, SchemaVersion: 1, Data: []byte(`{"amount":"12.50"}`)}
	}
	return out
}

// writer appends to a few streams of the source, one to three events at a
// time (three go out as an atomic batch).
type writer struct {
	src     eventstore.Store
	streams []string
	version map[string]eventstore.ExpectedVersion
}

func newWriter(src eventstore.Store) *writer {
	w := &writer{src: src, version: map[string]eventstore.ExpectedVersion{}}
	for _, p := range []string{"douyin", "jd", "pdd"} {
		w.streams = append(w.streams, p+"."+strconv.Itoa(rand.IntN(1e6)))
	}
	return w
}

func (w *writer) append(t *testing.T, n int) {
	t.Helper()
	for range n {
		st := w.streams[rand.IntN(len(w.streams))]
		k := 1 + rand.IntN(3)
		_, err := w.src.Append(ctx10(t), st, w.version[st], newEvs("PayoutInitiated", k))
		require.NoError(t, err)
		w.version[st] += eventstore.ExpectedVersion(k)
	}
}

func sourceLog(t *testing.T, src eventstore.Store) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	for from := uint64(0); ; {
		got, err := src.ReadAll(ctx10(t), from, 1000)
		require.NoError(t, err)
		if len(got) == 0 {
			return out
		}
		out = append(out, got...)
		from = got[len(got)-1].Position + 1
	}
}

// targetLog reads the whole target stream, decoded, with each message's
// Ledger-Position.
func targetLog(t *testing.T, js njs.JetStream) ([]eventstore.RecordedEvent, []*njs.RawStreamMsg) {
	t.Helper()
	st, err := js.Stream(ctx10(t), relay.DefaultStream)
	require.NoError(t, err)
	info, err := st.Info(ctx10(t))
	require.NoError(t, err)
	var recs []eventstore.RecordedEvent
	var raw []*njs.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx10(t), seq)
		require.NoError(t, err)
		r, err := jetstream.Decode(m.Subject, m.Sequence, m.Header, m.Data)
		require.NoError(t, err)
		pos, err := strconv.ParseUint(m.Header.Get(relay.HeaderPosition), 10, 64)
		require.NoError(t, err)
		r.Position = pos // compare with the source's position
		recs = append(recs, r)
		raw = append(raw, m)
	}
	return recs, raw
}

// requireRelayed: the target holds every source event exactly once, in
// source order, identical but for the added Ledger-Position.
func requireRelayed(t *testing.T, src eventstore.Store, js njs.JetStream) {
	t.Helper()
	want := sourceLog(t, src)
	got, raw := targetLog(t, js)
	require.Len(t, got, len(want))
	seen := map[uuid.UUID]bool{}
	for i := range want {
		require.False(t, seen[got[i].ID], "event %s twice", got[i].ID)
		seen[got[i].ID] = true
		require.Equal(t, want[i], got[i], "target message %d", i+1)
		require.Equal(t, got[i].ID.String(), raw[i].Header.Get(jetstream.HeaderMsgID))
		require.Equal(t, "ledger."+want[i].Stream+"."+want[i].Type, raw[i].Subject)
	}
}

// waitRelayed waits until the target holds n messages.
func waitRelayed(t *testing.T, js njs.JetStream, n uint64) {
	t.Helper()
	require.Eventually(t, func() bool {
		st, err := js.Stream(t.Context(), relay.DefaultStream)
		if err != nil {
			return false
		}
		info, err := st.Info(t.Context())
		return err == nil && info.State.Msgs >= n
	}, 20*time.Second, 10*time.Millisecond)
}

// start runs a relay in the background; stop cancels it and returns Run's
// error.
func start(t *testing.T, cfg relay.Config) (stop func() error) {
	t.Helper()
	r, err := relay.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(10 * time.Second):
				runErr = errors.New("relay did not stop")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func TestRelayPublishesEveryEventOnceInOrder(t *testing.T) {
	src := openSource(t)
	w := newWriter(src)
	w.append(t, 40)
	nc, js := connect(t, startTarget(t))
	stop := start(t, relay.Config{Source: src, NATS: nc, MaxInflight: 8})
	waitRelayed(t, js, uint64(len(sourceLog(t, src))))
	w.append(t, 20) // live events, after the catch-up
	waitRelayed(t, js, uint64(len(sourceLog(t, src))))
	require.ErrorIs(t, stop(), context.Canceled)
	requireRelayed(t, src, js)

	st, err := js.Stream(ctx10(t), relay.DefaultStream)
	require.NoError(t, err)
	cfg := st.CachedInfo().Config
	require.Equal(t, []string{"ledger.>"}, cfg.Subjects)
	require.True(t, cfg.DenyDelete && cfg.DenyPurge)
	require.Equal(t, njs.FileStorage, cfg.Storage)
	require.Equal(t, relay.DefaultDuplicateWindow, cfg.Duplicates)
}

// Crash (cancel) the relay at random points, many times, while the source
// keeps growing; after each restart it resumes from the target's last
// message. Half of the crashes also close the NATS connection under the
// publishes in flight, as a killed process would.
func TestRelayResumesAfterCrashesExactlyOnce(t *testing.T) {
	src := openSource(t)
	w := newWriter(src)
	w.append(t, 30)
	target := startTarget(t)
	_, js := connect(t, target)

	ctx, stopWriting := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			w.append(t, 1)
			time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
		}
	})
	for i := range 25 {
		nc, err := nats.Connect(target.ClientURL())
		require.NoError(t, err)
		stop := start(t, relay.Config{Source: src, NATS: nc, MaxInflight: 1 + rand.IntN(64)})
		time.Sleep(time.Duration(rand.IntN(20_000)) * time.Microsecond)
		if i%2 == 1 {
			nc.Close()
		}
		err = stop()
		require.True(t, errors.Is(err, context.Canceled) || errors.Is(err, nats.ErrConnectionClosed), "run %d: %v", i, err)
		nc.Close()
	}
	stopWriting()
	wg.Wait()

	nc, _ := connect(t, target)
	stop := start(t, relay.Config{Source: src, NATS: nc})
	waitRelayed(t, js, uint64(len(sourceLog(t, src))))
	require.ErrorIs(t, stop(), context.Canceled)
	requireRelayed(t, src, js)
}

// Two relays on the same source and target (a misconfiguration, or a
// restart that overlaps the old process): each publish expects the
// target's last sequence, so they refuse each other's and restart, and
// the target still holds every event once.
func TestTwoRelaysStillRelayOnce(t *testing.T) {
	src := openSource(t)
	w := newWriter(src)
	w.append(t, 50)
	nc1, js := connect(t, startTarget(t))
	nc2, err := nats.Connect(nc1.ConnectedUrl())
	require.NoError(t, err)
	t.Cleanup(nc2.Close)
	stop1 := start(t, relay.Config{Source: src, NATS: nc1, MaxInflight: 4})
	stop2 := start(t, relay.Config{Source: src, NATS: nc2, MaxInflight: 4})
	w.append(t, 50)
	waitRelayed(t, js, uint64(len(sourceLog(t, src))))
	require.ErrorIs(t, stop1(), context.Canceled)
	require.ErrorIs(t, stop2(), context.Canceled)
	requireRelayed(t, src, js)
}

// A message injected with the Nats-Msg-Id of a relayed event is
// deduplicated by the server within the window: acknowledged as a
// duplicate, nothing stored, and the relay carries on.
func TestRelayInjectedDuplicateIsDeduplicated(t *testing.T) {
	src := openSource(t)
	w := newWriter(src)
	w.append(t, 10)
	nc, js := connect(t, startTarget(t))
	stop := start(t, relay.Config{Source: src, NATS: nc})
	n := uint64(len(sourceLog(t, src)))
	waitRelayed(t, js, n)

	_, raw := targetLog(t, js)
	for _, m := range []*njs.RawStreamMsg{raw[0], raw[len(raw)-1]} {
		dup := nats.NewMsg(m.Subject)
		for k, v := range m.Header {
			if !strings.HasPrefix(k, "Nats-Expected-") { // the relay's own precondition, stored with the message
				dup.Header[k] = v
			}
		}
		dup.Data = m.Data
		ack, err := js.PublishMsg(ctx10(t), dup)
		require.NoError(t, err)
		require.True(t, ack.Duplicate, "position %s", m.Header.Get(relay.HeaderPosition))
		require.Equal(t, m.Sequence, ack.Sequence)
	}
	w.append(t, 10)
	waitRelayed(t, js, uint64(len(sourceLog(t, src))))
	require.ErrorIs(t, stop(), context.Canceled)
	requireRelayed(t, src, js)
}

// dupSource is a real store whose Subscribe hands out the event ID of
// the first event again on the second: a source holding one ID twice,
// which neither real backend lets a caller write.
type dupSource struct{ eventstore.Store }

func (d dupSource) Subscribe(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	var first uuid.UUID
	return d.Store.Subscribe(ctx, from, func(e eventstore.RecordedEvent) error {
		if first == uuid.Nil {
			first = e.ID
		} else {
			e.ID = first
		}
		return fn(e)
	})
}

// A source that holds one event ID twice stops the relay with
// ErrDuplicateID at the second: it never publishes an ID twice, and an
// operator decides.
func TestRelayStopsOnAnEventIDTheSourceHoldsTwice(t *testing.T) {
	src := openSource(t)
	_, err := src.Append(ctx10(t), "douyin.a", eventstore.NoStream, newEvs("PayoutInitiated", 2))
	require.NoError(t, err)
	nc, js := connect(t, startTarget(t))
	r, err := relay.New(relay.Config{Source: dupSource{src}, NATS: nc})
	require.NoError(t, err)
	require.ErrorIs(t, r.Run(ctx10(t)), relay.ErrDuplicateID)
	got, _ := targetLog(t, js)
	require.Len(t, got, 1)
}

func TestRelayRefusesUnsafeTargetStream(t *testing.T) {
	good := func() njs.StreamConfig {
		return njs.StreamConfig{
			Name: relay.DefaultStream, Subjects: []string{"ledger.>"}, Storage: njs.FileStorage,
			Retention: njs.LimitsPolicy, DenyDelete: true, DenyPurge: true,
		}
	}
	cases := []struct {
		name  string
		spoil func(*njs.StreamConfig)
	}{
		{"memory storage", func(c *njs.StreamConfig) { c.Storage = njs.MemoryStorage }},
		{"work-queue retention", func(c *njs.StreamConfig) { c.Retention = njs.WorkQueuePolicy }},
		{"max age", func(c *njs.StreamConfig) { c.MaxAge = time.Hour }},
		{"max msgs", func(c *njs.StreamConfig) { c.MaxMsgs = 1000 }},
		{"deletes allowed", func(c *njs.StreamConfig) { c.DenyDelete = false }},
		{"purges allowed", func(c *njs.StreamConfig) { c.DenyPurge = false }},
		{"other subjects too", func(c *njs.StreamConfig) { c.Subjects = []string{"ledger.>", "other.>"} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nc, js := connect(t, startTarget(t))
			cfg := good()
			c.spoil(&cfg)
			_, err := js.CreateStream(ctx10(t), cfg)
			require.NoError(t, err)
			r, err := relay.New(relay.Config{Source: openSource(t), NATS: nc})
			require.NoError(t, err)
			require.ErrorIs(t, r.Run(ctx10(t)), relay.ErrTargetStream)
		})
	}
	t.Run("the good one", func(t *testing.T) {
		nc, js := connect(t, startTarget(t))
		_, err := js.CreateStream(ctx10(t), good())
		require.NoError(t, err)
		src := openSource(t)
		newWriter(src).append(t, 3)
		stop := start(t, relay.Config{Source: src, NATS: nc})
		waitRelayed(t, js, uint64(len(sourceLog(t, src))))
		require.ErrorIs(t, stop(), context.Canceled)
	})
}

// A message another writer put last in the target is no checkpoint: the
// relay refuses to guess where to resume.
func TestRelayRefusesForeignCheckpoint(t *testing.T) {
	src := openSource(t)
	newWriter(src).append(t, 3)
	nc, js := connect(t, startTarget(t))
	stop := start(t, relay.Config{Source: src, NATS: nc})
	waitRelayed(t, js, uint64(len(sourceLog(t, src))))
	require.ErrorIs(t, stop(), context.Canceled)
	_, err := js.Publish(ctx10(t), "ledger.douyin.x.PayoutInitiated", []byte(`{}`))
	require.NoError(t, err)
	r, err := relay.New(relay.Config{Source: src, NATS: nc})
	require.NoError(t, err)
	require.ErrorIs(t, r.Run(ctx10(t)), relay.ErrCheckpoint)
}

func TestRelayConfig(t *testing.T) {
	src := openSource(t)
	nc, _ := connect(t, startTarget(t))
	for name, cfg := range map[string]relay.Config{
		"no source":      {NATS: nc},
		"no connection":  {Source: src},
		"bad prefix":     {Source: src, NATS: nc, SubjectPrefix: "ledger.>"},
		"replicas 2":     {Source: src, NATS: nc, Replicas: 2},
		"tiny window":    {Source: src, NATS: nc, DuplicateWindow: time.Millisecond},
		"negative limit": {Source: src, NATS: nc, MaxInflight: -1},
	} {
		_, err := relay.New(cfg)
		require.Error(t, err, name)
	}
}
