package jetstream_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/eventstore"
)

// writeMix appends single events, multi-event appends and a multi-stream
// batch, and returns the event IDs expected in each stream.
func writeMix(t *testing.T, s *jetstream.Store, streams []string) map[string][]eventstore.EventData {
	t.Helper()
	want := map[string][]eventstore.EventData{}
	for _, st := range streams {
		one := newEvs("Initiated", 1)
		_, err := s.Append(ctx10(t), st, eventstore.NoStream, one)
		require.NoError(t, err)
		three := newEvs("Confirmed", 3)
		_, err = s.Append(ctx10(t), st, 1, three)
		require.NoError(t, err)
		want[st] = append(one, three...)
	}
	var reqs []eventstore.AppendRequest
	for _, st := range streams {
		evs := newEvs("Paid", 2)
		reqs = append(reqs, eventstore.AppendRequest{Stream: st, Expected: 4, Events: evs})
		want[st] = append(want[st], evs...)
	}
	_, err := s.AppendBatch(ctx10(t), reqs)
	require.NoError(t, err)
	return want
}

func requireLog(t *testing.T, s *jetstream.Store, want map[string][]eventstore.EventData) {
	t.Helper()
	got := verifyAll(t, s)
	require.Len(t, got, len(want))
	for st, evs := range want {
		recs := got[st]
		require.Len(t, recs, len(evs), st)
		for i := range evs {
			require.Equal(t, evs[i].ID, recs[i].ID, "%s v%d", st, i+1)
			require.Equal(t, evs[i].Data, recs[i].Data)
		}
	}
}

func TestSyncModes(t *testing.T) {
	for _, tc := range []struct {
		sync     jetstream.Sync
		interval time.Duration
	}{
		{"", 0}, // default: always
		{jetstream.SyncAlways, 0},
		{jetstream.SyncInterval, 0},
		{jetstream.SyncInterval, 5 * time.Second},
	} {
		t.Run(string(tc.sync)+"/"+tc.interval.String(), func(t *testing.T) {
			dir := t.TempDir()
			s, err := jetstream.Open(t.Context(), jetstream.Config{DataDir: dir, Sync: tc.sync, SyncInterval: tc.interval})
			require.NoError(t, err)
			jsc := jetstream.ServerOf(s).JetStreamConfig()
			require.Equal(t, tc.sync != jetstream.SyncInterval, jsc.SyncAlways, "fsync before every ack")
			if tc.interval > 0 {
				require.Equal(t, tc.interval, jsc.SyncInterval)
			}
			want := writeMix(t, s, []string{streamID("douyin"), streamID("kuaishou")})
			requireLog(t, s, want)
			require.NoError(t, s.Close())

			s, err = jetstream.Open(t.Context(), jetstream.Config{DataDir: dir, Sync: tc.sync, SyncInterval: tc.interval})
			require.NoError(t, err)
			defer s.Close()
			requireLog(t, s, want)
		})
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	streams := []string{streamID("douyin"), streamID("douyin"), streamID("xhs")}
	s, err := jetstream.Open(t.Context(), jetstream.Config{DataDir: dir})
	require.NoError(t, err)
	want := writeMix(t, s, streams)
	before := readAll(t, s)
	require.NoError(t, s.Close())

	s, err = jetstream.Open(t.Context(), jetstream.Config{DataDir: dir})
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, before, readAll(t, s), "same events, positions, hashes and times")
	requireLog(t, s, want)

	// Appends continue where the log ended, with a cold head cache.
	_, err = s.Append(ctx10(t), streams[0], eventstore.NoStream, newEvs("Again", 1))
	require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion)
	next := newEvs("AfterRestart", 2)
	r, err := s.Append(ctx10(t), streams[0], 6, next)
	require.NoError(t, err)
	require.Equal(t, uint64(8), r.LastVersion)
	want[streams[0]] = append(want[streams[0]], next...)
	requireLog(t, s, want)
}

