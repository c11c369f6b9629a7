package projections

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payoutledger/ledger/eventstore"
)

// Source is what the runtime reads events from. eventstore.Store
// satisfies it: ReadAll for catch-up (pages in global order), Subscribe
// for live events.
type Source interface {
	ReadAll(ctx context.Context, fromPosition uint64, max int) ([]eventstore.RecordedEvent, error)
	Subscribe(ctx context.Context, fromPosition uint64, fn func(eventstore.RecordedEvent) error) error
}

// LastPositioner is implemented by a Source that knows its last global
// position cheaply. Without it the runtime finds the head with a
// logarithmic number of one-event ReadAll probes (HeadPosition).
type LastPositioner interface {
	LastPosition(ctx context.Context) (uint64, error)
}

// Config tunes a Runtime. Zero values take the defaults.
type Config struct {
	Source Source         // required
	Store  ReadModelStore // required

	// BatchEvents: a projection commits after this many applied events
	// (default 1,000)...
	BatchEvents int
	// BatchInterval: ...and no later than this after the first
	// uncommitted event (default 200 ms), and when the runtime stops.
	BatchInterval time.Duration
	// PageSize: events per ReadAll page during catch-up (default 1,000).
	PageSize int
	// DensePositions declares that the source's positions have no holes
	// (JetStream stream sequences on a stream that denies deletes and
	// purges). A missing position is then waited for (GapTimeout) and
	// never skipped. Leave false for sparse positions (EventStoreDB
	// commit positions).
	DensePositions bool
	// GapTimeout: how long a hole in dense positions is waited for before
	// the projections reading there stop with ErrGap (default 10 s).
	GapTimeout time.Duration
	// GroupSlack: projections whose checkpoints lie within this many
	// positions of the most advanced one share one reader (the others
	// skip what they already have); a projection further behind gets a
	// reader of its own, so that it never holds the others back
	// (default 10 x BatchEvents).
	GroupSlack uint64
	// ReaderPerProjection gives every projection its own reader: each
	// event is then read and decoded once per projection instead of once,
	// but a slow projection never holds back the others (with shared
	// readers, the projections of a group advance together).
	ReaderPerProjection bool
	// HeadInterval: how often the head position is refreshed for Status
	// while catching up (default 1 s).
	HeadInterval time.Duration

	// StopAtHead: Run catches every projection up to the end of the log,
	// commits, and returns, instead of following live events (replay).
	StopAtHead bool
	// StopBefore, if set, ends each reader before the first event for
	// which it returns true (replay --until); implies nothing about
	// later events. Usually combined with StopAtHead.
	StopBefore func(eventstore.RecordedEvent) bool

	// Logf receives operational messages (failures, takeovers). Nil:
	// silent.
	Logf func(format string, args ...any)
	// Now is the clock for batch intervals (default time.Now).
	Now func() time.Time
}

