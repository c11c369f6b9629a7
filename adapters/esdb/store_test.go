package esdb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/eventstore"
)

// Behaviours of this adapter beyond the conformance suite, against the
// fake server (fakeserver_test.go says what it models and what it is not).

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func events(n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: "Tested", SchemaVersion: 1, Data: fmt.Appendf(nil, `{"n":%d}`, i)}
	}
	return out
}

func streamName() string { return "test." + uuid.NewString()[:8] }

func TestReadAllSkipsEverythingButThisStoresLedgerStreams(t *testing.T) {
	f := newFakeServer(t)
	s := openFake(t, f, Options{})
	other := openFake(t, f, Options{}) // another prefix on the same server
	ctx := ctx10(t)
	r1, err := s.Append(ctx, streamName(), eventstore.NoStream, events(2))
	require.NoError(t, err)
	_, err = other.Append(ctx, streamName(), eventstore.NoStream, events(1))
	require.NoError(t, err)
	f.appendRaw(s.prefix+"nodot", "Foreign", []byte(`{}`), nil)      // under the prefix, not a ledger name
	f.appendRaw("$$"+s.prefix+"x.y", "$metadata", []byte(`{}`), nil) // system
	f.appendRaw(s.prefix+"sys.x", "$>", []byte(`0@elsewhere`), nil)  // a link event in a ledger-looking stream
	f.appendRaw("orders-2", "OrderPlaced", []byte(`{}`), nil)        // another application
	r2, err := s.Append(ctx, streamName(), eventstore.NoStream, events(1))
	require.NoError(t, err)

	got, err := s.ReadAll(ctx, 0, 100)
	require.NoError(t, err)
	require.Len(t, got, 3)
	require.Equal(t, r1.LastPosition, got[1].Position)
	require.Equal(t, r2.LastPosition, got[2].Position)
	for i := 1; i < len(got); i++ {
		require.Greater(t, got[i].Position, got[i-1].Position)
	}
	empty, err := s.ReadAll(ctx, r2.LastPosition+1, 100)
	require.NoError(t, err)
	require.NotNil(t, empty)
	require.Empty(t, empty)
}

func TestReadAllPositionsWithoutMemo(t *testing.T) {
	f := newFakeServer(t)
	s := openFake(t, f, Options{})
	ctx := ctx10(t)
	var res []eventstore.AppendResult
	for range 3 {
		r, err := s.Append(ctx, streamName(), eventstore.NoStream, events(1))
		require.NoError(t, err)
		res = append(res, r)
	}
	// A new store on the same prefix has handed out no position yet: p+1
	// is first refused by the server, then read from p.
	fresh := openFake(t, f, Options{StreamPrefix: s.prefix})
	got, err := fresh.ReadAll(ctx, res[0].LastPosition+1, 10)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, res[1].LastPosition, got[0].Position)

	fresh = openFake(t, f, Options{StreamPrefix: s.prefix})
	got, err = fresh.ReadAll(ctx, res[1].LastPosition, 10)
	require.NoError(t, err)
	require.Len(t, got, 2, "an event's own position includes it")

	_, err = fresh.ReadAll(ctx, res[1].LastPosition+7, 10)
	require.True(t, errors.Is(err, ErrInvalidPosition), "%v", err)
	err = fresh.Subscribe(ctx, res[1].LastPosition+7, func(eventstore.RecordedEvent) error { return nil })
	require.True(t, errors.Is(err, ErrInvalidPosition), "not retried: %v", err)
}

func TestServerSideIdempotencyWithStaleCache(t *testing.T) {
	for _, withPosition := range []bool{false, true} {
		t.Run(fmt.Sprintf("position reported: %v", withPosition), func(t *testing.T) {
			f := newFakeServer(t)
			f.set(func(f *fakeServer) { f.idempotentPosition = withPosition })
			a := openFake(t, f, Options{})
			b := openFake(t, f, Options{StreamPrefix: a.prefix})
			ctx := ctx10(t)
			st := streamName()
			_, err := a.Append(ctx, st, eventstore.NoStream, events(1))
			require.NoError(t, err)
			second := events(2)
			rb, err := b.Append(ctx, st, 1, second)
			require.NoError(t, err)
			// a's cache still says 1: a sends, the server acknowledges the
			// retry without writing, a returns b's result.
			ra, err := a.Append(ctx, st, 1, second)
			require.NoError(t, err)
			require.Equal(t, rb, ra)
			recs, err := a.ReadStream(ctx, st, 1, 10)
			require.NoError(t, err)
			require.Len(t, recs, 3)
		})
	}
}

