package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/eventstore"
)

// recvTimeout bounds the wait for one subscribed event.
const recvTimeout = 10 * time.Second

// subscribe starts Subscribe in a goroutine, forwarding the events of the
// given streams to a channel; the returned channel yields Subscribe's
// result.
func subscribe(ctx context.Context, s eventstore.Store, from uint64, streams ...string) (<-chan eventstore.RecordedEvent, <-chan error) {
	keep := map[string]bool{}
	for _, st := range streams {
		keep[st] = true
	}
	events := make(chan eventstore.RecordedEvent, 1024)
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(ctx, from, func(e eventstore.RecordedEvent) error {
			if keep[e.Stream] {
				select {
				case events <- e:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
	}()
	return events, done
}

func recv(t *testing.T, events <-chan eventstore.RecordedEvent, done <-chan error) eventstore.RecordedEvent {
	t.Helper()
	select {
	case e := <-events:
		return e
	case err := <-done:
		require.FailNow(t, "Subscribe returned early", "%v", err)
	case <-time.After(recvTimeout):
		require.FailNow(t, "no event within timeout")
	}
	return eventstore.RecordedEvent{}
}

func testSubscribeCatchUpThenLive(t *testing.T, s eventstore.Store) {
	st := newStream("sub")
	stored := evs("Stored", 10)
	var positions []uint64
	for i, e := range stored {
		r := mustAppend(t, s, st, eventstore.ExpectedVersion(i), e)
		positions = append(positions, r.LastPosition)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// From the middle: the 5th event and everything after it.
	events, done := subscribe(ctx, s, positions[4], st)
	var prev uint64
	for i := 4; i < 10; i++ {
		e := recv(t, events, done)
		require.Equal(t, stored[i].ID, e.ID, "catch-up event %d", i)
		require.Equal(t, uint64(i+1), e.Version)
		require.Equal(t, positions[i], e.Position)
		require.Greater(t, e.Position, prev)
		prev = e.Position
	}
	live := evs("Live", 5)
	for i, e := range live {
		mustAppend(t, s, st, eventstore.ExpectedVersion(10+i), e)
		got := recv(t, events, done)
		require.Equal(t, e.ID, got.ID, "live event %d", i)
		require.Equal(t, uint64(11+i), got.Version)
		require.Greater(t, got.Position, prev)
		prev = got.Position
	}
	// A multi-event append arrives whole and in order.
	multi := evs("LiveMulti", 3)
	mustAppend(t, s, st, 15, multi...)
	for i := range multi {
		require.Equal(t, multi[i].ID, recv(t, events, done).ID)
	}

	cancel()
	select {
	case err := <-done:
		require.True(t, errors.Is(err, context.Canceled), "Subscribe must return ctx.Err() on cancel, got %v", err)
	case <-time.After(recvTimeout):
		require.FailNow(t, "Subscribe did not stop on cancel")
	}
	select {
	case e := <-events:
		require.FailNow(t, "event after the end", "%v", e.ID)
	default:
	}
}

func testSubscribeFnError(t *testing.T, s eventstore.Store) {
	st := newStream("substop")
	r := mustAppend(t, s, st, eventstore.NoStream, evs("Stored", 5)...)
	from := readStream(t, s, st, 0)[0].Position
	errStop := errors.New("projection failed")
	var calls int
	var got []uint64
	err := s.Subscribe(ctxT(t), from, func(e eventstore.RecordedEvent) error {
		if e.Stream != st {
			return nil
		}
		calls++
		got = append(got, e.Version)
		if calls == 3 {
			return errStop
		}
		return nil
	})
	require.True(t, errors.Is(err, errStop), "Subscribe must return fn's error, got %v", err)
	require.Equal(t, 3, calls, "no call after fn failed")
	require.Equal(t, []uint64{1, 2, 3}, got)

	// The deadline of ctx also stops it, with ctx's error.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err = s.Subscribe(ctx, r.LastPosition+1, func(eventstore.RecordedEvent) error { return nil })
	require.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
}

func testSubscribeConcurrentWriters(t *testing.T, s eventstore.Store) {
	const nstreams, each = 4, 25
	streams := make([]string, nstreams)
	for i := range streams {
		streams[i] = newStream("subconc")
	}
	// A marker fixes the starting position before the writers begin.
	marker := newStream("submark")
	m := mustAppend(t, s, marker, eventstore.NoStream, ev("Start", 0))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	events, done := subscribe(ctx, s, m.LastPosition, streams...)

	errs := race(nstreams, func(k int) error {
		for v := range each {
			batch := evs("Written", 1+v%2)
			if _, err := s.Append(ctxT(t), streams[k], eventstore.ExpectedVersion(versionAfter(v)), batch); err != nil {
				return err
			}
		}
		return nil
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	total := nstreams * versionAfter(each)
	seen := map[string]uint64{}
	var prev uint64
	for range total {
		e := recv(t, events, done)
		require.Greater(t, e.Position, prev, "global order")
		prev = e.Position
		require.Equal(t, seen[e.Stream]+1, e.Version, "stream %s in version order", e.Stream)
		seen[e.Stream] = e.Version
	}
	for _, st := range streams {
		require.Equal(t, uint64(versionAfter(each)), seen[st])
	}
	// Everything delivered matches what ReadAll returns.
	all := readAllOf(t, s, m.LastPosition, 0, streams...)
	require.Len(t, all, total)
}

// versionAfter is the stream version after n appends alternating between
// one and two events.
func versionAfter(n int) int {
	v := 0
	for i := range n {
		v += 1 + i%2
	}
	return v
}
