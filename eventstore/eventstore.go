// Package eventstore is the storage contract of the ledger: an append-only log
// of streams with optimistic concurrency, global ordering and a per-stream
// hash chain. Backends live in adapters/ (jetstream, esdb) and all pass the
// conformance suite in eventstore/storetest.
//
// The store knows nothing of payouts: an event is an ID, a type, a schema
// version and opaque bytes (the domain's JSON). What the store adds is
// where the event sits (stream version, global position), when it was
// recorded, and the hash chain that lets an auditor prove the log was not
// altered.
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Documented errors. Backends wrap their own failures with %w around one of
// these where one applies, so callers test with errors.Is.
var (
	// ErrWrongExpectedVersion: the stream is not at the version the append
	// expected (another writer got there first). The caller reloads and
	// decides again. JetStream codes 10071 and 10164 and EventStoreDB's
	// WrongExpectedVersion all map here.
	ErrWrongExpectedVersion = errors.New("eventstore: wrong expected version")
	// ErrStreamNotFound: ReadStream on a stream that has no events.
	ErrStreamNotFound = errors.New("eventstore: stream not found")
	// ErrInvalidAppend: the append itself is malformed (empty stream name,
	// no events, too many events, nil event ID, an event too large).
	ErrInvalidAppend = errors.New("eventstore: invalid append")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("eventstore: closed")
	// ErrChainBroken: an event's hash does not follow from its predecessor's
	// (tampering, loss or reordering). Returned by VerifyChain.
	ErrChainBroken = errors.New("eventstore: hash chain broken")
)

// ExpectedVersion is the optimistic-concurrency precondition of an append:
// the number of events the stream must hold before the append.
type ExpectedVersion int64

const (
	// NoStream: the stream must not exist yet (version 0). Two writers
	// creating the same stream cannot both succeed.
	NoStream ExpectedVersion = 0
	// Any: no precondition. Never used by the command path (limits need an
	// exact version); useful for tooling and tests.
	Any ExpectedVersion = -1
)

// Limits every backend enforces, so that a caller cannot build an append
// the server would refuse half-way.
const (
	MaxEventsPerAppend = 1000
	MaxEventBytes      = 256 << 10
)

// EventData is an event as the caller hands it to Append.
type EventData struct {
	ID            uuid.UUID // chosen by the caller (UUID v7); re-appending the same IDs is idempotent
	Type          string    // e.g. "PayoutInitiated"; a persisted contract, never renamed
	SchemaVersion int       // of Data; upcast on read by the caller's decoder registry
	Data          []byte    // the event body (JSON), opaque to the store
}

// Hash is a SHA-256 digest in the per-stream chain.
type Hash [32]byte

// String renders the hash as lower-case hex.
func (h Hash) String() string { return fmt.Sprintf("%x", h[:]) }

// IsZero reports whether h is the zero hash (the predecessor of version 1).
func (h Hash) IsZero() bool { return h == Hash{} }

// RecordedEvent is an event as the store returns it.
type RecordedEvent struct {
	EventData
	Stream     string
	Version    uint64 // 1-based position in its stream
	Position   uint64 // global position: strictly increasing in ReadAll order
	RecordedAt time.Time
	PrevHash   Hash // Hash of the event at Version-1 in the same stream (zero for version 1)
	Hash       Hash // ChainHash(PrevHash, this event)
}

// AppendResult says where an append landed.
type AppendResult struct {
	Stream       string
	FirstVersion uint64 // version of the first appended event
	LastVersion  uint64 // version of the last appended event (the stream's new version)
	LastPosition uint64 // global position of the last appended event
	LastHash     Hash   // the new head of the stream's hash chain
}

// AppendRequest is one stream's part of a multi-stream batch.
type AppendRequest struct {
	Stream   string
	Expected ExpectedVersion
	Events   []EventData
}

