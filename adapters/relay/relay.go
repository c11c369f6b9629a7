// Package relay publishes the events of an event store that is not NATS
// (the EventStoreDB backend, adapters/esdb) to a JetStream stream, so that
// downstream consumers read the same messages as with the default backend:
// the same subjects (<prefix>.<category>.<id>.<EventType>), the same
// headers and body (jetstream.Encode), plus Ledger-Position, the event's
// position in the source.
//
// Exactly once per event ID. The relay is the only writer of its target
// stream, and the stream's last message is its checkpoint: on start it
// reads that message's Ledger-Position and subscribes to the source right
// after it, so there is no separate checkpoint write that a crash could
// separate from the publish. Every publish expects the target's last
// sequence to be the one before it (Nats-Expected-Last-Sequence): a
// message can only land right after its predecessor, so a failed publish
// can never leave a gap behind later ones, and a publish from a crashed
// run that lands after the restart read its checkpoint makes the new run's
// next publish fail and start over from the new checkpoint. Nats-Msg-Id (=
// the event ID) is a second line within the stream's duplicate window.
//
// Publishes are pipelined: up to Config.MaxInflight are in flight, their
// acknowledgements checked in order.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/eventstore"
)

// HeaderPosition is the header carrying the event's position in the source
// store (decimal): the relay's checkpoint.
const HeaderPosition = "Ledger-Position"

// Defaults of Config.
const (
	DefaultStream          = "LEDGER_EVENTS"
	DefaultSubjectPrefix   = jetstream.DefaultSubjectPrefix
	DefaultMaxInflight     = 256
	DefaultAckTimeout      = 10 * time.Second
	DefaultDuplicateWindow = 2 * time.Minute // one publisher: thousands of IDs, not millions
)

// Errors that stop Run (it retries everything else).
var (
	// ErrTargetStream: the target stream exists with a configuration that
	// could drop or rewrite relayed events (and so the checkpoint), or
	// that holds other subjects.
	ErrTargetStream = errors.New("relay: unusable target stream")
	// ErrCheckpoint: the last message of the target stream is not a
	// relayed ledger event (another writer published into it).
	ErrCheckpoint = errors.New("relay: last message of the target stream is not a relayed event")
	// ErrDuplicateID: the source delivered an event whose ID the target
	// already holds at an earlier position (the source holds it twice).
	ErrDuplicateID = errors.New("relay: event ID already relayed")
)

// Config of a relay.
type Config struct {
	// Source is the store whose events are relayed, in global order.
	Source eventstore.Store
	// NATS is the connection to the target server; the relay needs to
	// publish on <SubjectPrefix>.> and manage Stream. The caller closes it
	// after Run returned.
	NATS *nats.Conn
	// Stream is the target JetStream stream (default "LEDGER_EVENTS"). Run
	// creates it when missing.
	Stream string
	// SubjectPrefix is the first token(s) of every subject (default "ledger").
	SubjectPrefix string
	// Replicas of the stream when Run creates it: 1 (default) or 3.
	Replicas int
	// DuplicateWindow of the stream when Run creates it (default 2 min).
	DuplicateWindow time.Duration
	// MaxInflight bounds the publishes awaiting their ack (default 256).
	MaxInflight int
	// AckTimeout bounds the wait for one ack (default 10 s).
	AckTimeout time.Duration
	// Logger receives restarts and progress (default: discarded).
	Logger *slog.Logger
}

