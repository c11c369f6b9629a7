package storetest

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/eventstore"
)

type streamState struct {
	version uint64
	hash    eventstore.Hash
}

func heads(t *testing.T, s eventstore.Store, streams ...string) map[string]streamState {
	out := make(map[string]streamState, len(streams))
	for _, st := range streams {
		v, h, err := s.Head(ctxT(t), st)
		require.NoError(t, err)
		out[st] = streamState{v, h}
	}
	return out
}

func testBatchCommits(t *testing.T, s eventstore.Store, b eventstore.BatchAppender) {
	a, bb, c := newStream("batcha"), newStream("batchb"), newStream("batchc")
	bSeed := ev("Seeded", 0)
	mustAppend(t, s, bb, eventstore.NoStream, bSeed)

	reqs := []eventstore.AppendRequest{
		{Stream: a, Expected: eventstore.NoStream, Events: evs("Opened", 2)},
		{Stream: bb, Expected: 1, Events: evs("Funded", 1)},
		{Stream: c, Expected: eventstore.NoStream, Events: evs("Opened", 3)},
	}
	res, err := b.AppendBatch(ctxT(t), reqs)
	require.NoError(t, err)
	require.Len(t, res, len(reqs))
	want := [][2]uint64{{1, 2}, {2, 2}, {1, 3}}
	for i, r := range res {
		require.Equal(t, reqs[i].Stream, r.Stream)
		require.Equal(t, want[i], [2]uint64{r.FirstVersion, r.LastVersion}, "request %d", i)
	}
	requireStored(t, readStream(t, s, a, 0), a, 1, reqs[0].Events)
	requireStored(t, readStream(t, s, bb, 0), bb, 1, append([]eventstore.EventData{bSeed}, reqs[1].Events...))
	requireStored(t, readStream(t, s, c, 0), c, 1, reqs[2].Events)
	for i, st := range []string{a, bb, c} {
		recs := readStream(t, s, st, 0)
		requireChain(t, s, st, recs)
		last := recs[len(recs)-1]
		require.Equal(t, last.Position, res[i].LastPosition, "LastPosition of request %d", i)
		require.Equal(t, last.Hash, res[i].LastHash, "LastHash of request %d", i)
	}
	// Global order follows request order.
	all := readAllOf(t, s, readStream(t, s, a, 0)[0].Position, 0, a, bb, c)
	require.Len(t, all, 6)
	require.Equal(t, []string{a, a, bb, c, c, c}, []string{all[0].Stream, all[1].Stream, all[2].Stream, all[3].Stream, all[4].Stream, all[5].Stream})
}

func testBatchStaleStoresNothing(t *testing.T, s eventstore.Store, b eventstore.BatchAppender) {
	a, bb, fresh := newStream("stalea"), newStream("staleb"), newStream("stalenew")
	mustAppend(t, s, a, eventstore.NoStream, ev("Seeded", 0))
	mustAppend(t, s, bb, eventstore.NoStream, evs("Seeded", 2)...)
	before := heads(t, s, a, bb, fresh)

	for i, reqs := range [][]eventstore.AppendRequest{
		// One stale expectation in the middle.
		{
			{Stream: a, Expected: 1, Events: evs("Ok", 2)},
			{Stream: bb, Expected: 1, Events: evs("Stale", 1)},
			{Stream: fresh, Expected: eventstore.NoStream, Events: evs("Ok", 1)},
		},
		// Stale last.
		{
			{Stream: fresh, Expected: eventstore.NoStream, Events: evs("Ok", 1)},
			{Stream: a, Expected: eventstore.NoStream, Events: evs("Stale", 1)},
		},
		// Stale first, the rest fine.
		{
			{Stream: bb, Expected: 3, Events: evs("Stale", 1)},
			{Stream: a, Expected: 1, Events: evs("Ok", 1)},
		},
	} {
		_, err := b.AppendBatch(ctxT(t), reqs)
		requireConflict(t, err, "batch %d", i)
		require.Equal(t, before, heads(t, s, a, bb, fresh), "batch %d changed a stream", i)
	}
	_, err := s.ReadStream(ctxT(t), fresh, 1, 10)
	require.True(t, errors.Is(err, eventstore.ErrStreamNotFound), "a refused batch creates no stream, got %v", err)
	require.Len(t, readStream(t, s, a, 0), 1)
	require.Len(t, readStream(t, s, bb, 0), 2)
}

