// Package tailguard makes the loss of a stream's last events detectable.
//
// The hash chain of a stream proves that no event inside it was altered,
// removed or reordered, but not that the stream still ends where it ended:
// a log that lost its tail (a disk that dropped its last writes, an old
// backup restored in place) is a shorter chain that verifies perfectly.
// So the head of each stream's chain (version and hash) is also kept
// outside the stream: a Guard records the heads the command handler
// appended (Record, the handler's Config.OnAppend) and persists them to a
// HeadStore (FileStore: a JSON file on another disk), and Verify compares
// the store against them before it is served.
//
// The window: heads are flushed in the background every interval, not on
// the append path (which never waits on the guard). A loss is detected
// when it takes away an event whose head had been flushed; the events
// appended since the last successful flush (at most one interval plus
// the duration of one Save) can be lost without a finding. Stop the
// process with Close, which flushes, to leave no such window.
//
// Use at start-up:
//
//	fs := tailguard.FileStore{Path: "/var/lib/payout/heads.json"}
//	heads, err := fs.Load(ctx)                      // ErrMalformed: stop
//	findings, err := tailguard.Verify(ctx, store, heads)
//	// any finding: do not serve; an operator decides
//	guard := tailguard.New(fs, heads)
//	guard.Start(ctx, time.Second)
//	defer guard.Close()
//	h := handler.New(store, handler.Config{OnAppend: guard.Record})
package tailguard

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/payoutledger/ledger/eventstore"
)

// Head is where a stream's hash chain ended when it was recorded.
type Head struct {
	Version uint64          // the stream's version (its number of events)
	Hash    eventstore.Hash // the Hash of the event at Version
}

// HeadStore persists heads outside the event store. Implementations are
// safe for concurrent use; a Guard calls Save from one goroutine at a time.
type HeadStore interface {
	// Load returns every saved head (an empty map when none was saved).
	Load(ctx context.Context) (map[string]Head, error)
	// Save replaces the saved heads with heads, atomically: a crash leaves
	// the old set or the new one, never a mix or a torn file.
	Save(ctx context.Context, heads map[string]Head) error
}

// ErrStarted: Start was called twice, or after Close.
var ErrStarted = errors.New("tailguard: flusher already started or guard closed")

// Guard keeps the latest head of every stream appended in this process,
// plus those it was seeded with, and saves them to a HeadStore. Record is
// cheap (a mutex and a map entry) and never waits on the HeadStore; Flush
// does the I/O. Safe for concurrent use.
type Guard struct {
	store HeadStore

	mu      sync.Mutex
	heads   map[string]Head
	gen     uint64 // changes recorded since New
	flushed uint64 // gen of the last successful Save

	flushMu sync.Mutex // one Save at a time, in order

	loopMu  sync.Mutex
	started bool
	closed  bool
	stop    chan struct{}
	done    chan struct{}
	errMu   sync.Mutex
	lastErr error
}

// New returns a Guard saving to store, seeded with heads (usually what
// store.Load returned, after Verify found nothing): a stream no command
// touches in this process keeps its head in the next Save. heads is
// copied; it may be nil.
func New(store HeadStore, heads map[string]Head) *Guard {
	g := &Guard{store: store, heads: make(map[string]Head, len(heads))}
	maps.Copy(g.heads, heads)
	return g
}

// Record notes that stream's chain now ends at (version, hash). It keeps
// the highest version per stream: reports may arrive out of order, and a
// stream that was truncated and appended to again must not lower the head
// it has to reach (Verify then keeps reporting it). A report at the
// recorded version is ignored. Its signature is handler.Config.OnAppend's.
func (g *Guard) Record(stream string, version uint64, hash eventstore.Hash) {
	if version == 0 {
		return // an empty stream has no head to guard
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if old, ok := g.heads[stream]; ok && old.Version >= version {
		return
	}
	g.heads[stream] = Head{Version: version, Hash: hash}
	g.gen++
}

// Heads returns a copy of the heads recorded so far.
func (g *Guard) Heads() map[string]Head {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.heads)
}

// Flush saves the recorded heads if they changed since the last successful
// Flush. It returns the HeadStore's error; the heads stay recorded and the
// next Flush tries again.
func (g *Guard) Flush(ctx context.Context) error {
	g.flushMu.Lock()
	defer g.flushMu.Unlock()
	g.mu.Lock()
	if g.gen == g.flushed {
		g.mu.Unlock()
		return nil
	}
	gen, heads := g.gen, maps.Clone(g.heads)
	g.mu.Unlock()
	if err := g.store.Save(ctx, heads); err != nil {
		return err
	}
	g.mu.Lock()
	g.flushed = gen
	g.mu.Unlock()
	return nil
}

// Start flushes every interval in a goroutine until ctx is done or Close is
// called. A failed flush is retried at the next tick and reported by Err.
// Errors: ErrStarted if the flusher runs already or the guard was closed;
// a non-positive interval.
func (g *Guard) Start(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("tailguard: flush interval %s: want > 0", interval)
	}
	g.loopMu.Lock()
	defer g.loopMu.Unlock()
	if g.started || g.closed {
		return ErrStarted
	}
	g.started = true
	g.stop, g.done = make(chan struct{}), make(chan struct{})
	go g.loop(ctx, interval)
	return nil
}

func (g *Guard) loop(ctx context.Context, interval time.Duration) {
	defer close(g.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.stop:
			return
		case <-t.C:
			if ctx.Err() != nil {
				return // select picks at random among ready cases
			}
			g.setErr(g.Flush(ctx))
		}
	}
}

func (g *Guard) setErr(err error) {
	g.errMu.Lock()
	g.lastErr = err
	g.errMu.Unlock()
}

// Err returns the error of the background flusher's last flush (nil once
// one succeeds): a health check reports it, since heads that cannot be
// saved widen the window of undetected loss.
func (g *Guard) Err() error {
	g.errMu.Lock()
	defer g.errMu.Unlock()
	return g.lastErr
}

// Close stops the background flusher, waits for it, and flushes once more,
// returning that flush's error. Record may still be called afterwards, but
// nothing flushes what it records except an explicit Flush. A second Close
// only flushes.
func (g *Guard) Close() error {
	g.loopMu.Lock()
	if g.started && !g.closed {
		close(g.stop)
		<-g.done
	}
	g.closed = true
	g.loopMu.Unlock()
	return g.Flush(context.Background())
}