// Relay copies the source's events to the target stream. Run it in one
// process at a time per target stream (a second one is safe, only wasted:
// their publishes refuse each other and restart).
type Relay struct {
	cfg Config
	js  njs.JetStream

	mu        sync.Mutex
	cancelRun context.CancelCauseFunc // of the current run: a failed publish stops it
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Relay, error) {
	switch {
	case cfg.Source == nil:
		return nil, errors.New("relay: config: Source is required")
	case cfg.NATS == nil:
		return nil, errors.New("relay: config: NATS is required")
	}
	if cfg.Stream == "" {
		cfg.Stream = DefaultStream
	}
	if cfg.SubjectPrefix == "" {
		cfg.SubjectPrefix = DefaultSubjectPrefix
	}
	if _, err := jetstream.EventSubject(cfg.SubjectPrefix, "a.b", "c"); err != nil {
		return nil, fmt.Errorf("relay: config: SubjectPrefix %q: want dot-separated tokens of [A-Za-z0-9_-]", cfg.SubjectPrefix)
	}
	switch cfg.Replicas {
	case 0:
		cfg.Replicas = 1
	case 1, 3:
	default:
		return nil, fmt.Errorf("relay: config: Replicas %d: want 1 or 3", cfg.Replicas)
	}
	if cfg.DuplicateWindow == 0 {
		cfg.DuplicateWindow = DefaultDuplicateWindow
	}
	if cfg.MaxInflight == 0 {
		cfg.MaxInflight = DefaultMaxInflight
	}
	if cfg.AckTimeout == 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.DuplicateWindow < 100*time.Millisecond || cfg.MaxInflight < 1 || cfg.AckTimeout < 0 {
		return nil, errors.New("relay: config: DuplicateWindow (>= 100ms), MaxInflight and AckTimeout must be positive")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Relay{cfg: cfg}
	js, err := njs.New(cfg.NATS, njs.WithPublishAsyncMaxPending(cfg.MaxInflight), njs.WithPublishAsyncTimeout(cfg.AckTimeout),
		njs.WithPublishAsyncErrHandler(r.publishFailed), njs.WithPublishAsyncAckHandler(r.published))
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	r.js = js
	return r, nil
}

// published stops the current run at a duplicate as soon as it is
// acknowledged (the in-order check may only come with a later event).
func (r *Relay) published(_ njs.JetStream, m *nats.Msg, ack *njs.PubAck) {
	if ack.Duplicate {
		r.stopRun(permanent{fmt.Errorf("%w: event %s (source position %s) is already at %s sequence %d", ErrDuplicateID, m.Header.Get(jetstream.HeaderEventID), m.Header.Get(HeaderPosition), ack.Stream, ack.Sequence)})
	}
}

func (r *Relay) stopRun(err error) {
	r.mu.Lock()
	cancel := r.cancelRun
	r.mu.Unlock()
	if cancel != nil {
		cancel(err)
	}
}

// publishFailed stops the current run as soon as a publish fails, even
// when the source is quiet and no later event would notice it.
func (r *Relay) publishFailed(_ njs.JetStream, m *nats.Msg, err error) {
	r.stopRun(fmt.Errorf("relay: publish of source position %s: %w", m.Header.Get(HeaderPosition), err))
}

// permanent marks an error Run must not retry.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// Run relays until ctx is done (it returns ctx's error) or a permanent
// failure: ErrTargetStream, ErrCheckpoint, ErrDuplicateID, an event the
// subject scheme cannot carry (eventstore.ErrInvalidAppend), the source
// closed (eventstore.ErrClosed), the NATS connection closed
// (nats.ErrConnectionClosed), or the target stream not reachable at start.
// Anything else (a refused or lost publish, a source read error) is logged
// and retried from the checkpoint, with a backoff of up to 5 s.
func (r *Relay) Run(ctx context.Context) error {
	st, err := r.ensureStream(ctx)
	if err != nil {
		if stop := r.stopped(ctx, err); stop != nil {
			return stop
		}
		return err // the target is unreachable at start: the caller decides
	}
	wait := 100 * time.Millisecond
	for {
		progressed, err := r.runOnce(ctx, st)
		if stop := r.stopped(ctx, err); stop != nil {
			return stop
		}
		if progressed {
			wait = 100 * time.Millisecond
		}
		r.cfg.Logger.Warn("relay: restarting from the checkpoint", "stream", r.cfg.Stream, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// stopped returns the error Run returns, or nil when err is retried.
func (r *Relay) stopped(ctx context.Context, err error) error {
	var p permanent
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.As(err, &p):
		return p.error
	case errors.Is(err, eventstore.ErrClosed), errors.Is(err, nats.ErrConnectionClosed):
		return err
	case r.cfg.NATS.IsClosed(): // some client errors only say so in their text
		return fmt.Errorf("%w: %w", nats.ErrConnectionClosed, err)
	}
	return nil
}

// streamConfig is the stream Run creates: nothing removes or rewrites a
// relayed event, since the last one is the checkpoint.
func (r *Relay) streamConfig() njs.StreamConfig {
	return njs.StreamConfig{
		Name:              r.cfg.Stream,
		Description:       "payout ledger events relayed from the event store (append-only)",
		Subjects:          []string{r.cfg.SubjectPrefix + ".>"},
		Retention:         njs.LimitsPolicy,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxMsgsPerSubject: -1,
		MaxMsgSize:        -1,
		Discard:           njs.DiscardNew,
		Storage:           njs.FileStorage,
		Replicas:          r.cfg.Replicas,
		Duplicates:        r.cfg.DuplicateWindow,
		DenyDelete:        true,
		DenyPurge:         true,
		AllowDirect:       true,
	}
}

func (r *Relay) ensureStream(ctx context.Context) (njs.Stream, error) {
	st, err := r.js.Stream(ctx, r.cfg.Stream)
	if errors.Is(err, njs.ErrStreamNotFound) {
		st, err = r.js.CreateStream(ctx, r.streamConfig())
	}
	if err != nil {
		return nil, fmt.Errorf("relay: stream %s: %w", r.cfg.Stream, err)
	}
	if err := r.checkStream(st.CachedInfo().Config); err != nil {
		return nil, permanent{err}
	}
	return st, nil
}

// checkStream refuses a target stream that could lose relayed events or
// hold messages the relay did not write.
func (r *Relay) checkStream(c njs.StreamConfig) error {
	refuse := func(setting, why string) error {
		return fmt.Errorf("%w %s: %s: %s", ErrTargetStream, c.Name, setting, why)
	}
	want := r.cfg.SubjectPrefix + ".>"
	switch {
	case c.Storage != njs.FileStorage:
		return refuse("storage "+c.Storage.String(), "relayed events must be on disk")
	case c.Retention != njs.LimitsPolicy:
		return refuse("retention "+c.Retention.String(), "consumed events would be deleted, and the checkpoint with them")
	case c.MaxMsgs > 0 || c.MaxBytes > 0 || c.MaxAge > 0 || c.MaxMsgsPerSubject > 0:
		return refuse("limits", "a limit drops old events, and with all of them gone the relay would start over")
	case !c.DenyDelete || !c.DenyPurge:
		return refuse("deny_delete/deny_purge false", "removing the last event moves the checkpoint back")
	case c.AllowMsgTTL:
		return refuse("allow_msg_ttl", "a per-message TTL would expire events")
	case c.Mirror != nil || len(c.Sources) > 0 || c.SubjectTransform != nil || c.Sealed:
		return refuse("mirror, sources, subject transform or sealed", "the relay must be the only writer")
	case len(c.Subjects) != 1 || c.Subjects[0] != want:
		return refuse(fmt.Sprintf("subjects %v", c.Subjects), "want exactly "+want)
	}
	return nil
}

// checkpoint reads the last relayed event: the target's last sequence and
// the source position after which to resume (0, 0 for an empty stream).
func (r *Relay) checkpoint(ctx context.Context, st njs.Stream) (lastSeq, position uint64, err error) {
	info, err := st.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("relay: checkpoint: %w", err)
	}
	if info.State.LastSeq == 0 || info.State.Msgs == 0 {
		return info.State.LastSeq, 0, nil
	}
	m, err := st.GetMsg(ctx, info.State.LastSeq)
	if err != nil {
		return 0, 0, fmt.Errorf("relay: checkpoint: %w", err)
	}
	if _, err := jetstream.Decode(m.Subject, m.Sequence, m.Header, m.Data); err != nil {
		return 0, 0, permanent{fmt.Errorf("%w: %s at %d: %w", ErrCheckpoint, r.cfg.Stream, m.Sequence, err)}
	}
	pos, err := strconv.ParseUint(m.Header.Get(HeaderPosition), 10, 64)
	if err != nil || pos == 0 {
		return 0, 0, permanent{fmt.Errorf("%w: %s at %d: %s %q", ErrCheckpoint, r.cfg.Stream, m.Sequence, HeaderPosition, m.Header.Get(HeaderPosition))}
	}
	return m.Sequence, pos, nil
}

// inflight is one publish awaiting its ack.
type inflight struct {
	fut      njs.PubAckFuture
	seq      uint64 // where it must land
	position uint64 // in the source
	id       string

	ack *njs.PubAck // the answer, once received (reading the future consumes it)
	err error
}

// poll takes the publish's answer if it is there; with wait, it waits
// for it (or ctx).
func (p *inflight) poll(ctx context.Context, wait bool) bool {
	if p.ack != nil || p.err != nil {
		return true
	}
	var done <-chan struct{}
	if wait {
		done = ctx.Done()
	}
	select {
	case p.ack = <-p.fut.Ok():
	case p.err = <-p.fut.Err():
	case <-done:
		p.err = ctx.Err()
	default:
		if !wait {
			return false
		}
		select {
		case p.ack = <-p.fut.Ok():
		case p.err = <-p.fut.Err():
		case <-done:
			p.err = ctx.Err()
		}
	}
	return true
}

// runOnce relays from the checkpoint until an error; progressed reports
// whether at least one publish was acknowledged.
func (r *Relay) runOnce(parent context.Context, st njs.Stream) (progressed bool, err error) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	r.mu.Lock()
	r.cancelRun = cancel
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.cancelRun = nil
		r.mu.Unlock()
		if parent.Err() == nil && ctx.Err() != nil {
			err = context.Cause(ctx) // a publish failed, or was a duplicate
		}
	}()
	lastSeq, from, err := r.checkpoint(ctx, st)
	if err != nil {
		return false, err
	}
	r.cfg.Logger.Info("relay: resuming", "stream", r.cfg.Stream, "after_position", from, "target_seq", lastSeq)
	next := lastSeq // sequence of the last message published
	var queue []*inflight

	// settle checks the oldest publish's answer, waiting for it if wait.
	settle := func(wait bool) (bool, error) {
		p := queue[0]
		if !p.poll(ctx, wait) {
			return false, nil
		}
		queue = queue[1:]
		switch {
		case p.err != nil:
			return true, fmt.Errorf("relay: publish of source position %d: %w", p.position, p.err)
		case p.ack.Duplicate:
			return true, permanent{fmt.Errorf("%w: event %s (source position %d) is already at %s sequence %d", ErrDuplicateID, p.id, p.position, r.cfg.Stream, p.ack.Sequence)}
		case p.ack.Stream != r.cfg.Stream || p.ack.Sequence != p.seq:
			return true, fmt.Errorf("relay: publish of source position %d: acknowledged at %s %d, want %s %d", p.position, p.ack.Stream, p.ack.Sequence, r.cfg.Stream, p.seq)
		}
		progressed = true
		return true, nil
	}
	err = r.cfg.Source.Subscribe(ctx, from+1, func(e eventstore.RecordedEvent) error {
		subj, err := jetstream.EventSubject(r.cfg.SubjectPrefix, e.Stream, e.Type)
		if err != nil {
			return permanent{fmt.Errorf("relay: source position %d: %w", e.Position, err)}
		}
		m := jetstream.Encode(subj, e)
		m.Header.Set(HeaderPosition, strconv.FormatUint(e.Position, 10))
		fut, err := r.js.PublishMsgAsync(m, njs.WithExpectStream(r.cfg.Stream), njs.WithExpectLastSequence(next))
		if err != nil {
			return fmt.Errorf("relay: publish of source position %d: %w", e.Position, err)
		}
		next++
		queue = append(queue, &inflight{fut: fut, seq: next, position: e.Position, id: e.ID.String()})
		// Wait while too many are in flight; settle what is already
		// answered, so that a failure shows up even when the source goes
		// quiet afterwards.
		for len(queue) > 0 {
			settled, err := settle(len(queue) >= r.cfg.MaxInflight)
			if err != nil {
				return err
			}
			if !settled {
				break
			}
		}
		return nil
	})
	// The source stopped (ctx, an error): whatever is in flight may still
	// land, at its expected place only; the next run reads the checkpoint.
	return progressed, err
}
