package projections

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payoutledger/ledger/domain"
)

// State is where a projection instance is.
type State string

const (
	StateCatchingUp State = "catching_up" // reading stored events
	StateLive       State = "live"        // caught up; following live events
	StateFailed     State = "failed"      // stopped at an event (Status.Err)
	StateRetired    State = "retired"     // replaced by a newer version (blue/green)
	StateStopped    State = "stopped"     // the runtime stopped
)

// instance is one projection version in the runtime: its model, its
// position and its checkpoint.
type instance struct {
	rt      *Runtime
	factory Factory
	schema  *Schema

	building atomic.Bool // a new version not yet serving (blue/green)

	mu           sync.RWMutex // guards everything below; queries take it shared
	proj         Projector    // nil when the model is not loaded (failed reload)
	state        State
	err          *ProjectionError
	gen          uint64 // bumped by Resume: a feed only feeds the generation it was given
	applied      uint64 // position of the last event applied to proj
	committed    uint64 // checkpoint stored with the rows
	pending      int    // events applied since the last commit
	firstPending time.Time

	// Copies for lock-free reads (takeover, Status): a projector stuck in
	// Apply holds mu, and that is exactly when its status matters.
	appliedA   atomic.Uint64
	committedA atomic.Uint64
	stateA     atomic.Value // State
	errA       atomic.Pointer[ProjectionError]
	events     atomic.Uint64 // events applied since start
	duplicates atomic.Uint64 // deliveries at or below the position, skipped
}

func (in *instance) appliedPos() uint64 { return in.appliedA.Load() }

// setStateLocked sets the state (and error) under mu, with the lock-free
// copies.
func (in *instance) setStateLocked(s State, err *ProjectionError) {
	in.state, in.err = s, err
	in.stateA.Store(s)
	in.errA.Store(err)
}

func (in *instance) stateNow() State {
	if s, ok := in.stateA.Load().(State); ok {
		return s
	}
	return StateCatchingUp
}
func (in *instance) checkpoint() uint64 { return in.committedA.Load() }

// serving: the instance has a model and is not failed or retired.
func (in *instance) serving() bool {
	s := in.stateNow()
	return s != StateFailed && s != StateRetired
}

func (in *instance) reload(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.reloadLocked(ctx)
}

// reloadLocked replaces the model by the store's committed rows.
func (in *instance) reloadLocked(ctx context.Context) error {
	p := in.factory()
	cp, err := in.rt.cfg.Store.Load(ctx, in.schema, p.Restore)
	if err != nil {
		in.proj = nil
		return &ProjectionError{Projection: in.schema.Projection, Version: in.schema.Version, Position: in.committed, Op: "load", Err: err}
	}
	in.proj = p
	in.applied, in.committed, in.pending = cp, cp, 0
	in.appliedA.Store(cp)
	in.committedA.Store(cp)
	return nil
}

// apply feeds one decoded event of generation gen (handler.Decode set its
// position, stream and version). It reports whether the instance still
// wants events.
func (in *instance) apply(gen uint64, ev domain.Event) bool {
	in.mu.Lock()
	if in.gen != gen || in.proj == nil || in.state == StateFailed || in.state == StateRetired {
		in.mu.Unlock()
		return false
	}
	if ev.Position <= in.applied {
		in.duplicates.Add(1)
		in.mu.Unlock()
		return true
	}
	if err := safeApply(in.proj, ev); err != nil {
		in.failLocked(ev, "apply", err)
		in.mu.Unlock()
		return false
	}
	in.applied = ev.Position
	in.appliedA.Store(ev.Position)
	in.events.Add(1)
	in.pending++
	if in.pending == 1 {
		in.firstPending = in.rt.cfg.Now()
	}
	ok := true
	if in.pending >= in.rt.cfg.BatchEvents {
		ok = in.commitLocked() == nil
	}
	in.mu.Unlock()
	if ok && in.building.Load() {
		in.rt.maybeTakeover(in, false)
	}
	return ok
}

// safeApply turns a panicking projector into an error: one projection's
// bug must not take the others (or the process) down.
func safeApply(p Projector, ev domain.Event) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return p.Apply(ev)
}

// failLocked stops the instance at ev and reloads its committed state, so
// that queries see the last good rows, never a half-applied event.
func (in *instance) failLocked(ev domain.Event, op string, err error) {
	pe := &ProjectionError{Projection: in.schema.Projection, Version: in.schema.Version,
		Position: ev.Position, Stream: ev.Stream, StreamVer: ev.Version, EventType: ev.Type, Op: op, Err: err}
	in.failWith(pe)
}

func (in *instance) failWith(pe *ProjectionError) {
	in.rt.cfg.Logf("%v", pe)
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	if err := in.reloadLocked(ctx); err != nil {
		in.rt.cfg.Logf("projection %s v%d: reloading the committed rows failed: %v", in.schema.Projection, in.schema.Version, err)
	}
	// Failed only once the committed rows are back: Status reads without
	// the lock, and a failed instance must never show an applied position
	// past its checkpoint.
	in.setStateLocked(StateFailed, pe)
}

// commitLocked stores the changed rows with the new checkpoint.
func (in *instance) commitLocked() error {
	if in.proj == nil || in.applied == in.committed {
		in.pending = 0
		return nil
	}
	b := Batch{Schema: in.schema, From: in.committed, To: in.applied, Changes: in.proj.Flush()}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	if err := in.rt.cfg.Store.Commit(ctx, b); err != nil {
		in.failWith(&ProjectionError{Projection: in.schema.Projection, Version: in.schema.Version, Position: b.To, Op: "commit", Err: err})
		return err
	}
	in.committed, in.pending = b.To, 0
	in.committedA.Store(b.To)
	return nil
}

// flush commits what is pending (the runtime stopping, a takeover).
func (in *instance) flush() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.state == StateFailed || in.state == StateRetired {
		return nil
	}
	return in.commitLocked()
}

// flushDue commits if the oldest uncommitted event is BatchInterval old.
func (in *instance) flushDue(now time.Time) {
	in.mu.Lock()
	due := in.pending > 0 && now.Sub(in.firstPending) >= in.rt.cfg.BatchInterval &&
		in.state != StateFailed && in.state != StateRetired
	if due {
		_ = in.commitLocked()
	}
	in.mu.Unlock()
}

func (in *instance) setState(gen uint64, s State) {
	in.mu.Lock()
	if in.gen == gen && in.state != StateFailed && in.state != StateRetired {
		in.setStateLocked(s, nil)
	}
	in.mu.Unlock()
}

// retireLocked (mu held): a newer version took over. The model is released.
func (in *instance) retireLocked() {
	in.setStateLocked(StateRetired, nil)
	in.proj = nil
}
