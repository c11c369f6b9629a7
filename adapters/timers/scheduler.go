package timers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// Commands is the command path the timers fire through; *handler.Handler
// satisfies it.
type Commands interface {
	Handle(ctx context.Context, cmd domain.Command, meta handler.Meta) (handler.Result, error)
}

// Source is the log the pending set is derived from; eventstore.Store
// satisfies it.
type Source interface {
	ReadAll(ctx context.Context, fromPosition uint64, max int) ([]eventstore.RecordedEvent, error)
	Subscribe(ctx context.Context, fromPosition uint64, fn func(eventstore.RecordedEvent) error) error
}

// Outcomes passed to Config.Observe, with the timer's kind (and "event"
// as the kind of a log event that could not be decoded).
const (
	OutcomeFired       = "fired"       // the command appended its events
	OutcomeReplayed    = "replayed"    // another scheduler (or an earlier run) fired it: nothing appended
	OutcomeMoot        = "moot"        // the state moved on (state.illegal_transition): dropped
	OutcomeEarly       = "early"       // refused with the window's own code (the handler's clock is behind): kept
	OutcomeRetry       = "retry"       // conflict or store error: kept, retried with backoff
	OutcomeRejected    = "rejected"    // refused for another rule: dropped and logged as an error
	OutcomeUndecodable = "undecodable" // kind "event": a log event that could not be decoded, skipped
)

// Defaults of Config.
const (
	DefaultTick        = time.Second
	DefaultMaxBackoff  = time.Minute
	DefaultFireTimeout = 30 * time.Second
	DefaultPageSize    = 1000
	DefaultMaxPerTick  = 10_000
)

// ErrInvalidConfig: New was given a config it cannot run with.
var ErrInvalidConfig = errors.New("timers: invalid config")

// Config configures a Scheduler. Zero values take the defaults.
type Config struct {
	Source   Source           // required
	Commands Commands         // required
	Clock    func() time.Time // injected; payoutd passes time.Now (default time.Now)
	Tick     time.Duration    // how often due timers are checked (default 1 s)
	Logger   *slog.Logger     // default: discard
	// Observe, if set, is told the outcome of every attempt (kind,
	// Outcome*): the metrics hook. Called without locks held.
	Observe func(kind, outcome string)
	// MaxBackoff caps the delay between retries of a failing timer; the
	// first retry is one Tick later, then the delay doubles (default 1 min).
	MaxBackoff time.Duration
	// FireTimeout bounds one command (default 30 s): a hung store delays
	// the timers behind it by at most this much per tick.
	FireTimeout time.Duration
	// PageSize: events per ReadAll page while catching up (default 1,000).
	PageSize int
	// MaxPerTick caps the timers one FireDue attempts (default 10,000); the
	// rest wait for the next tick, so that a huge backlog does not hold the
	// lock-step of ticks and stops for minutes.
	MaxPerTick int
}

// Scheduler keeps the pending timers of the whole log and fires them when
// due. Safe for concurrent use.
type Scheduler struct {
	cfg Config
	log *slog.Logger

	mu   sync.Mutex
	set  *pendingSet
	next uint64 // the global position after the last event applied

	ready  atomic.Bool
	fireMu sync.Mutex // one FireDue at a time
}

