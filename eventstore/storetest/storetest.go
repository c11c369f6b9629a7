// Package storetest is the conformance suite every eventstore.Store backend
// runs: one set of behaviours, checked the same way for JetStream,
// EventStoreDB and anything added later.
//
// A backend's test calls Run with a factory:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) eventstore.Store {
//			s, err := jetstream.Open(t.Context(), jetstream.Config{DataDir: t.TempDir()})
//			require.NoError(t, err)
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The factory may return a fresh store per subtest or a store shared with
// other data: every subtest uses its own random stream names
// ("<category>.<id>", tokens of [A-Za-z0-9_-]) and only looks at its own
// events in ReadAll and Subscribe. The factory must register the store's
// Close with t.Cleanup and ignore its error (the "Closed" subtest closes the
// store first).
//
// Subtests for eventstore.BatchAppender run only for stores that implement
// it; a store that does not is not expected to.
package storetest

import (
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/eventstore"
)

// Run runs the conformance suite against stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) eventstore.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s eventstore.Store)
	}{
		{"VersionsAndPositionsIncrease", testVersionsAndPositions},
		{"HeadOfMissingStream", testHeadOfMissingStream},
		{"AnyExpectedVersion", testAnyExpectedVersion},
		{"NoStreamTwiceOneWins", testNoStreamTwice},
		{"ConcurrentSameExpectedVersionOneWinner", testConcurrentOneWinner},
		{"ConcurrentNoStreamOneWinner", testConcurrentNoStreamOneWinner},
		{"ConcurrentMultiEventAppendsOneWinner", testConcurrentMultiEventOneWinner},
		{"ContendedReadDecideAppendLoop", testContendedLoop},
		{"ConflictingMultiEventAppendStoresNothing", testConflictStoresNothing},
		{"IdempotentReappend", testIdempotentReappend},
		{"ReadYourWrites", testReadYourWrites},
		{"ReadStreamPaging", testReadStreamPaging},
		{"ReadStreamNotFound", testReadStreamNotFound},
		{"ReadAllPagingGlobalOrder", testReadAllPaging},
		{"SubscribeCatchUpThenLive", testSubscribeCatchUpThenLive},
		{"SubscribeStopsOnFnError", testSubscribeFnError},
		{"SubscribeOrderUnderConcurrentWriters", testSubscribeConcurrentWriters},
		{"LongStream", testLongStream},
		{"HashChain", testHashChain},
		{"InvalidAppends", testInvalidAppends},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}

	batchTests := []struct {
		name string
		fn   func(t *testing.T, s eventstore.Store, b eventstore.BatchAppender)
	}{
		{"BatchCommitsAtomically", testBatchCommits},
		{"BatchStaleExpectationStoresNothing", testBatchStaleStoresNothing},
		{"BatchSameStreamTwice", testBatchSameStreamTwice},
		{"BatchInvalidRequestStoresNothing", testBatchInvalid},
		{"BatchConcurrentOneWinner", testBatchConcurrentOneWinner},
	}
	probe := newStore(t)
	_, isBatch := probe.(eventstore.BatchAppender)
	_ = probe.Close()
	if !isBatch {
		return
	}
	for _, tc := range batchTests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			tc.fn(t, s, s.(eventstore.BatchAppender))
		})
	}
}

func testVersionsAndPositions(t *testing.T, s eventstore.Store) {
	a, b := newStream("ordera"), newStream("orderb")
	ra1 := mustAppend(t, s, a, eventstore.NoStream, ev("Opened", 1))
	rb1 := mustAppend(t, s, b, eventstore.NoStream, ev("Opened", 1), ev("Funded", 2))
	ra2 := mustAppend(t, s, a, 1, ev("Funded", 2), ev("Paid", 3))
	rb2 := mustAppend(t, s, b, 2, ev("Paid", 3))

	require.Equal(t, [2]uint64{1, 1}, [2]uint64{ra1.FirstVersion, ra1.LastVersion})
	require.Equal(t, [2]uint64{1, 2}, [2]uint64{rb1.FirstVersion, rb1.LastVersion})
	require.Equal(t, [2]uint64{2, 3}, [2]uint64{ra2.FirstVersion, ra2.LastVersion})
	require.Equal(t, [2]uint64{3, 3}, [2]uint64{rb2.FirstVersion, rb2.LastVersion})
	// Appends committed one after the other land in that global order.
	require.Less(t, ra1.LastPosition, rb1.LastPosition)
	require.Less(t, rb1.LastPosition, ra2.LastPosition)
	require.Less(t, ra2.LastPosition, rb2.LastPosition)

	for _, st := range []string{a, b} {
		recs := readStream(t, s, st, 0)
		require.Len(t, recs, 3)
		for i, r := range recs {
			require.Equal(t, uint64(i+1), r.Version)
			if i > 0 {
				require.Greater(t, r.Position, recs[i-1].Position, "positions increase within a stream")
			}
		}
	}
	require.Equal(t, ra2.LastPosition, readStream(t, s, a, 0)[2].Position, "AppendResult.LastPosition is the stored position")

	all := readAllOf(t, s, ra1.LastPosition, 0, a, b)
	require.Len(t, all, 6)
	want := []struct {
		stream  string
		version uint64
	}{{a, 1}, {b, 1}, {b, 2}, {a, 2}, {a, 3}, {b, 3}}
	for i, w := range want {
		require.Equal(t, w.stream, all[i].Stream, "global order, event %d", i)
		require.Equal(t, w.version, all[i].Version, "global order, event %d", i)
	}
}