func TestAppendUsesTheHeadCache(t *testing.T) {
	f := newFakeServer(t)
	s := openFake(t, f, Options{})
	ctx := ctx10(t)
	st := streamName()
	_, err := s.Append(ctx, st, eventstore.NoStream, events(1)) // miss: one head read
	require.NoError(t, err)
	before := f.heads()
	for v := 1; v < 6; v++ {
		_, err := s.Append(ctx, st, eventstore.ExpectedVersion(v), events(1))
		require.NoError(t, err)
	}
	require.Equal(t, before, f.heads(), "appends after our own append need no head read")
	_, err = s.Append(ctx, st, 2, events(1))
	require.True(t, errors.Is(err, eventstore.ErrWrongExpectedVersion))
	require.Equal(t, before+1, f.heads(), "a mismatch asks the server before answering")

	small := openFake(t, f, Options{HeadCacheSize: 1})
	for range 3 {
		_, err := small.Append(ctx, streamName(), eventstore.NoStream, events(1))
		require.NoError(t, err)
	}
	require.Equal(t, 1, small.heads.len())
}

func TestAnyRetriesAndRecognisesItsOwnRetry(t *testing.T) {
	f := newFakeServer(t)
	s := openFake(t, f, Options{})
	ctx := ctx10(t)
	st := streamName()
	batch := events(2)
	r1, err := s.Append(ctx, st, eventstore.Any, batch)
	require.NoError(t, err)
	again, err := s.Append(ctx, st, eventstore.Any, batch)
	require.NoError(t, err)
	require.Equal(t, r1, again, "a retry with Any of an append that landed stores nothing")

	// Writers racing with Any all land, in one unbroken chain.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Append(ctx, st, eventstore.Any, events(1))
		}()
	}
	wg.Wait()
	landed := 0
	for _, err := range errs {
		if err == nil {
			landed++
		} else {
			require.True(t, errors.Is(err, eventstore.ErrWrongExpectedVersion), "%v", err)
		}
	}
	recs, err := s.ReadStream(ctx, st, 1, 100)
	require.NoError(t, err)
	require.Len(t, recs, 2+landed)
	v := eventstore.ChainVerifier{Stream: st}
	for _, r := range recs {
		require.NoError(t, v.Check(r))
	}
}

func TestTombstonedStream(t *testing.T) {
	f := newFakeServer(t)
	s := openFake(t, f, Options{})
	ctx := ctx10(t)
	st := streamName()
	_, err := s.Append(ctx, st, eventstore.NoStream, events(1))
	require.NoError(t, err)
	f.tombstone(s.prefix + st)
	s.heads.drop(st)
	_, err = s.ReadStream(ctx, st, 1, 10)
	require.True(t, errors.Is(err, eventstore.ErrStreamNotFound), "%v", err)
	_, _, err = s.Head(ctx, st)
	require.True(t, errors.Is(err, eventstore.ErrStreamNotFound), "%v", err)
	_, err = s.Append(ctx, st, 1, events(1))
	require.True(t, errors.Is(err, eventstore.ErrStreamNotFound), "%v", err)
}

func TestMalformedLedgerEventIsAnErrorNotASkip(t *testing.T) {
	f := newFakeServer(t)
	s := openFake(t, f, Options{})
	ctx := ctx10(t)
	st := streamName()
	f.appendRaw(s.prefix+st, "Tampered", []byte(`{}`), []byte(`{"ledgerMetadata":1}`))
	_, err := s.ReadStream(ctx, st, 1, 10)
	require.True(t, errors.Is(err, ErrMalformedMetadata), "%v", err)
	_, err = s.ReadAll(ctx, 0, 10)
	require.True(t, errors.Is(err, ErrMalformedMetadata), "%v", err)
	err = s.Subscribe(ctx, 0, func(eventstore.RecordedEvent) error { return nil })
	require.True(t, errors.Is(err, ErrMalformedMetadata), "%v", err)
	_, err = s.Append(ctx, st, 1, events(1))
	require.True(t, errors.Is(err, ErrMalformedMetadata), "the head cannot be chained from: %v", err)
}

func TestAppendRefusals(t *testing.T) {
	f := newFakeServer(t)
	s := openFake(t, f, Options{MaxAppendBytes: 4 << 10})
	ctx := ctx10(t)
	dollar := events(1)
	dollar[0].Type = "$metadata"
	big := events(1)
	big[0].Data = make([]byte, 4<<10)
	for name, c := range map[string]struct {
		stream string
		evs    []eventstore.EventData
		also   error
	}{
		"invalid name": {"nodot", events(1), ErrInvalidStreamName},
		"$ type":       {streamName(), dollar, nil},
		"too large":    {streamName(), big, nil},
	} {
		_, err := s.Append(ctx, c.stream, eventstore.NoStream, c.evs)
		require.True(t, errors.Is(err, eventstore.ErrInvalidAppend), "%s: %v", name, err)
		if c.also != nil {
			require.True(t, errors.Is(err, c.also), "%s: %v", name, err)
		}
	}
	_, err := s.ReadStream(ctx, "nodot", 1, 10)
	require.True(t, errors.Is(err, eventstore.ErrStreamNotFound) && errors.Is(err, ErrInvalidStreamName), "%v", err)
	_, _, err = s.Head(ctx, "nodot")
	require.True(t, errors.Is(err, ErrInvalidStreamName), "%v", err)
	_, err = New(nil, Options{})
	require.Error(t, err)
}