func (c Config) withDefaults() (Config, error) {
	if c.Source == nil || c.Store == nil {
		return c, errors.New("projections: Config.Source and Config.Store are required")
	}
	if c.BatchEvents <= 0 {
		c.BatchEvents = 1000
	}
	if c.BatchInterval <= 0 {
		c.BatchInterval = 200 * time.Millisecond
	}
	if c.PageSize <= 0 {
		c.PageSize = 1000
	}
	if c.GapTimeout <= 0 {
		c.GapTimeout = 10 * time.Second
	}
	if c.GroupSlack == 0 {
		c.GroupSlack = uint64(10 * c.BatchEvents)
	}
	if c.HeadInterval <= 0 {
		c.HeadInterval = time.Second
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// commitTimeout bounds one commit; a commit is never cut short by the
// runtime's own context (stopping must not lose a batch half-sent).
const commitTimeout = 30 * time.Second

// Runtime feeds events in global order to projections, each from its own
// checkpoint, and commits their changed rows with the checkpoint
// atomically. See the package documentation.
type Runtime struct {
	cfg       Config
	factories map[string][]versioned // by projection, ascending version

	mu      sync.RWMutex
	insts   []*instance
	active  map[string]*instance // the instance serving queries, per projection
	stored  map[string]int       // the active version in the store, per projection
	running bool
	started bool
	runCtx  context.Context
	feeds   sync.WaitGroup

	head atomic.Uint64 // highest position observed or probed
}

type versioned struct {
	version int
	factory Factory
}

// New returns a runtime for the given projections. Several versions of one
// projection may be registered: the highest is the target; a lower one
// that is the store's active version keeps serving until the target has
// been built beside it and takes over (blue/green).
//
// Errors: a missing Source or Store, a schema that fails Validate, the
// same projection version registered twice.
func New(cfg Config, factories ...Factory) (*Runtime, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Runtime{cfg: cfg, factories: map[string][]versioned{}, active: map[string]*instance{}, stored: map[string]int{}}
	for _, f := range factories {
		s := f().Schema()
		if err := s.Validate(); err != nil {
			return nil, err
		}
		for _, v := range r.factories[s.Projection] {
			if v.version == s.Version {
				return nil, fmt.Errorf("projections: %s v%d registered twice", s.Projection, s.Version)
			}
		}
		r.factories[s.Projection] = append(r.factories[s.Projection], versioned{s.Version, f})
	}
	for name := range r.factories {
		vs := r.factories[name]
		sort.Slice(vs, func(i, j int) bool { return vs[i].version < vs[j].version })
	}
	return r, nil
}

// Projections lists the registered projection names, sorted.
func (r *Runtime) Projections() []string {
	out := make([]string, 0, len(r.factories))
	for n := range r.factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Run loads every projection from the store, catches each up from its
// checkpoint, then follows live events until ctx is done; with
// Config.StopAtHead it returns once every projection reached the end of
// the log (or Config.StopBefore). Before returning it commits what was
// applied.
//
// A projection that fails stops alone (Status shows its
// *ProjectionError); the others go on. With StopAtHead, Run returns the
// failures joined. Otherwise it returns nil after ctx is done, or the
// errors of the final commits. A Runtime runs once. Errors before
// anything runs: ErrRunning (Run was called before),
// a store error while loading (wrapped in *ProjectionError, op "load").
func (r *Runtime) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return ErrRunning
	}
	r.running, r.started, r.runCtx = true, true, ctx
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()

	if err := r.load(ctx); err != nil {
		return err
	}
	if h, err := HeadPosition(ctx, r.cfg.Source, 0); err == nil {
		r.observeHead(h)
		r.refuseAheadOfLog(ctx, h)
	}
	headCtx, stopHead := context.WithCancel(ctx)
	defer stopHead()
	go r.refreshHead(headCtx)

	for _, f := range r.plan() {
		r.startFeed(ctx, f)
	}
	r.feeds.Wait()

	var errs []error
	for _, in := range r.instances() {
		if err := in.flush(); err != nil {
			errs = append(errs, err)
		}
		in.mu.Lock()
		if in.state == StateCatchingUp || in.state == StateLive {
			in.setStateLocked(StateStopped, nil)
		}
		failed := in.err
		in.mu.Unlock()
		if r.cfg.StopAtHead && failed != nil {
			errs = append(errs, failed)
		}
	}
	return errors.Join(errs...)
}

// load creates and loads the instances: per projection the target version
// and, when another version is active in the store and registered, that
// one too (it serves until the target takes over).
func (r *Runtime) load(ctx context.Context) error {
	for _, name := range r.Projections() {
		vs := r.factories[name]
		target := vs[len(vs)-1]
		activeV, err := r.cfg.Store.Active(ctx, name)
		if err != nil {
			return &ProjectionError{Projection: name, Version: target.version, Op: "load", Err: err}
		}
		var blue *versioned
		for i := range vs {
			if activeV != 0 && vs[i].version == activeV {
				blue = &vs[i]
			}
		}
		green, err := r.newInstance(ctx, target.factory)
		if err != nil {
			return err
		}
		var serving *instance
		switch {
		case activeV == 0:
			if err := r.cfg.Store.Activate(ctx, green.schema); err != nil {
				return &ProjectionError{Projection: name, Version: target.version, Op: "load", Err: err}
			}
			activeV, serving = target.version, green
		case activeV == target.version:
			serving = green
		default:
			green.building.Store(true)
			r.cfg.Logf("projection %s: v%d is active in the store; building v%d beside it from position %d", name, activeV, target.version, green.checkpoint())
			if blue != nil {
				if serving, err = r.newInstance(ctx, blue.factory); err != nil {
					return err
				}
			}
		}
		r.mu.Lock()
		r.stored[name] = activeV
		if serving != nil {
			r.active[name] = serving
		}
		r.mu.Unlock()
	}
	return nil
}

func (r *Runtime) newInstance(ctx context.Context, f Factory) (*instance, error) {
	in := &instance{rt: r, factory: f}
	in.schema = f().Schema()
	in.setStateLocked(StateCatchingUp, nil)
	if err := in.reload(ctx); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.insts = append(r.insts, in)
	r.mu.Unlock()
	return in, nil
}

func (r *Runtime) instances() []*instance {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]*instance(nil), r.insts...)
}