// Two stores on one server: the second one's cached heads go stale, and
// the server, not the cache, refuses the stale appends.
func TestServerRefusesStaleCachedHead(t *testing.T) {
	srv := startServer(t, t.TempDir())
	a := openEmbedded(t, jetstream.Config{URL: srv.ClientURL()})
	b := openEmbedded(t, jetstream.Config{URL: srv.ClientURL()})
	x, y := streamID("stale"), streamID("stale")
	_, err := a.Append(ctx10(t), x, eventstore.NoStream, newEvs("Opened", 1))
	require.NoError(t, err)

	attempts := map[string]func(v uint64) error{
		"single": func(v uint64) error {
			_, err := a.Append(ctx10(t), x, eventstore.ExpectedVersion(v), newEvs("Stale", 1))
			return err
		},
		"multi": func(v uint64) error {
			_, err := a.Append(ctx10(t), x, eventstore.ExpectedVersion(v), newEvs("Stale", 3))
			return err
		},
		"batch": func(v uint64) error {
			_, err := a.AppendBatch(ctx10(t), []eventstore.AppendRequest{
				{Stream: y, Expected: eventstore.NoStream, Events: newEvs("Fine", 2)},
				{Stream: x, Expected: eventstore.ExpectedVersion(v), Events: newEvs("Stale", 1)},
			})
			return err
		},
	}
	for _, kind := range []string{"single", "multi", "batch"} {
		v, _, err := a.Head(ctx10(t), x) // a caches x's head
		require.NoError(t, err)
		_, err = b.Append(ctx10(t), x, eventstore.ExpectedVersion(v), newEvs("Moved", 1))
		require.NoError(t, err)

		err = attempts[kind](v)
		require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion, kind)
		var apiErr *jetstream.APIError
		require.True(t, errors.As(err, &apiErr), "%s: the refusal came from the server: %v", kind, err)
		require.Contains(t, []int{10071, 10164}, apiErr.Code)

		got, _, err := b.Head(ctx10(t), x)
		require.NoError(t, err)
		require.Equal(t, v+1, got, "%s: nothing stored", kind)
		_, err = b.ReadStream(ctx10(t), y, 1, 10)
		require.ErrorIs(t, err, eventstore.ErrStreamNotFound, "%s: the batch's other stream was not created", kind)

		// The refusal dropped the stale entry: the caller's retry succeeds.
		require.NoError(t, attempts[kind](v+1), kind)
		if kind == "batch" {
			break
		}
	}

	// Any retries a stale cached head instead of failing.
	v, _, err := a.Head(ctx10(t), x)
	require.NoError(t, err)
	_, err = b.Append(ctx10(t), x, eventstore.ExpectedVersion(v), newEvs("Moved", 1))
	require.NoError(t, err)
	r, err := a.Append(ctx10(t), x, eventstore.Any, newEvs("Whatever", 1))
	require.NoError(t, err)
	require.Equal(t, v+2, r.LastVersion)

	// A genuine conflict next to an Any request fails the batch at once.
	_, err = a.AppendBatch(ctx10(t), []eventstore.AppendRequest{
		{Stream: y, Expected: eventstore.Any, Events: newEvs("Any", 1)},
		{Stream: x, Expected: 1, Events: newEvs("Stale", 1)},
	})
	require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion)
	got, _, err := b.Head(ctx10(t), y)
	require.NoError(t, err)
	require.Equal(t, uint64(2), got, "y holds the two Fine events of the retried batch, nothing more")
	verifyAll(t, a)
}

func TestIdempotentRetries(t *testing.T) {
	s := openEmbedded(t, jetstream.Config{})
	a, b := streamID("idem"), streamID("idem")

	// A prefix of a stored append is a stored append too.
	evs := newEvs("Initiated", 3)
	r, err := s.Append(ctx10(t), a, eventstore.NoStream, evs)
	require.NoError(t, err)
	r1, err := s.Append(ctx10(t), a, eventstore.NoStream, evs[:1])
	require.NoError(t, err)
	recs, err := s.ReadStream(ctx10(t), a, 1, 10)
	require.NoError(t, err)
	require.Equal(t, eventstore.AppendResult{Stream: a, FirstVersion: 1, LastVersion: 1, LastPosition: recs[0].Position, LastHash: recs[0].Hash}, r1)
	r23, err := s.Append(ctx10(t), a, 1, evs[1:])
	require.NoError(t, err)
	require.Equal(t, eventstore.AppendResult{Stream: a, FirstVersion: 2, LastVersion: 3, LastPosition: r.LastPosition, LastHash: r.LastHash}, r23)

	// A batch re-sent after a lost ack returns the original results.
	reqs := []eventstore.AppendRequest{
		{Stream: a, Expected: 3, Events: newEvs("Paid", 2)},
		{Stream: b, Expected: eventstore.NoStream, Events: newEvs("Opened", 1)},
		{Stream: a, Expected: 5, Events: newEvs("Closed", 1)},
	}
	res, err := s.AppendBatch(ctx10(t), reqs)
	require.NoError(t, err)
	again, err := s.AppendBatch(ctx10(t), reqs)
	require.NoError(t, err)
	require.Equal(t, res, again)
	require.Len(t, readAll(t, s), 7, "nothing stored twice")

	// Part stored, part new: a conflict, nothing stored.
	_, err = s.AppendBatch(ctx10(t), []eventstore.AppendRequest{reqs[1], {Stream: a, Expected: 6, Events: newEvs("New", 1)}})
	require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion)
	require.Len(t, readAll(t, s), 7)
	verifyAll(t, s)
}

