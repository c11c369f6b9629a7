// Package handler is the application layer between a transport (HTTP,
// tests, the demo) and the domain: it loads a shop's state from the event
// store, decides the command with domain.Decide, and appends the events
// with the stream version the decision saw. If another writer got there
// first the append fails on its expected version; the handler catches up
// and decides again, a bounded number of times. Limits therefore hold
// across any number of handler instances and processes sharing one store.
//
// Accepted commands reach the store by group commit (groupcommit.go): the
// commands decided while a commit is in flight go out together as one
// atomic batch, fsynced once, and each is answered when its batch is
// durable. Config.GroupCommit = GroupCommitOff appends every command on
// its own, holding its shop until the store answers.
//
// Idempotency lives here and lasts as long as the ledger: every event
// carries the command's idempotency key and a digest of its body, so a
// retried command is answered from the events it produced the first time,
// even after a restart or from another process.
package handler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
)

// ErrConflict: the command lost the race for its shop's stream more times
// than the retry bound allows (HTTP 409). Nothing was appended.
var ErrConflict = errors.New("handler: concurrent writers kept winning; retry the command")

// ErrCorruptStream: a stored event of the shop could not be decoded or its
// hash chain does not verify; the shop is not served.
var ErrCorruptStream = errors.New("handler: stored stream cannot be read")

// Meta is what the transport knows about a command besides its body.
type Meta struct {
	Actor          domain.Actor
	IdempotencyKey string
	CorrelationID  string
	CausationID    string
}

// Result is the outcome of an accepted command.
type Result struct {
	Stream  string
	Events  []domain.Event // the events appended (for a replay: those of the first outcome)
	Version uint64         // the stream version after the command's events
	// Replayed: the idempotency key was seen before with the same command;
	// nothing was appended and Events are the first outcome's.
	Replayed bool
}

// GroupCommit selects how accepted commands reach the store.
type GroupCommit int

const (
	// GroupCommitOn (the default): commands decided while a commit is in
	// flight are appended together as one atomic batch
	// (eventstore.BatchAppender); a lone command goes out at once.
	GroupCommitOn GroupCommit = iota
	// GroupCommitOff: each command is appended on its own while its shop
	// is held (the behaviour before group commit; for comparisons).
	GroupCommitOff
)

// Defaults of the group-commit settings.
const (
	// DefaultMaxBatchBytes bounds the event bodies of one batch. The
	// server limits each message (max_payload), not a batch; this keeps a
	// batch's staging memory and, on a replicated stream, its proposal
	// reasonable.
	DefaultMaxBatchBytes = 8 << 20
	// DefaultMaxInflightBatches: batches in flight at once. A shop is in
	// at most one of them (its next expected sequence is only known once
	// the previous batch is acknowledged). One: the server commits a
	// stream's batches one after the other anyway, and the queue that
	// grows meanwhile makes the next batch larger (measured on 2 cores,
	// InitiatePayout across 1,000 shops: 64 clients 9.2k/s with 1 against
	// 7.9k/s with 4, 256 clients the same; docs/performance.md).
	DefaultMaxInflightBatches = 1
	// DefaultSmallBatch: below this many commands an atomic batch costs
	// more than plain appends in parallel (docs/performance.md).
	DefaultSmallBatch = 8
)

// Config tunes a Handler. Zero values take the defaults.
type Config struct {
	Clock      func() time.Time // default time.Now
	IDs        domain.IDSource  // default UUID v7
	MaxRetries int              // conflicts retried per command; default 16
	Holidays   map[string]bool  // non-business days for refund due dates
	PageSize   int              // events per read when loading a stream; default 1000
	// OnAppend, if set, is told every stream head this handler appended
	// (tail-truncation guard: heads are kept outside the streams). Called
	// with the shop's lock held: it must be quick and must not call back.
	OnAppend func(stream string, version uint64, head eventstore.Hash)
	// Snapshots, if set, keeps the decision state of long streams so that
	// loading a shop reads only the events after its last snapshot.
	Snapshots SnapshotStore
	// SnapshotEvery: a snapshot is written once this many events were
	// applied since the last one (default 10,000).
	SnapshotEvery uint64

	// GroupCommit: GroupCommitOn (default) or GroupCommitOff.
	GroupCommit GroupCommit
	// MaxBatchEvents caps the events of one batch (default and maximum
	// eventstore.MaxEventsPerAppend, the server's max_batch_size).
	MaxBatchEvents int
	// MaxBatchBytes caps the event bodies of one batch (default
	// DefaultMaxBatchBytes); a single command larger than this still goes
	// out, alone.
	MaxBatchBytes int
	// MaxInflightBatches caps the batches in flight at once (default
	// DefaultMaxInflightBatches). Keep it below the store's own cap
	// (jetstream.Config.MaxInflightBatches, 32 by default).
	MaxInflightBatches int
	// SmallBatch: a batch of at most this many single-event commands on
	// distinct shops goes out as one plain append per command, in
	// parallel, instead of one atomic batch (default DefaultSmallBatch;
	// -1: always an atomic batch). With a store whose plain appends wait
	// for no fsync (eventstore.FsyncReporter), every batch of single-event
	// commands goes out that way, whatever its size.
	SmallBatch int
	// CommitTimeout bounds one batch's append (default 30 s). Batches do
	// not run on a caller's context: a cancelled caller must not abort
	// its neighbours' commit.
	CommitTimeout time.Duration
}

