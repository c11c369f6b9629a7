package projections

import (
	"errors"
	"fmt"
)

// Runtime errors.
var (
	// ErrNotReady: no instance of the projection can answer queries yet
	// (not registered, failed before loading, or the active version's
	// code is not registered and the new version has not taken over).
	ErrNotReady = errors.New("projections: projection not ready")
	// ErrUnknownProjection: no projection of that name is registered.
	ErrUnknownProjection = errors.New("projections: unknown projection")
	// ErrGap: positions are declared dense (Config.DensePositions) and one
	// stayed missing longer than Config.GapTimeout. The checkpoint never
	// moves past a gap: an event appended late with a lower position
	// would otherwise be skipped forever.
	ErrGap = errors.New("projections: gap in global positions")
	// ErrOrder: the source delivered an event whose position is not
	// above the previous one and that is not a redelivery of an event
	// already seen at that position: global order was broken (a late
	// event with a lower position). It is neither applied (order) nor
	// skipped (loss): the projection stops.
	ErrOrder = errors.New("projections: global order broken")
	// ErrAheadOfLog: a projection's checkpoint is beyond the last position
	// of the log. The log lost its tail (an OS crash after the event was
	// visible and before it was fsynced, an older copy of the data
	// directory restored): the positions past the head will be reused by
	// new events, which the checkpoint would skip. The projection does not
	// start; rebuild it (delete its files, or register a new version).
	ErrAheadOfLog = errors.New("projections: read model ahead of the event log")
	// ErrRunning: Run was called on a runtime that already ran (a
	// Runtime runs once; make a new one to run again).
	ErrRunning = errors.New("projections: runtime already running")
)

// ProjectionError says which projection stopped, at which event, and why.
// The projection's committed rows and checkpoint are those before the
// failing event's batch; after a fix it resumes from that checkpoint
// (Runtime.Resume, or a restart).
type ProjectionError struct {
	Projection string
	Version    int
	Position   uint64 // global position of the event being applied or committed
	Stream     string // its stream and version, when known
	StreamVer  uint64
	EventType  string
	Op         string // "apply", "decode", "commit", "load", "order", "gap", "restore"
	Err        error
}

func (e *ProjectionError) Error() string {
	at := fmt.Sprintf("position %d", e.Position)
	if e.Stream != "" {
		at += fmt.Sprintf(" (%s v%d %s)", e.Stream, e.StreamVer, e.EventType)
	}
	return fmt.Sprintf("projection %s v%d stopped at %s: %s: %v", e.Projection, e.Version, at, e.Op, e.Err)
}

func (e *ProjectionError) Unwrap() error { return e.Err }