func testHeadOfMissingStream(t *testing.T, s eventstore.Store) {
	v, h, err := s.Head(ctxT(t), newStream("missing"))
	require.NoError(t, err)
	require.Zero(t, v)
	require.True(t, h.IsZero())
}

func testAnyExpectedVersion(t *testing.T, s eventstore.Store) {
	st := newStream("any")
	r1 := mustAppend(t, s, st, eventstore.Any, ev("A", 1))
	require.Equal(t, uint64(1), r1.LastVersion)
	r2 := mustAppend(t, s, st, eventstore.Any, ev("B", 2), ev("C", 3))
	require.Equal(t, uint64(2), r2.FirstVersion)
	require.Equal(t, uint64(3), r2.LastVersion)
	recs := readStream(t, s, st, 0)
	require.Len(t, recs, 3)
	requireChain(t, s, st, recs)
}

func testNoStreamTwice(t *testing.T, s eventstore.Store) {
	st := newStream("nostream")
	first := ev("Created", 1)
	mustAppend(t, s, st, eventstore.NoStream, first)
	_, err := s.Append(ctxT(t), st, eventstore.NoStream, []eventstore.EventData{ev("Created", 2)})
	requireConflict(t, err, "creating an existing stream")
	recs := readStream(t, s, st, 0)
	requireStored(t, recs, st, 1, []eventstore.EventData{first})
}

func testConflictStoresNothing(t *testing.T, s eventstore.Store) {
	st, other := newStream("conflict"), newStream("conflictx")
	stored := evs("Stored", 3)
	r0 := mustAppend(t, s, st, eventstore.NoStream, stored...)

	for _, expected := range []eventstore.ExpectedVersion{eventstore.NoStream, 1, 2, 4, 10} {
		_, err := s.Append(ctxT(t), st, expected, evs("Refused", 3))
		requireConflict(t, err, "append at %d to a stream at 3", expected)
	}
	mustAppend(t, s, other, eventstore.NoStream, ev("Marker", 0))

	requireStored(t, readStream(t, s, st, 0), st, 1, stored)
	all := readAllOf(t, s, r0.LastPosition, 0, st, other)
	require.Len(t, all, 2, "only the first append's last event and the marker after it: %v", ids(all))
	v, _, err := s.Head(ctxT(t), st)
	require.NoError(t, err)
	require.Equal(t, uint64(3), v)
}

func testIdempotentReappend(t *testing.T, s eventstore.Store) {
	st := newStream("idem")
	first := evs("Initiated", 2)
	r1 := mustAppend(t, s, st, eventstore.NoStream, first...)
	r1again := mustAppend(t, s, st, eventstore.NoStream, first...)
	require.Equal(t, r1, r1again, "re-append returns the original result")

	second := []eventstore.EventData{ev("Confirmed", 3)}
	r2 := mustAppend(t, s, st, 2, second...)
	// The stream moved on; a retry of the earlier append is still recognised.
	r1late := mustAppend(t, s, st, eventstore.NoStream, first...)
	require.Equal(t, r1, r1late)
	r2again := mustAppend(t, s, st, 2, second...)
	require.Equal(t, r2, r2again)

	// Same expected version, different IDs: a real conflict.
	_, err := s.Append(ctxT(t), st, eventstore.NoStream, []eventstore.EventData{first[0], ev("Other", 9)})
	requireConflict(t, err, "same version, one different ID")
	_, err = s.Append(ctxT(t), st, 2, []eventstore.EventData{ev("Confirmed", 3)})
	requireConflict(t, err, "same version, new ID")
	// Same IDs at another version are not a retry either.
	_, err = s.Append(ctxT(t), st, 1, second)
	requireConflict(t, err, "stored IDs at a different version")

	recs := readStream(t, s, st, 0)
	requireStored(t, recs, st, 1, append(append([]eventstore.EventData(nil), first...), second...))
	all := readAllOf(t, s, recs[0].Position, 0, st)
	require.Len(t, all, 3, "nothing stored twice")
	requireChain(t, s, st, recs)
}