// Handler decides and appends commands. Safe for concurrent use; commands
// on one shop are decided one at a time in this process, commands on
// different shops in parallel.
type Handler struct {
	store eventstore.Store
	cfg   Config
	gc    *committer

	mu     sync.Mutex
	shops  map[string]*shopEntry
	snapWG sync.WaitGroup
}

// shopEntry is a shop's cached state. Fields above the line are guarded
// by mu; queue, inflight and inReady by the committer's mutex (lock order:
// shop, then committer).
type shopEntry struct {
	mu     sync.Mutex
	ref    domain.ShopRef
	stream string
	// committed is the state of the stored events this handler knows of;
	// head is their chain head.
	committed *domain.Shop
	head      eventstore.Hash
	// pending is committed plus the accepted commands not yet stored:
	// decisions are taken against it. nil while stale.
	pending *domain.Shop
	idem    map[string]IdemRecord // keys of stored commands
	// pendingIdem: keys of accepted commands not yet stored; a retry
	// with one of them waits for the outcome.
	pendingIdem map[string]*command
	ready       bool
	// stale: pending state was dropped (a refused or failed batch); the
	// next user catches up with the store and rebuilds it. Only ever set
	// while npending is 0.
	stale bool
	// gen changes whenever state arrives that this handler did not decide
	// (catch-up) or pending state is dropped: a rejection waiting for
	// confirmation is decided again.
	gen      uint64
	npending int      // accepted commands not yet resolved
	tail     *command // the last of them
	snapshot uint64   // version of the last snapshot loaded or written

	queue    []*command // decided, not yet in a batch
	queued   int        // events in queue
	inflight bool       // a batch holding this shop is in flight
	inReady  bool       // listed in committer.ready
}

// quiescent: nothing of this shop is on its way to the store, so a read
// of the stream shows only others' events after committed.
func (e *shopEntry) quiescent() bool { return e.npending == 0 }

// IdemRecord is where an idempotency key's first outcome lies in the
// stream: its events are versions First..Last, decided from a command
// whose body had Digest. The events themselves are read back on a replay,
// so the record is small enough to keep for the life of the ledger.
type IdemRecord struct {
	Digest      string
	First, Last uint64
}

// New returns a Handler over a store.
func New(store eventstore.Store, cfg Config) *Handler {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.IDs == nil {
		cfg.IDs = domain.NewV7
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 16
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 1000
	}
	if cfg.SnapshotEvery == 0 {
		cfg.SnapshotEvery = 10_000
	}
	if cfg.MaxBatchEvents <= 0 || cfg.MaxBatchEvents > eventstore.MaxEventsPerAppend {
		cfg.MaxBatchEvents = eventstore.MaxEventsPerAppend
	}
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if cfg.MaxInflightBatches <= 0 {
		cfg.MaxInflightBatches = DefaultMaxInflightBatches
	}
	if cfg.SmallBatch == 0 {
		cfg.SmallBatch = DefaultSmallBatch
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = 30 * time.Second
	}
	h := &Handler{store: store, cfg: cfg, shops: map[string]*shopEntry{}}
	h.gc = newCommitter(h)
	return h
}

// Handle decides cmd and appends its events. It returns a
// *domain.Rejection for a refused command (nothing appended), ErrConflict
// when retries ran out, or a store error.
//
// With group commit, Handle returns once the batch holding the command's
// events is durable. If ctx ends first, Handle returns ctx.Err() at once,
// but a command already decided stays in the pipeline: it is stored or not
// with its batch, as a whole. Retrying with the same idempotency key
// returns that outcome (or waits for it).
func (h *Handler) Handle(ctx context.Context, cmd domain.Command, meta Meta) (Result, error) {
	stream := cmd.Shop().Stream()
	if _, ok := domain.ParseStream(stream); !ok {
		return Result{}, &domain.Rejection{Code: domain.CodeInputInvalid, Message: fmt.Sprintf("shop reference %q is malformed", stream)}
	}
	if len(meta.IdempotencyKey) > 200 {
		return Result{}, &domain.Rejection{Code: domain.CodeInputInvalid, Message: "idempotency key longer than 200 bytes"}
	}
	digest := Digest(cmd)
	e := h.entry(stream, cmd.Shop())
	if h.cfg.GroupCommit == GroupCommitOff {
		return h.handleDirect(ctx, e, cmd, meta, digest)
	}
	return h.handleGrouped(ctx, e, cmd, meta, digest)
}