// Several commands on one stream in one batch, each decided against the
// state the previous one produced (group commit).
func testBatchSameStreamTwice(t *testing.T, s eventstore.Store, b eventstore.BatchAppender) {
	a, other := newStream("twicea"), newStream("twiceb")
	first, second, third := evs("First", 2), evs("Second", 1), evs("Third", 1)
	res, err := b.AppendBatch(ctxT(t), []eventstore.AppendRequest{
		{Stream: a, Expected: eventstore.NoStream, Events: first},
		{Stream: other, Expected: eventstore.NoStream, Events: evs("Other", 1)},
		{Stream: a, Expected: 2, Events: second},
		{Stream: a, Expected: 3, Events: third},
	})
	require.NoError(t, err)
	require.Equal(t, [2]uint64{1, 2}, [2]uint64{res[0].FirstVersion, res[0].LastVersion})
	require.Equal(t, [2]uint64{3, 3}, [2]uint64{res[2].FirstVersion, res[2].LastVersion})
	require.Equal(t, [2]uint64{4, 4}, [2]uint64{res[3].FirstVersion, res[3].LastVersion})
	recs := readStream(t, s, a, 0)
	requireStored(t, recs, a, 1, append(append(append([]eventstore.EventData(nil), first...), second...), third...))
	requireChain(t, s, a, recs)
	require.Equal(t, recs[1].Hash, res[0].LastHash)
	require.Equal(t, recs[2].Hash, res[2].LastHash)

	// A second request that does not follow from the first refuses the batch.
	before := heads(t, s, a, other)
	_, err = b.AppendBatch(ctxT(t), []eventstore.AppendRequest{
		{Stream: a, Expected: 4, Events: evs("Next", 1)},
		{Stream: a, Expected: 4, Events: evs("SameBase", 1)},
		{Stream: other, Expected: 1, Events: evs("Other", 1)},
	})
	requireConflict(t, err)
	require.Equal(t, before, heads(t, s, a, other))
}

func testBatchInvalid(t *testing.T, s eventstore.Store, b eventstore.BatchAppender) {
	a := newStream("batchinv")
	_, err := b.AppendBatch(ctxT(t), nil)
	require.True(t, errors.Is(err, eventstore.ErrInvalidAppend), "empty batch, got %v", err)
	_, err = b.AppendBatch(ctxT(t), []eventstore.AppendRequest{
		{Stream: a, Expected: eventstore.NoStream, Events: evs("Ok", 1)},
		{Stream: "", Expected: eventstore.NoStream, Events: evs("NoStream", 1)},
	})
	require.True(t, errors.Is(err, eventstore.ErrInvalidAppend), "got %v", err)
	_, err = b.AppendBatch(ctxT(t), []eventstore.AppendRequest{
		{Stream: a, Expected: eventstore.NoStream, Events: evs("Ok", 1)},
		{Stream: newStream("batchinv"), Expected: eventstore.NoStream, Events: nil},
	})
	require.True(t, errors.Is(err, eventstore.ErrInvalidAppend), "got %v", err)
	// The same event ID in two requests would be stored twice.
	dup := ev("Dup", 0)
	_, err = b.AppendBatch(ctxT(t), []eventstore.AppendRequest{
		{Stream: a, Expected: eventstore.NoStream, Events: []eventstore.EventData{dup}},
		{Stream: newStream("batchinv"), Expected: eventstore.NoStream, Events: []eventstore.EventData{dup}},
	})
	require.True(t, errors.Is(err, eventstore.ErrInvalidAppend), "got %v", err)
	_, err = s.ReadStream(ctxT(t), a, 1, 10)
	require.True(t, errors.Is(err, eventstore.ErrStreamNotFound), "got %v", err)
}

func testBatchConcurrentOneWinner(t *testing.T, s eventstore.Store, b eventstore.BatchAppender) {
	const n = 16
	shared := newStream("batchshared")
	own := make([]string, n)
	for i := range own {
		own[i] = newStream("batchown")
	}
	errs := race(n, func(i int) error {
		_, err := b.AppendBatch(ctxT(t), []eventstore.AppendRequest{
			{Stream: own[i], Expected: eventstore.NoStream, Events: evs("Own", 2)},
			{Stream: shared, Expected: eventstore.NoStream, Events: evs("Shared", 2)},
		})
		return err
	})
	w := oneWinner(t, errs)
	for i, st := range own {
		recs := readStream(t, s, st, 0)
		if i == w {
			require.Len(t, recs, 2)
			continue
		}
		require.Empty(t, recs, "loser %d's other stream must not exist", i)
	}
	require.Len(t, readStream(t, s, shared, 0), 2)
}