// Store is the contract every backend implements. All methods are safe for
// concurrent use.
type Store interface {
	// Append writes events to the end of stream atomically (all or none) if
	// the stream holds exactly `expected` events (unless expected is Any).
	// It returns once the events are durable by the backend's policy.
	// Re-appending events whose IDs are already stored at the same
	// versions returns the original result and writes nothing.
	// Errors: ErrWrongExpectedVersion, ErrInvalidAppend, ErrClosed.
	Append(ctx context.Context, stream string, expected ExpectedVersion, events []EventData) (AppendResult, error)

	// ReadStream returns up to max events of stream starting at fromVersion
	// (1-based; 0 means 1), in version order. max <= 0 means a backend
	// default page. Errors: ErrStreamNotFound if the stream has no events.
	ReadStream(ctx context.Context, stream string, fromVersion uint64, max int) ([]RecordedEvent, error)

	// ReadAll returns up to max events with Position >= fromPosition in
	// global order. An empty slice means the caller is at the end.
	ReadAll(ctx context.Context, fromPosition uint64, max int) ([]RecordedEvent, error)

	// Subscribe delivers every event with Position >= fromPosition in
	// global order, first the stored ones (catch-up), then live ones as they
	// are appended, until ctx is done (returns ctx.Err()) or fn returns an
	// error (returned as is). fn is called from one goroutine at a time.
	Subscribe(ctx context.Context, fromPosition uint64, fn func(RecordedEvent) error) error

	// Head returns the stream's current version and chain head (0 and the
	// zero hash for a stream that does not exist).
	Head(ctx context.Context, stream string) (version uint64, head Hash, err error)

	// Close releases the store's resources. Further calls return ErrClosed.
	Close() error
}

// BatchAppender is implemented by backends that can append to several
// streams in one atomic, durable write (JetStream atomic batches): all the
// requests commit or none does. A conflict on any stream fails the whole
// batch with ErrWrongExpectedVersion; callers split and retry.
type BatchAppender interface {
	AppendBatch(ctx context.Context, reqs []AppendRequest) ([]AppendResult, error)
}

// FsyncReporter is implemented by a store that knows whether a plain
// Append waits for an fsync of its own before it is acknowledged. Group
// commit batches commands so that they share one fsync; where a plain
// append waits for none (JetStream's interval sync), an atomic batch
// shares nothing and costs the server more than the same appends sent in
// parallel. A store that does not implement it is taken to fsync each
// append.
type FsyncReporter interface {
	FsyncsEachAppend() bool
}

// ValidateAppend checks the parts of an append every backend refuses the
// same way.
func ValidateAppend(stream string, expected ExpectedVersion, events []EventData) error {
	if stream == "" {
		return fmt.Errorf("%w: empty stream name", ErrInvalidAppend)
	}
	if expected < Any {
		return fmt.Errorf("%w: expected version %d", ErrInvalidAppend, expected)
	}
	if len(events) == 0 {
		return fmt.Errorf("%w: no events", ErrInvalidAppend)
	}
	if len(events) > MaxEventsPerAppend {
		return fmt.Errorf("%w: %d events (max %d)", ErrInvalidAppend, len(events), MaxEventsPerAppend)
	}
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i, e := range events {
		if e.ID == uuid.Nil {
			return fmt.Errorf("%w: event %d has no ID", ErrInvalidAppend, i)
		}
		if _, dup := seen[e.ID]; dup {
			return fmt.Errorf("%w: event ID %s twice in one append", ErrInvalidAppend, e.ID)
		}
		seen[e.ID] = struct{}{}
		if e.Type == "" {
			return fmt.Errorf("%w: event %d has no type", ErrInvalidAppend, i)
		}
		if len(e.Data) > MaxEventBytes {
			return fmt.Errorf("%w: event %d is %d bytes (max %d)", ErrInvalidAppend, i, len(e.Data), MaxEventBytes)
		}
	}
	return nil
}
