package tailguard_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/tailguard"
)

// memStore is a HeadStore in memory that counts saves, can fail them, and
// can hold a Save until released.
type memStore struct {
	mu     sync.Mutex
	saved  map[string]tailguard.Head
	saves  int
	fail   error
	hold   chan struct{} // if set, Save waits for it to be closed
	inSave chan struct{} // if set, Save signals it on entry
}

func (m *memStore) Load(context.Context) (map[string]tailguard.Head, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.saved), nil
}

func (m *memStore) Save(_ context.Context, heads map[string]tailguard.Head) error {
	m.mu.Lock()
	hold, inSave := m.hold, m.inSave
	m.mu.Unlock()
	if inSave != nil {
		inSave <- struct{}{}
	}
	if hold != nil {
		<-hold
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.saved = heads
	m.saves++
	return nil
}

func (m *memStore) state() (map[string]tailguard.Head, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.saved), m.saves
}

func hash(b byte) eventstore.Hash {
	var h eventstore.Hash
	h[0], h[31] = b, b
	return h
}

func TestRecordKeepsTheHighestVersion(t *testing.T) {
	seed := map[string]tailguard.Head{"jd.seeded": {Version: 9, Hash: hash(9)}, "jd.a": {Version: 2, Hash: hash(2)}}
	g := tailguard.New(&memStore{}, seed)
	seed["jd.a"] = tailguard.Head{Version: 100, Hash: hash(100)} // New copied the seed

	g.Record("jd.a", 5, hash(5))
	g.Record("jd.a", 3, hash(3))  // late report of an older append
	g.Record("jd.a", 5, hash(55)) // the same version again: the first stays
	g.Record("jd.b", 1, hash(1))
	g.Record("jd.c", 0, hash(0)) // no head to guard
	g.Record("jd.seeded", 4, hash(4))

	heads := g.Heads()
	require.Equal(t, map[string]tailguard.Head{
		"jd.a":      {Version: 5, Hash: hash(5)},
		"jd.b":      {Version: 1, Hash: hash(1)},
		"jd.seeded": {Version: 9, Hash: hash(9)},
	}, heads)
	heads["jd.b"] = tailguard.Head{Version: 42}
	require.Equal(t, uint64(1), g.Heads()["jd.b"].Version, "Heads returns a copy")
}

func TestFlushSavesChangesOnly(t *testing.T) {
	ctx := context.Background()
	m := &memStore{}
	g := tailguard.New(m, map[string]tailguard.Head{"jd.old": {Version: 1, Hash: hash(1)}})

	require.NoError(t, g.Flush(ctx))
	_, n := m.state()
	require.Equal(t, 0, n, "nothing recorded since New: nothing to save")

	g.Record("jd.a", 1, hash(1))
	require.NoError(t, g.Flush(ctx))
	saved, n := m.state()
	require.Equal(t, 1, n)
	require.Equal(t, map[string]tailguard.Head{"jd.old": {Version: 1, Hash: hash(1)}, "jd.a": {Version: 1, Hash: hash(1)}}, saved,
		"the seed is saved with what was recorded")

	require.NoError(t, g.Flush(ctx))
	_, n = m.state()
	require.Equal(t, 1, n, "no change, no save")
	g.Record("jd.a", 1, hash(7)) // ignored: not a change
	require.NoError(t, g.Flush(ctx))
	_, n = m.state()
	require.Equal(t, 1, n)

	// A failed save is retried by the next flush.
	g.Record("jd.a", 2, hash(2))
	m.mu.Lock()
	m.fail = errors.New("disk full")
	m.mu.Unlock()
	require.EqualError(t, g.Flush(ctx), "disk full")
	m.mu.Lock()
	m.fail = nil
	m.mu.Unlock()
	require.NoError(t, g.Flush(ctx))
	saved, n = m.state()
	require.Equal(t, 2, n)
	require.Equal(t, tailguard.Head{Version: 2, Hash: hash(2)}, saved["jd.a"])

	// The saved map is a snapshot: later records do not change it.
	g.Record("jd.a", 3, hash(3))
	require.Equal(t, uint64(2), saved["jd.a"].Version)
}

// TestRecordNeverWaitsOnAFlush: the append path (Record) goes on while a
// Save is stuck on a slow disk; what it records is saved by the next flush.
func TestRecordNeverWaitsOnAFlush(t *testing.T) {
	m := &memStore{hold: make(chan struct{}), inSave: make(chan struct{}, 1)}
	g := tailguard.New(m, nil)
	g.Record("jd.a", 1, hash(1))
	flushed := make(chan error, 1)
	go func() { flushed <- g.Flush(context.Background()) }()
	<-m.inSave // the save is in progress and blocked

	recorded := make(chan struct{})
	go func() {
		g.Record("jd.a", 2, hash(2))
		g.Record("jd.b", 1, hash(1))
		_ = g.Heads()
		close(recorded)
	}()
	select {
	case <-recorded:
	case <-time.After(5 * time.Second):
		t.Fatal("Record waited on a Save in progress")
	}
	m.mu.Lock()
	m.inSave = nil
	m.mu.Unlock()
	close(m.hold)
	require.NoError(t, <-flushed)
	saved, _ := m.state()
	require.Equal(t, map[string]tailguard.Head{"jd.a": {Version: 1, Hash: hash(1)}}, saved, "the flush saved its snapshot")
	require.NoError(t, g.Flush(context.Background()))
	saved, _ = m.state()
	require.Equal(t, map[string]tailguard.Head{"jd.a": {Version: 2, Hash: hash(2)}, "jd.b": {Version: 1, Hash: hash(1)}}, saved)
}

