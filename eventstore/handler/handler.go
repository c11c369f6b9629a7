// Package handler is the application layer between a transport (HTTP,
// tests, the demo) and the domain: it loads a shop's state from the event
// store, decides the command with domain.Decide, and appends the events
// with the stream version the decision saw. If another writer got there
// first the append fails on its expected version; the handler catches up
// and decides again, a bounded number of times. Limits therefore hold
// across any number of handler instances and processes sharing one store.
//
// Idempotency lives here and lasts as long as the ledger: every event
// carries the command's idempotency key and a digest of its body, so a
// retried command is answered from the events it produced the first time,
// even after a restart or from another process.
package handler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
}

// Handler decides and appends commands. Safe for concurrent use; commands
// on one shop are decided one at a time in this process, commands on
// different shops in parallel.
type Handler struct {
	store eventstore.Store
	cfg   Config

	mu     sync.Mutex
	shops  map[string]*shopEntry
	snapWG sync.WaitGroup
}

type shopEntry struct {
	mu       sync.Mutex
	shop     *domain.Shop
	head     eventstore.Hash
	idem     map[string]IdemRecord
	ready    bool
	snapshot uint64 // version of the last snapshot loaded or written
}

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
	return &Handler{store: store, cfg: cfg, shops: map[string]*shopEntry{}}
}

// Digest identifies a command body: the same key with another digest is
// idempotency.key_reused.
func Digest(cmd domain.Command) string {
	b, _ := json.Marshal(cmd) // commands are plain data; Marshal cannot fail
	h := sha256.New()
	h.Write([]byte(cmd.CommandName()))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Handle decides cmd and appends its events. It returns a
// *domain.Rejection for a refused command (nothing appended), ErrConflict
// when retries ran out, or a store error.
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
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.ready {
		if err := h.load(ctx, stream, e); err != nil {
			return Result{}, err
		}
	}
	fresh := false // the cache was confirmed at the head during this call
	for attempt := 0; ; attempt++ {
		if meta.IdempotencyKey != "" {
			if rec, ok := e.idem[meta.IdempotencyKey]; ok {
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
		}
		req := domain.Request{
			Now: h.cfg.Clock(), Actor: meta.Actor, IdempotencyKey: meta.IdempotencyKey,
			CorrelationID: meta.CorrelationID, CausationID: meta.CausationID, CommandDigest: digest,
			Holidays: h.cfg.Holidays,
		}
		payloads, err := domain.Decide(e.shop, cmd, req)
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
				if v != e.shop.Version {
					if err := h.catchUp(ctx, stream, e); err != nil {
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
		res, err := h.store.Append(ctx, stream, eventstore.ExpectedVersion(e.shop.Version), data)
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			if attempt+1 >= h.cfg.MaxRetries {
				return Result{}, fmt.Errorf("%w (%d attempts on %s)", ErrConflict, attempt+1, stream)
			}
			if err := h.catchUp(ctx, stream, e); err != nil {
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
			domain.Apply(e.shop, events[i].Data)
		}
		events[len(events)-1].Position = res.LastPosition
		e.head = res.LastHash
		if h.cfg.OnAppend != nil {
			h.cfg.OnAppend(stream, res.LastVersion, res.LastHash)
		}
		if meta.IdempotencyKey != "" {
			e.idem[meta.IdempotencyKey] = IdemRecord{Digest: digest, First: res.FirstVersion, Last: res.LastVersion}
		}
		h.maybeSnapshot(stream, e)
		return Result{Stream: stream, Events: events, Version: res.LastVersion}, nil
	}
}

// State returns a copy-safe view of a shop's state, caught up with the
// store, for queries that need the decision state (tests, the demo).
// The returned value must not be modified.
func (h *Handler) State(ctx context.Context, ref domain.ShopRef) (*domain.Shop, error) {
	e := h.entry(ref.Stream(), ref)
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.ready {
		if err := h.load(ctx, ref.Stream(), e); err != nil {
			return nil, err
		}
	} else if err := h.catchUp(ctx, ref.Stream(), e); err != nil {
		return nil, err
	}
	return e.shop, nil
}

func (h *Handler) entry(stream string, ref domain.ShopRef) *shopEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.shops[stream]
	if !ok {
		e = &shopEntry{shop: domain.NewShop(ref), idem: map[string]IdemRecord{}}
		h.shops[stream] = e
	}
	return e
}

// catchUp reads the events after the cached version and applies them,
// verifying the hash chain as it goes.
func (h *Handler) catchUp(ctx context.Context, stream string, e *shopEntry) error {
	verifier := eventstore.ChainVerifier{Stream: stream}
	verifier.Reset(e.shop.Version, e.head)
	for {
		recs, err := h.store.ReadStream(ctx, stream, e.shop.Version+1, h.cfg.PageSize)
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		for _, r := range recs {
			if err := verifier.Check(r); err != nil {
				return fmt.Errorf("%w: %v", ErrCorruptStream, err)
			}
			ev, err := Decode(r)
			if err != nil {
				return fmt.Errorf("%w: %s v%d: %v", ErrCorruptStream, stream, r.Version, err)
			}
			domain.Apply(e.shop, ev.Data)
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