func TestBatchLimits(t *testing.T) {
	s := openEmbedded(t, jetstream.Config{})
	streams := []string{streamID("lim"), streamID("lim"), streamID("lim"), streamID("lim")}
	var reqs []eventstore.AppendRequest
	for _, st := range streams {
		reqs = append(reqs, eventstore.AppendRequest{Stream: st, Expected: eventstore.NoStream, Events: newEvs("Bulk", 250)})
	}
	reqs[3].Events = append(reqs[3].Events, newEv("OneTooMany"))
	_, err := s.AppendBatch(ctx10(t), reqs)
	require.ErrorIs(t, err, eventstore.ErrInvalidAppend, "1,001 events exceed the server's atomic batch")

	reqs[3].Events = reqs[3].Events[:250]
	res, err := s.AppendBatch(ctx10(t), reqs)
	require.NoError(t, err, "exactly the server's 1,000 fit in one batch")
	require.Len(t, res, 4)
	require.Len(t, verifyAll(t, s), 4)

	// A body near the event limit still fits one message.
	big := newEv("Big")
	big.Data = make([]byte, eventstore.MaxEventBytes)
	_, err = s.Append(ctx10(t), streamID("lim"), eventstore.NoStream, []eventstore.EventData{big, newEv("Small")})
	require.NoError(t, err)
}

func TestNamesOutsideTheSubjectScheme(t *testing.T) {
	s := openEmbedded(t, jetstream.Config{})
	for _, st := range []string{"douyin", "douyin.S1.x", "douyin.*", "douyin.>", "dou yin.S1", ".S1", "douyin.", "douyin.S1\r\n"} {
		_, err := s.Append(ctx10(t), st, eventstore.NoStream, newEvs("Opened", 1))
		require.ErrorIs(t, err, eventstore.ErrInvalidAppend, "stream %q", st)
		_, err = s.ReadStream(ctx10(t), st, 1, 1)
		require.ErrorIs(t, err, eventstore.ErrStreamNotFound, "stream %q", st)
		_, _, err = s.Head(ctx10(t), st)
		require.ErrorIs(t, err, eventstore.ErrStreamNotFound, "stream %q", st)
	}
	for _, typ := range []string{"Payout.Initiated", "Payout Initiated", "Payout>", "*"} {
		e := newEv(typ)
		_, err := s.Append(ctx10(t), streamID("ok"), eventstore.NoStream, []eventstore.EventData{e})
		require.ErrorIs(t, err, eventstore.ErrInvalidAppend, "type %q", typ)
	}
	require.Empty(t, readAll(t, s))
}

func TestClockAndHeaders(t *testing.T) {
	at := time.Date(2026, 5, 4, 3, 2, 1, 987654321, time.FixedZone("CST", 8*3600))
	s := openEmbedded(t, jetstream.Config{Clock: func() time.Time { return at }})
	shop := streamID("douyin")
	e := newEv("PayoutInitiated")
	e.SchemaVersion = 3
	_, err := s.Append(ctx10(t), shop, eventstore.NoStream, []eventstore.EventData{e})
	require.NoError(t, err)
	recs, err := s.ReadStream(ctx10(t), shop, 1, 1)
	require.NoError(t, err)
	require.True(t, at.Equal(recs[0].RecordedAt))
	require.Equal(t, 3, recs[0].SchemaVersion)
}