// TestConcurrentRecordsAndFlushes: under -race, records from many
// goroutines interleaved with flushes end with the highest version of
// every stream saved.
func TestConcurrentRecordsAndFlushes(t *testing.T) {
	const streams, versions, writers = 8, 200, 8
	m := &memStore{}
	g := tailguard.New(m, nil)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := 1; v <= versions; v++ {
				for s := 0; s < streams; s++ {
					// Each writer reports every version, in its own order.
					ver := uint64((v*7+w*13)%versions + 1)
					g.Record(fmt.Sprintf("jd.s%d", s), ver, hash(byte(ver)))
				}
			}
		}()
	}
	stop := make(chan struct{})
	flusherDone := make(chan struct{})
	go func() {
		defer close(flusherDone)
		for {
			select {
			case <-stop:
				return
			default:
				if err := g.Flush(context.Background()); err != nil {
					panic(err)
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-flusherDone
	require.NoError(t, g.Flush(context.Background()))
	saved, _ := m.state()
	require.Len(t, saved, streams)
	for s := 0; s < streams; s++ {
		require.Equal(t, tailguard.Head{Version: versions, Hash: hash(versions)}, saved[fmt.Sprintf("jd.s%d", s)])
	}
}

func TestBackgroundFlusherAndClose(t *testing.T) {
	m := &memStore{}
	g := tailguard.New(m, nil)
	require.Error(t, g.Start(context.Background(), 0))
	require.NoError(t, g.Start(context.Background(), 5*time.Millisecond))
	require.ErrorIs(t, g.Start(context.Background(), time.Millisecond), tailguard.ErrStarted)

	g.Record("jd.a", 1, hash(1))
	require.Eventually(t, func() bool {
		saved, _ := m.state()
		return saved["jd.a"].Version == 1
	}, 5*time.Second, time.Millisecond, "the background flusher saves what was recorded")

	// A failing store is reported by Err, and cleared by a good flush.
	m.mu.Lock()
	m.fail = errors.New("read-only file system")
	m.mu.Unlock()
	g.Record("jd.a", 2, hash(2))
	require.Eventually(t, func() bool { return g.Err() != nil }, 5*time.Second, time.Millisecond)
	require.EqualError(t, g.Err(), "read-only file system")
	m.mu.Lock()
	m.fail = nil
	m.mu.Unlock()
	require.Eventually(t, func() bool { return g.Err() == nil }, 5*time.Second, time.Millisecond)
	saved, _ := m.state()
	require.Equal(t, uint64(2), saved["jd.a"].Version)

	require.NoError(t, g.Close())
	require.ErrorIs(t, g.Start(context.Background(), time.Millisecond), tailguard.ErrStarted, "no restart after Close")
}

// TestCloseFlushes: what was recorded since the last tick is saved by
// Close; with a long interval, nothing is saved before.
func TestCloseFlushes(t *testing.T) {
	m := &memStore{}
	g := tailguard.New(m, nil)
	require.NoError(t, g.Start(context.Background(), time.Hour))
	g.Record("jd.a", 3, hash(3))
	time.Sleep(10 * time.Millisecond)
	_, n := m.state()
	require.Zero(t, n)
	require.NoError(t, g.Close())
	saved, n := m.state()
	require.Equal(t, 1, n)
	require.Equal(t, tailguard.Head{Version: 3, Hash: hash(3)}, saved["jd.a"])

	// A guard that was never started flushes on Close too.
	m2 := &memStore{}
	g2 := tailguard.New(m2, nil)
	g2.Record("jd.b", 1, hash(1))
	require.NoError(t, g2.Close())
	saved, _ = m2.state()
	require.Equal(t, uint64(1), saved["jd.b"].Version)

	// Close reports a failed final flush.
	m3 := &memStore{fail: errors.New("no space left on device")}
	g3 := tailguard.New(m3, nil)
	g3.Record("jd.c", 1, hash(1))
	require.EqualError(t, g3.Close(), "no space left on device")
}

// TestFlusherStopsWithItsContext: cancelling Start's context stops the
// background flushes; Close still flushes.
func TestFlusherStopsWithItsContext(t *testing.T) {
	m := &memStore{}
	g := tailguard.New(m, nil)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, g.Start(ctx, time.Millisecond))
	cancel()
	g.Record("jd.a", 1, hash(1))
	time.Sleep(20 * time.Millisecond) // many intervals: no flusher saves it
	_, n := m.state()
	require.Zero(t, n)
	require.NoError(t, g.Close())
	_, n = m.state()
	require.Equal(t, 1, n)
}