// New returns a Scheduler; it reads nothing until CatchUp or Run. Errors:
// ErrInvalidConfig (no Source or Commands, a negative duration or size).
func New(cfg Config) (*Scheduler, error) {
	if cfg.Source == nil || cfg.Commands == nil {
		return nil, fmt.Errorf("%w: Source and Commands are required", ErrInvalidConfig)
	}
	if cfg.Tick < 0 || cfg.MaxBackoff < 0 || cfg.FireTimeout < 0 || cfg.PageSize < 0 || cfg.MaxPerTick < 0 {
		return nil, fmt.Errorf("%w: durations and sizes must not be negative", ErrInvalidConfig)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Tick == 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.FireTimeout == 0 {
		cfg.FireTimeout = DefaultFireTimeout
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.MaxPerTick == 0 {
		cfg.MaxPerTick = DefaultMaxPerTick
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{cfg: cfg, log: log.With("component", "timers"), set: newPendingSet()}, nil
}

// Ready reports whether the scheduler has caught up with the log at least
// once: before that its pending set may miss timers (or hold ended ones).
func (s *Scheduler) Ready() bool { return s.ready.Load() }

// Position is the global position of the last event applied to the
// pending set (0 before any): with the store's head, the scheduler's lag.
func (s *Scheduler) Position() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next == 0 {
		return 0
	}
	return s.next - 1
}

// Pending returns the pending timers by due time (for operations and
// metrics); the timer being fired at the moment is included.
func (s *Scheduler) Pending() []Timer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set.list()
}

// CatchUp reads the log from where the scheduler stands to its current end
// (from position 0 on a new Scheduler) and marks it ready. Run calls it;
// tests and tools may call it instead of Run. Errors: the Source's.
func (s *Scheduler) CatchUp(ctx context.Context) error {
	for {
		s.mu.Lock()
		from := s.next
		s.mu.Unlock()
		page, err := s.cfg.Source.ReadAll(ctx, from, s.cfg.PageSize)
		if err != nil {
			return fmt.Errorf("timers: read the log from %d: %w", from, err)
		}
		if len(page) == 0 {
			s.ready.Store(true)
			return nil
		}
		for _, r := range page {
			s.apply(r)
		}
	}
}

// apply folds one stored event into the pending set. An event already
// applied (a resubscription overlapping the catch-up) is skipped; an event
// that cannot be decoded is logged and skipped: it cannot be a timer's
// start or end the domain knows, and stopping every timer for it would be
// worse (the handler refuses to serve that shop anyway).
func (s *Scheduler) apply(r eventstore.RecordedEvent) {
	if err := s.applyLocked(r); err != nil {
		s.log.Error("undecodable event skipped", "stream", r.Stream, "version", r.Version, "position", r.Position, "type", r.Type, "err", err)
		s.observe("event", OutcomeUndecodable)
	}
}

func (s *Scheduler) applyLocked(r eventstore.RecordedEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Position < s.next {
		return nil
	}
	s.next = r.Position + 1
	if !relevant[r.Type] {
		return nil
	}
	ref, ok := domain.ParseStream(r.Stream)
	if !ok {
		return nil
	}
	ev, err := handler.Decode(r)
	if err != nil {
		return err
	}
	s.set.apply(ref, ev)
	return nil
}

// Run catches up with the log, fires what is already due, then follows
// the log live and fires timers as they fall due, every Tick, until ctx is
// done (it returns ctx.Err()). Read and subscription failures are logged
// and retried with backoff; only a closed store (eventstore.ErrClosed)
// ends Run early, with that error.
func (s *Scheduler) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kick := make(chan struct{}, 1)
	followed := make(chan error, 1)
	go func() { followed <- s.follow(ctx, kick) }()
	ticker := time.NewTicker(s.cfg.Tick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			<-followed
			return ctx.Err()
		case err := <-followed:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		case <-kick:
		case <-ticker.C:
		}
		if !s.Ready() {
			continue
		}
		if _, err := s.FireDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("some due timers failed; they are retried", "err", err)
		}
	}
}

// follow catches up, kicks the firing loop, then subscribes from where the
// catch-up ended; on a failure it starts again from the last event applied.
func (s *Scheduler) follow(ctx context.Context, kick chan<- struct{}) error {
	failures := 0
	for {
		err := s.CatchUp(ctx)
		if err == nil {
			select {
			case kick <- struct{}{}:
			default:
			}
			s.mu.Lock()
			from := s.next
			s.mu.Unlock()
			err = s.cfg.Source.Subscribe(ctx, from, func(r eventstore.RecordedEvent) error {
				s.apply(r)
				failures = 0
				return nil
			})
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, eventstore.ErrClosed) {
			return fmt.Errorf("timers: %w", err)
		}
		failures++
		wait := s.backoff(failures)
		s.log.Warn("following the log failed; starting again", "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// backoff is the delay before attempt n+1 after n failures: one Tick,
// then doubling, capped at MaxBackoff.
func (s *Scheduler) backoff(failures int) time.Duration {
	d := s.cfg.Tick
	for i := 1; i < failures && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxBackoff)
}

func (s *Scheduler) observe(kind, outcome string) {
	if s.cfg.Observe != nil {
		s.cfg.Observe(kind, outcome)
	}
}
