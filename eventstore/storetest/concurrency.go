package storetest

import (
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/eventstore"
)

// writers is the number of goroutines racing for one expected version.
const writers = 32

// race runs fn in n goroutines released together and returns their errors
// in goroutine order.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one of errs is nil and every other one is a
// conflict, and returns the winner's index.
func oneWinner(t *testing.T, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		if err == nil {
			require.Equal(t, -1, winner, "two appends at the same expected version both succeeded (%d and %d)", winner, i)
			winner = i
			continue
		}
		requireConflict(t, err, "loser %d", i)
	}
	require.NotEqual(t, -1, winner, "no append succeeded")
	return winner
}

func testConcurrentOneWinner(t *testing.T, s eventstore.Store) {
	st := newStream("race")
	seed := ev("Seeded", 0)
	mustAppend(t, s, st, eventstore.NoStream, seed)
	cands := evs("Raced", writers)
	results := make([]eventstore.AppendResult, writers)
	errs := race(writers, func(i int) error {
		var err error
		results[i], err = s.Append(ctxT(t), st, 1, []eventstore.EventData{cands[i]})
		return err
	})
	w := oneWinner(t, errs)
	require.Equal(t, uint64(2), results[w].LastVersion)
	recs := readStream(t, s, st, 0)
	requireStored(t, recs, st, 1, []eventstore.EventData{seed, cands[w]})
	requireChain(t, s, st, recs)
}

func testConcurrentNoStreamOneWinner(t *testing.T, s eventstore.Store) {
	st := newStream("create")
	cands := evs("Created", writers)
	errs := race(writers, func(i int) error {
		_, err := s.Append(ctxT(t), st, eventstore.NoStream, []eventstore.EventData{cands[i]})
		return err
	})
	w := oneWinner(t, errs)
	requireStored(t, readStream(t, s, st, 0), st, 1, []eventstore.EventData{cands[w]})
}

func testConcurrentMultiEventOneWinner(t *testing.T, s eventstore.Store) {
	st := newStream("multirace")
	mustAppend(t, s, st, eventstore.NoStream, ev("Seeded", 0))
	const n = 8
	cands := make([][]eventstore.EventData, n)
	for i := range cands {
		cands[i] = evs("Multi", 4)
	}
	errs := race(n, func(i int) error {
		_, err := s.Append(ctxT(t), st, 1, cands[i])
		return err
	})
	w := oneWinner(t, errs)
	recs := readStream(t, s, st, 0)
	require.Len(t, recs, 5, "one whole append, no mixing")
	requireStored(t, recs[1:], st, 2, cands[w])
	requireChain(t, s, st, recs)
}

// testContendedLoop is the command path under contention: read the head,
// decide, append at that version, retry on conflict. Every decision lands
// exactly once, in a gap-free chain.
func testContendedLoop(t *testing.T, s eventstore.Store) {
	const workers, each = 4, 15
	st := newStream("contended")
	var mu sync.Mutex
	var conflicts int
	errs := race(workers, func(int) error {
		for range each {
			e := ev("Incremented", 0)
			for {
				v, _, err := s.Head(ctxT(t), st)
				if err != nil {
					return err
				}
				_, err = s.Append(ctxT(t), st, eventstore.ExpectedVersion(v), []eventstore.EventData{e})
				if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
					mu.Lock()
					conflicts++
					mu.Unlock()
					continue
				}
				if err != nil {
					return err
				}
				break
			}
		}
		return nil
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	recs := readStream(t, s, st, 0)
	require.Len(t, recs, workers*each)
	seen := map[uuid.UUID]bool{}
	for _, r := range recs {
		require.False(t, seen[r.ID], "event %s stored twice", r.ID)
		seen[r.ID] = true
	}
	requireChain(t, s, st, recs)
	t.Logf("%d conflicts retried", conflicts)
}