// refuseAheadOfLog stops the projections whose checkpoint lies beyond the
// head of the log (ErrAheadOfLog). A replica answering a little behind
// is given a second to catch up first.
func (r *Runtime) refuseAheadOfLog(ctx context.Context, head uint64) {
	for _, in := range r.instances() {
		cp := in.checkpoint()
		for i := 0; cp > head && i < 10 && ctx.Err() == nil; i++ {
			time.Sleep(100 * time.Millisecond)
			if h, err := HeadPosition(ctx, r.cfg.Source, head); err == nil {
				head = h
			}
		}
		if cp <= head {
			continue
		}
		in.mu.Lock()
		in.failWith(&ProjectionError{Projection: in.schema.Projection, Version: in.schema.Version, Position: cp, Op: "load",
			Err: fmt.Errorf("%w: checkpoint %d, the log ends at %d", ErrAheadOfLog, cp, head)})
		in.mu.Unlock()
	}
}

// plan groups the loaded instances into readers: the serving instances
// within GroupSlack of the most advanced share one; every other instance
// (far behind, or a new version being built) reads on its own.
func (r *Runtime) plan() []*feed {
	var serving, alone []*instance
	var max uint64
	for _, in := range r.instances() {
		if in.stateNow() == StateFailed {
			continue // Resume starts a reader for it
		}
		if in.building.Load() {
			alone = append(alone, in)
			continue
		}
		serving = append(serving, in)
		if c := in.checkpoint(); c > max {
			max = c
		}
	}
	var group []*instance
	for _, in := range serving {
		if !r.cfg.ReaderPerProjection && max-in.checkpoint() <= r.cfg.GroupSlack {
			group = append(group, in)
		} else {
			alone = append(alone, in)
		}
	}
	var out []*feed
	if len(group) > 0 {
		out = append(out, newFeed(r, group))
	}
	for _, in := range alone {
		out = append(out, newFeed(r, []*instance{in}))
	}
	return out
}

func (r *Runtime) startFeed(ctx context.Context, f *feed) {
	r.feeds.Add(1)
	go func() {
		defer r.feeds.Done()
		f.run(ctx)
	}()
}