func TestRecordedAtComesFromTheInjectedClock(t *testing.T) {
	f := newFakeServer(t)
	at := time.Date(2026, 3, 4, 5, 6, 7, 8, time.FixedZone("CST", 8*3600))
	s := openFake(t, f, Options{Now: func() time.Time { return at }})
	ctx := ctx10(t)
	st := streamName()
	_, err := s.Append(ctx, st, eventstore.NoStream, events(1))
	require.NoError(t, err)
	recs, err := s.ReadStream(ctx, st, 1, 10)
	require.NoError(t, err)
	require.True(t, at.Equal(recs[0].RecordedAt), "%v", recs[0].RecordedAt)
	require.Equal(t, time.UTC, recs[0].RecordedAt.Location())
}

func TestSubscribeResumesAfterTransientFailures(t *testing.T) {
	f := newFakeServer(t)
	s := openFake(t, f, Options{})
	s.backoff = time.Millisecond
	ctx := ctx10(t)
	st := streamName()
	_, err := s.Append(ctx, st, eventstore.NoStream, events(3))
	require.NoError(t, err)
	f.set(func(f *fakeServer) { f.failReads = 3 })
	var got []uint64
	errDone := errors.New("done")
	err = s.Subscribe(ctx, 0, func(e eventstore.RecordedEvent) error {
		got = append(got, e.Version)
		if len(got) == 3 {
			return errDone
		}
		return nil
	})
	require.Equal(t, errDone, err, "fn's error comes back as is")
	require.Equal(t, []uint64{1, 2, 3}, got)

	f.set(func(f *fakeServer) { f.failReads = maxResubscribes + 1 })
	err = s.Subscribe(ctx, 0, func(eventstore.RecordedEvent) error { return nil })
	require.ErrorContains(t, err, "unavailable", "gives up after maxResubscribes failures in a row")
}

func TestSubscribeFromTheEndOfTheLog(t *testing.T) {
	f := newFakeServer(t)
	s := openFake(t, f, Options{})
	ctx := ctx10(t)
	st := streamName()
	_, err := s.Append(ctx, st, eventstore.NoStream, events(1))
	require.NoError(t, err)
	var end uint64
	f.set(func(f *fakeServer) { end = f.next }) // a record start with nothing at it yet
	got := make(chan eventstore.RecordedEvent, 1)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(sctx, end, func(e eventstore.RecordedEvent) error { got <- e; return nil })
	}()
	time.Sleep(50 * time.Millisecond) // let it anchor and go live
	r, err := s.Append(ctx, st, 1, events(1))
	require.NoError(t, err)
	select {
	case e := <-got:
		require.Equal(t, r.LastPosition, e.Position)
	case <-time.After(5 * time.Second):
		t.Fatal("no live event")
	}
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

func TestCloseEndsSubscriptionsWithErrClosed(t *testing.T) {
	f := newFakeServer(t)
	s := openFake(t, f, Options{})
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		close(started)
		done <- s.Subscribe(t.Context(), 0, func(eventstore.RecordedEvent) error { return nil })
	}()
	<-started
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, s.Close())
	select {
	case err := <-done:
		require.True(t, errors.Is(err, eventstore.ErrClosed), "%v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Subscribe did not end on Close")
	}
	require.True(t, errors.Is(s.Close(), eventstore.ErrClosed))
}

func TestOpenFailsFastAndHonoursContext(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close()) // nothing listens there now
	url := "esdb://" + addr + "?tls=false&maxDiscoverAttempts=1&gossipTimeout=1"
	_, err = Open(ctx10(t), url, Options{Logger: func(string, string, ...any) {}})
	require.Error(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = Open(ctx, "esdb://"+addr+"?tls=false", Options{Logger: func(string, string, ...any) {}})
	require.ErrorIs(t, err, context.Canceled)

	_, err = Open(ctx10(t), "esdb://admin:secret@host:2113?tls=false&%zz", Options{})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret", "credentials are not repeated in errors")
	_, err = Open(ctx10(t), "esdb://127.0.0.1:2113", Options{StreamPrefix: "$bad"})
	require.True(t, errors.Is(err, ErrInvalidStreamName), "%v", err)
}