func (h *Handler) request(meta Meta, digest string) domain.Request {
	return domain.Request{
		Now: h.cfg.Clock(), Actor: meta.Actor, IdempotencyKey: meta.IdempotencyKey,
		CorrelationID: meta.CorrelationID, CausationID: meta.CausationID, CommandDigest: digest,
		Holidays: h.cfg.Holidays,
	}
}

// replay answers a key seen before: the first outcome's events, or
// idempotency.key_reused for another body.
func (h *Handler) replay(ctx context.Context, stream string, rec IdemRecord, digest string) (Result, error) {
	if rec.Digest != digest {
		return Result{}, &domain.Rejection{Code: domain.CodeIdempotencyReused,
			Message: "the idempotency key was used for a different command"}
	}
	events, err := h.readEvents(ctx, stream, rec.First, rec.Last)
	if err != nil {
		return Result{}, err
	}
	return Result{Stream: stream, Events: events, Version: rec.Last, Replayed: true}, nil
}

// handleDirect is the path without group commit: decide and append while
// holding the shop.
func (h *Handler) handleDirect(ctx context.Context, e *shopEntry, cmd domain.Command, meta Meta, digest string) (Result, error) {
	stream := e.stream
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := h.prepare(ctx, e); err != nil {
		return Result{}, err
	}
	fresh := false // the cache was confirmed at the head during this call
	for attempt := 0; ; attempt++ {
		if meta.IdempotencyKey != "" {
			if rec, ok := e.idem[meta.IdempotencyKey]; ok {
				return h.replay(ctx, stream, rec, digest)
			}
		}
		req := h.request(meta, digest)
		payloads, err := domain.Decide(e.pending, cmd, req)
		if err != nil {
			// A refusal decided on a stale cache would be wrong (another
			// process may have created the payout, or released a limit):
			// before answering, make sure the cache is at the stream's head.
			if !fresh {
				fresh = true
				v, _, herr := h.store.Head(ctx, stream)
				if herr != nil {
					return Result{}, fmt.Errorf("head of %s: %w", stream, herr)
				}
				if v != e.committed.Version {
					if err := h.catchUp(ctx, e); err != nil {
						return Result{}, err
					}
					continue
				}
			}
			return Result{}, err
		}
		events := domain.NewEvents(stream, cmd.CommandName(), req, h.cfg.IDs, payloads)
		data, err := Encode(events)
		if err != nil {
			return Result{}, err
		}
		res, err := h.store.Append(ctx, stream, eventstore.ExpectedVersion(e.committed.Version), data)
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			if attempt+1 >= h.cfg.MaxRetries {
				return Result{}, fmt.Errorf("%w (%d attempts on %s)", ErrConflict, attempt+1, stream)
			}
			if err := h.catchUp(ctx, e); err != nil {
				return Result{}, err
			}
			fresh = true
			continue
		}
		if err != nil {
			return Result{}, fmt.Errorf("append to %s: %w", stream, err)
		}
		for i := range events {
			events[i].Version = res.FirstVersion + uint64(i)
			domain.Apply(e.committed, events[i].Data)
			domain.Apply(e.pending, events[i].Data)
		}
		events[len(events)-1].Position = res.LastPosition
		h.stored(e, meta.IdempotencyKey, digest, res)
		h.maybeSnapshot(e)
		return Result{Stream: stream, Events: events, Version: res.LastVersion}, nil
	}
}

// stored records an append's head and key (shop lock held, events already
// applied to committed).
func (h *Handler) stored(e *shopEntry, key, digest string, res eventstore.AppendResult) {
	e.head = res.LastHash
	if h.cfg.OnAppend != nil {
		h.cfg.OnAppend(e.stream, res.LastVersion, res.LastHash)
	}
	if key != "" {
		e.idem[key] = IdemRecord{Digest: digest, First: res.FirstVersion, Last: res.LastVersion}
	}
}