// Resume restarts a failed projection from its committed checkpoint, with
// the model reloaded from the store (after the fix: a corrected event
// decoder, a store back online). It is a no-op for a projection that is
// not failed. Errors: ErrUnknownProjection, a runtime that is not
// running, the store's error reloading the model.
func (r *Runtime) Resume(name string) error {
	if _, ok := r.factories[name]; !ok {
		return fmt.Errorf("%w: %s", ErrUnknownProjection, name)
	}
	r.mu.RLock()
	ctx, running := r.runCtx, r.running
	r.mu.RUnlock()
	if !running {
		return errors.New("projections: Resume needs a running runtime")
	}
	for _, in := range r.instances() {
		if in.schema.Projection != name {
			continue
		}
		in.mu.Lock()
		if in.state != StateFailed {
			in.mu.Unlock()
			continue
		}
		in.gen++
		in.setStateLocked(StateCatchingUp, nil)
		if in.proj == nil {
			if err := in.reloadLocked(ctx); err != nil {
				in.setStateLocked(StateFailed, err.(*ProjectionError))
				in.mu.Unlock()
				return err
			}
		}
		in.mu.Unlock()
		r.cfg.Logf("projection %s v%d: resuming from position %d", name, in.schema.Version, in.checkpoint())
		r.startFeed(ctx, newFeed(r, []*instance{in}))
	}
	return nil
}

// Read runs fn with the projector that serves queries for the projection,
// under its read lock: fn sees a consistent model, never half an event.
// fn must not keep the projector. Errors: ErrUnknownProjection,
// ErrNotReady, or fn's error.
func (r *Runtime) Read(name string, fn func(Projector) error) error {
	if _, ok := r.factories[name]; !ok {
		return fmt.Errorf("%w: %s", ErrUnknownProjection, name)
	}
	r.mu.RLock()
	in := r.active[name]
	r.mu.RUnlock()
	if in == nil {
		return fmt.Errorf("%w: %s", ErrNotReady, name)
	}
	in.mu.RLock()
	defer in.mu.RUnlock()
	if in.proj == nil {
		return fmt.Errorf("%w: %s", ErrNotReady, name)
	}
	return fn(in.proj)
}

func (r *Runtime) observeHead(p uint64) {
	for {
		h := r.head.Load()
		if p <= h || r.head.CompareAndSwap(h, p) {
			return
		}
	}
}

func (r *Runtime) refreshHead(ctx context.Context) {
	t := time.NewTicker(r.cfg.HeadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if h, err := HeadPosition(ctx, r.cfg.Source, r.head.Load()); err == nil {
				r.observeHead(h)
			}
		}
	}
}

// maybeTakeover hands a new version the queries once it has caught up:
// it has applied everything the serving version has (or, with no serving
// version, everything up to the head).
func (r *Runtime) maybeTakeover(g *instance, caughtUp bool) {
	if !g.building.Load() {
		return
	}
	name := g.schema.Projection
	r.mu.RLock()
	blue := r.active[name]
	r.mu.RUnlock()
	target := r.head.Load()
	if blue != nil && blue.serving() {
		target = blue.appliedPos()
		caughtUp = false
	}
	if !caughtUp && g.appliedPos() < target {
		return
	}
	if err := g.flush(); err != nil {
		return // g failed; Status says why
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	if err := r.cfg.Store.Activate(ctx, g.schema); err != nil {
		r.cfg.Logf("projection %s: activating v%d failed (will retry): %v", name, g.schema.Version, err)
		return
	}
	g.building.Store(false)
	// The switch and the retirement are one step for observers: Status
	// never shows the new version serving beside a live old one. Lock
	// order: instance, then runtime (Read releases the runtime's lock
	// before it takes the instance's).
	if blue != nil {
		blue.mu.Lock()
	}
	r.mu.Lock()
	old := r.stored[name]
	r.active[name] = g
	r.stored[name] = g.schema.Version
	if blue != nil {
		blue.retireLocked()
	}
	r.mu.Unlock()
	if blue != nil {
		blue.mu.Unlock()
	}
	r.cfg.Logf("projection %s: v%d took over from v%d at position %d", name, g.schema.Version, old, g.appliedPos())
	if old != 0 && old != g.schema.Version {
		if err := r.cfg.Store.Drop(ctx, name, old); err != nil {
			r.cfg.Logf("projection %s: dropping retired v%d: %v", name, old, err)
		}
	}
}