func testHashChain(t *testing.T, s eventstore.Store) {
	st := newStream("chain")
	var last eventstore.AppendResult
	sizes := []int{1, 3, 1, 5, 2}
	v := 0
	for _, n := range sizes {
		last = mustAppend(t, s, st, eventstore.ExpectedVersion(v), evs("Chained", n)...)
		v += n
	}
	if b, ok := s.(eventstore.BatchAppender); ok {
		res, err := b.AppendBatch(ctxT(t), []eventstore.AppendRequest{{Stream: st, Expected: eventstore.ExpectedVersion(v), Events: evs("Batched", 4)}})
		require.NoError(t, err)
		require.Len(t, res, 1)
		last = res[0]
		v += 4
	}
	recs := readStream(t, s, st, 3)
	require.Len(t, recs, v)
	requireChain(t, s, st, recs)
	require.Equal(t, recs[len(recs)-1].Hash, last.LastHash, "AppendResult.LastHash is the chain head")

	// The chain is per stream: another stream starts from the zero hash.
	other := newStream("chain")
	r := mustAppend(t, s, other, eventstore.NoStream, ev("Chained", 0))
	o := readStream(t, s, other, 0)
	require.True(t, o[0].PrevHash.IsZero())
	require.Equal(t, r.LastHash, o[0].Hash)
}

func testInvalidAppends(t *testing.T, s eventstore.Store) {
	st := newStream("invalid")
	tooMany := evs("Many", eventstore.MaxEventsPerAppend+1)
	noID := ev("NoID", 1)
	noID.ID = uuid.Nil
	noType := ev("", 1)
	huge := ev("Huge", 1)
	huge.Data = make([]byte, eventstore.MaxEventBytes+1)
	dup := ev("Dup", 1)
	cases := []struct {
		name     string
		stream   string
		expected eventstore.ExpectedVersion
		events   []eventstore.EventData
	}{
		{"empty stream name", "", eventstore.NoStream, evs("X", 1)},
		{"no events", st, eventstore.NoStream, nil},
		{"nil event ID", st, eventstore.NoStream, []eventstore.EventData{ev("X", 1), noID}},
		{"too many events", st, eventstore.NoStream, tooMany},
		{"no type", st, eventstore.NoStream, []eventstore.EventData{noType}},
		{"event too large", st, eventstore.NoStream, []eventstore.EventData{huge}},
		{"same ID twice", st, eventstore.NoStream, []eventstore.EventData{dup, dup}},
		{"expected below Any", st, -2, evs("X", 1)},
	}
	for _, c := range cases {
		require.Error(t, eventstore.ValidateAppend(c.stream, c.expected, c.events), c.name)
		_, err := s.Append(ctxT(t), c.stream, c.expected, c.events)
		require.True(t, errors.Is(err, eventstore.ErrInvalidAppend), "%s: want ErrInvalidAppend, got %v", c.name, err)
	}
	_, err := s.ReadStream(ctxT(t), st, 1, 10)
	require.True(t, errors.Is(err, eventstore.ErrStreamNotFound), "invalid appends store nothing, got %v", err)
	// Exactly the limit is fine.
	r := mustAppend(t, s, st, eventstore.NoStream, evs("Many", eventstore.MaxEventsPerAppend)...)
	require.Equal(t, uint64(eventstore.MaxEventsPerAppend), r.LastVersion)
}

func testClosed(t *testing.T, s eventstore.Store) {
	st := newStream("closed")
	mustAppend(t, s, st, eventstore.NoStream, ev("Before", 0))
	require.NoError(t, s.Close())
	is := func(err error, op string) {
		require.True(t, errors.Is(err, eventstore.ErrClosed), "%s after Close: want ErrClosed, got %v", op, err)
	}
	_, err := s.Append(ctxT(t), st, 1, evs("After", 1))
	is(err, "Append")
	_, err = s.ReadStream(ctxT(t), st, 1, 10)
	is(err, "ReadStream")
	_, err = s.ReadAll(ctxT(t), 0, 10)
	is(err, "ReadAll")
	_, _, err = s.Head(ctxT(t), st)
	is(err, "Head")
	is(s.Subscribe(ctxT(t), 0, func(eventstore.RecordedEvent) error { return nil }), "Subscribe")
	if b, ok := s.(eventstore.BatchAppender); ok {
		_, err = b.AppendBatch(ctxT(t), []eventstore.AppendRequest{{Stream: st, Expected: 1, Events: evs("After", 1)}})
		is(err, "AppendBatch")
	}
	is(s.Close(), "second Close")
}