// State returns a copy-safe view of a shop's state, caught up with the
// store, for queries that need the decision state (tests, the demo). It
// waits for the shop's commands in flight. The returned value must not be
// modified.
func (h *Handler) State(ctx context.Context, ref domain.ShopRef) (*domain.Shop, error) {
	e := h.entry(ref.Stream(), ref)
	for {
		e.mu.Lock()
		if e.quiescent() {
			break
		}
		tail := e.tail
		e.mu.Unlock()
		if err := wait(ctx, tail.done); err != nil {
			return nil, err
		}
	}
	defer e.mu.Unlock()
	if !e.ready || e.stale {
		if err := h.prepare(ctx, e); err != nil {
			return nil, err
		}
	} else if err := h.catchUp(ctx, e); err != nil {
		return nil, err
	}
	return e.committed, nil
}

func (h *Handler) entry(stream string, ref domain.ShopRef) *shopEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.shops[stream]
	if !ok {
		e = &shopEntry{ref: ref, stream: stream, committed: domain.NewShop(ref), pending: domain.NewShop(ref),
			idem: map[string]IdemRecord{}, pendingIdem: map[string]*command{}}
		h.shops[stream] = e
	}
	return e
}

// prepare makes a shop servable (lock held): loaded on first use, caught
// up and its pending state rebuilt after a refused or failed batch.
func (h *Handler) prepare(ctx context.Context, e *shopEntry) error {
	if !e.ready {
		return h.load(ctx, e)
	}
	if !e.stale {
		return nil
	}
	if err := h.catchUp(ctx, e); err != nil {
		return err
	}
	pending, err := cloneShop(e.committed)
	if err != nil {
		return err
	}
	e.pending, e.stale = pending, false
	return nil
}

// cloneShop copies a state through its snapshot encoding (only after a
// refused or failed batch: rare).
func cloneShop(s *domain.Shop) (*domain.Shop, error) {
	b, err := domain.EncodeState(s)
	if err != nil {
		return nil, err
	}
	return domain.DecodeState(b)
}

// catchUp reads the events after the committed version and applies them
// (to the pending state too, which equals committed here: callers hold a
// quiescent shop), verifying the hash chain as it goes.
func (h *Handler) catchUp(ctx context.Context, e *shopEntry) error {
	stream := e.stream
	verifier := eventstore.ChainVerifier{Stream: stream}
	verifier.Reset(e.committed.Version, e.head)
	for {
		recs, err := h.store.ReadStream(ctx, stream, e.committed.Version+1, h.cfg.PageSize)
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		if len(recs) > 0 {
			e.gen++
		}
		for _, r := range recs {
			if err := verifier.Check(r); err != nil {
				return fmt.Errorf("%w: %v", ErrCorruptStream, err)
			}
			ev, err := Decode(r)
			if err != nil {
				return fmt.Errorf("%w: %s v%d: %v", ErrCorruptStream, stream, r.Version, err)
			}
			domain.Apply(e.committed, ev.Data)
			if e.pending != nil {
				domain.Apply(e.pending, ev.Data)
			}
			e.head = r.Hash
			if ev.IdempotencyKey != "" {
				// A command's events are contiguous (one append): the first
				// sets the record, the following ones extend it.
				rec, seen := e.idem[ev.IdempotencyKey]
				switch {
				case !seen:
					e.idem[ev.IdempotencyKey] = IdemRecord{Digest: ev.CommandDigest, First: r.Version, Last: r.Version}
				case rec.Last+1 == r.Version && rec.Digest == ev.CommandDigest:
					rec.Last = r.Version
					e.idem[ev.IdempotencyKey] = rec
				}
			}
		}
		if len(recs) < h.cfg.PageSize {
			return nil
		}
	}
}

// Encode turns domain events into the store's shape.
func Encode(events []domain.Event) ([]eventstore.EventData, error) {
	out := make([]eventstore.EventData, len(events))
	for i, ev := range events {
		b, err := domain.EncodeBody(ev)
		if err != nil {
			return nil, err
		}
		out[i] = eventstore.EventData{ID: ev.ID, Type: ev.Type, SchemaVersion: ev.SchemaVersion, Data: b}
	}
	return out, nil
}

// Decode turns a stored event back into a domain event with its envelope
// (stream, version, position, recorded-at, hashes).
func Decode(r eventstore.RecordedEvent) (domain.Event, error) {
	ev, err := domain.DecodeBody(r.ID, r.Type, r.SchemaVersion, r.Data)
	if err != nil {
		return domain.Event{}, err
	}
	ev.Stream, ev.Version, ev.Position, ev.RecordedAt = r.Stream, r.Version, r.Position, r.RecordedAt
	ev.PrevHash, ev.Hash = r.PrevHash.String(), r.Hash.String()
	return ev, nil
}

// wait blocks until done is closed or ctx ends.
func wait(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