func TestCloseStopsSubscribe(t *testing.T) {
	s, err := jetstream.Open(t.Context(), jetstream.Config{DataDir: t.TempDir()})
	require.NoError(t, err)
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(context.Background(), 0, func(eventstore.RecordedEvent) error {
			close(started)
			return nil
		})
	}()
	_, err = s.Append(ctx10(t), streamID("sub"), eventstore.NoStream, newEvs("X", 1))
	require.NoError(t, err)
	<-started
	require.NoError(t, s.Close())
	select {
	case err := <-done:
		require.ErrorIs(t, err, eventstore.ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("Subscribe did not stop on Close")
	}
}

// ReadAll switches from direct gets to a consumer for large pages: both
// paths return the same events, and no consumer is left behind.
func TestReadAllLargePagesMatchSmallPages(t *testing.T) {
	s := openEmbedded(t, jetstream.Config{})
	var reqs []eventstore.AppendRequest
	for i := range 30 {
		reqs = append(reqs, eventstore.AppendRequest{Stream: streamID("big"), Expected: eventstore.NoStream, Events: newEvs("Bulk", 100)})
		if len(reqs) == 10 || i == 29 {
			_, err := s.AppendBatch(ctx10(t), reqs)
			require.NoError(t, err)
			reqs = nil
		}
	}
	var small []eventstore.RecordedEvent
	for from := uint64(1); ; {
		got, err := s.ReadAll(ctx10(t), from, 100)
		require.NoError(t, err)
		if len(got) == 0 {
			break
		}
		require.LessOrEqual(t, len(got), 100)
		small = append(small, got...)
		from = got[len(got)-1].Position + 1
	}
	require.Len(t, small, 3000)

	big, err := s.ReadAll(ctx10(t), 0, 100_000)
	require.NoError(t, err)
	require.Equal(t, small, big)

	mid, err := s.ReadAll(ctx10(t), small[1234].Position, 700)
	require.NoError(t, err)
	require.Equal(t, small[1234:1934], mid)

	tail, err := s.ReadAll(ctx10(t), small[2900].Position, 100_000)
	require.NoError(t, err)
	require.Equal(t, small[2900:], tail)

	info, err := jetstream.StreamOf(s).Info(ctx10(t))
	require.NoError(t, err)
	require.Zero(t, info.State.Consumers, "ReadAll deletes its consumers")
}

// A read asks the server for no more events than the cached head says the
// stream holds (past the head the server would search the rest of the
// log); when another process appended meanwhile, the read still returns
// every event, interleaved with other streams' or not.
func TestReadStreamPastAStaleCachedHead(t *testing.T) {
	srv := startServer(t, t.TempDir())
	a := openEmbedded(t, jetstream.Config{URL: srv.ClientURL()})
	b := openEmbedded(t, jetstream.Config{URL: srv.ClientURL()})
	x, other := streamID("grown"), streamID("other")
	first := newEvs("Opened", 3)
	_, err := a.Append(ctx10(t), x, eventstore.NoStream, first)
	require.NoError(t, err)
	got, err := a.ReadStream(ctx10(t), x, 1, 100) // a caches x's head: version 3
	require.NoError(t, err)
	require.Len(t, got, 3)

	want := first
	for i := range 4 {
		_, err := b.Append(ctx10(t), other, eventstore.Any, newEvs("Between", 2))
		require.NoError(t, err)
		more := newEvs("Grown", i+1)
		_, err = b.Append(ctx10(t), x, eventstore.ExpectedVersion(len(want)), more)
		require.NoError(t, err)
		want = append(want, more...)
	}
	for _, from := range []uint64{1, 2, 3, 4} {
		got, err := a.ReadStream(ctx10(t), x, from, 100)
		require.NoError(t, err)
		require.Len(t, got, len(want)-int(from)+1, "from %d", from)
		for i, r := range got {
			require.Equal(t, want[int(from)-1+i].ID, r.ID)
			require.Equal(t, from+uint64(i), r.Version)
		}
	}
	// A page smaller than the stream still ends where asked.
	got, err = a.ReadStream(ctx10(t), x, 2, 5)
	require.NoError(t, err)
	require.Len(t, got, 5)
	require.Equal(t, uint64(6), got[4].Version)
}
