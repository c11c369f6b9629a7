package storetest

import (
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/eventstore"
)

func testReadYourWrites(t *testing.T, s eventstore.Store) {
	st := newStream("ryw")
	for i := range 20 {
		e := ev("Step", i)
		n := 1 + i%3
		batch := append([]eventstore.EventData{e}, evs("Extra", n-1)...)
		r := mustAppend(t, s, st, eventstore.ExpectedVersion(headVersion(t, s, st)), batch...)

		got, err := s.ReadStream(ctxT(t), st, r.FirstVersion, 10)
		require.NoError(t, err)
		requireStored(t, got, st, r.FirstVersion, batch)
		require.Equal(t, r.LastPosition, got[len(got)-1].Position)

		v, h, err := s.Head(ctxT(t), st)
		require.NoError(t, err)
		require.Equal(t, r.LastVersion, v)
		require.Equal(t, r.LastHash, h)

		all, err := s.ReadAll(ctxT(t), r.LastPosition, 1)
		require.NoError(t, err)
		require.Len(t, all, 1)
		require.Equal(t, batch[len(batch)-1].ID, all[0].ID)
		require.Equal(t, r.LastPosition, all[0].Position)
	}
}

// headVersion returns the stream's current version through Head.
func headVersion(t *testing.T, s eventstore.Store, st string) uint64 {
	v, _, err := s.Head(ctxT(t), st)
	require.NoError(t, err)
	return v
}

func testReadStreamPaging(t *testing.T, s eventstore.Store) {
	st := newStream("paging")
	var all []eventstore.EventData
	for i := range 5 {
		batch := evs("Paged", 5)
		mustAppend(t, s, st, eventstore.ExpectedVersion(i*5), batch...)
		all = append(all, batch...)
	}
	read := func(from uint64, max int) []eventstore.RecordedEvent {
		got, err := s.ReadStream(ctxT(t), st, from, max)
		require.NoError(t, err, "ReadStream(%d, %d)", from, max)
		return got
	}
	requireStored(t, read(0, 10), st, 1, all[:10])
	requireStored(t, read(1, 10), st, 1, all[:10])
	requireStored(t, read(11, 10), st, 11, all[10:20])
	requireStored(t, read(21, 10), st, 21, all[20:])
	requireStored(t, read(17, 3), st, 17, all[16:19])
	requireStored(t, read(25, 1), st, 25, all[24:])
	require.Empty(t, read(26, 10), "past the end: empty, no error")
	require.Empty(t, read(1000, 10))

	def := read(1, 0)
	require.NotEmpty(t, def, "max <= 0 is a default page, not nothing")
	requireStored(t, def, st, 1, all[:len(def)])

	requireStored(t, readStream(t, s, st, 4), st, 1, all)
}

func testReadStreamNotFound(t *testing.T, s eventstore.Store) {
	_, err := s.ReadStream(ctxT(t), newStream("nothere"), 1, 10)
	require.True(t, errors.Is(err, eventstore.ErrStreamNotFound), "got %v", err)
	// A failed append does not create the stream.
	st := newStream("nothere")
	_, err = s.Append(ctxT(t), st, 3, []eventstore.EventData{ev("X", 1)})
	requireConflict(t, err, "expected 3 on a missing stream")
	_, err = s.ReadStream(ctxT(t), st, 0, 10)
	require.True(t, errors.Is(err, eventstore.ErrStreamNotFound), "got %v", err)
}

func testReadAllPaging(t *testing.T, s eventstore.Store) {
	streams := []string{newStream("globala"), newStream("globalb"), newStream("globalc")}
	versions := make([]uint64, len(streams))
	var order []uuid.UUID
	var from uint64
	for i := range 30 {
		k := i % len(streams)
		batch := evs("Global", 1+i%4/3) // mostly single events, some pairs
		r := mustAppend(t, s, streams[k], eventstore.ExpectedVersion(versions[k]), batch...)
		versions[k] = r.LastVersion
		if i == 0 {
			from = r.LastPosition
		}
		order = append(order, dataIDs(batch)...)
	}
	for _, page := range []int{1, 7, 1000} {
		got := readAllOf(t, s, from, page, streams...)
		require.Equal(t, order, ids(got), "page size %d", page)
		// Each stream's events come in version order.
		seen := map[string]uint64{}
		for _, e := range got {
			require.Equal(t, seen[e.Stream]+1, e.Version)
			seen[e.Stream] = e.Version
		}
	}
	// A page starting in the middle begins exactly there.
	mid := readAllOf(t, s, from, 0, streams...)[10]
	got, err := s.ReadAll(ctxT(t), mid.Position, 3)
	require.NoError(t, err)
	require.NotEmpty(t, got)
	require.Equal(t, mid.ID, got[0].ID)
	require.Equal(t, mid.Position, got[0].Position)
}

func testLongStream(t *testing.T, s eventstore.Store) {
	const total, per = 5000, 100
	st := newStream("long")
	for i := 0; i < total; i += per {
		mustAppend(t, s, st, eventstore.ExpectedVersion(i), evs("Tick", per)...)
	}
	recs := readStream(t, s, st, 1000)
	require.Len(t, recs, total)
	requireChain(t, s, st, recs)

	tail, err := s.ReadStream(ctxT(t), st, total-10, 100)
	require.NoError(t, err)
	require.Len(t, tail, 11)
	require.Equal(t, uint64(total-10), tail[0].Version)
	require.Equal(t, recs[total-11].ID, tail[0].ID)

	mid, err := s.ReadStream(ctxT(t), st, 2500, 5)
	require.NoError(t, err)
	require.Equal(t, ids(recs[2499:2504]), ids(mid))

	// The next append still lands at the right place after a long stream.
	r := mustAppend(t, s, st, total, ev("Tock", 0))
	require.Equal(t, uint64(total+1), r.LastVersion)
	_, err = s.Append(ctxT(t), st, total, []eventstore.EventData{ev("Late", 0)})
	requireConflict(t, err)
}
