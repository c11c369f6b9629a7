package domain

import (
	"time"

	"github.com/google/uuid"
)

// Event is a payload in its envelope (DESIGN.md point 5). The decision
// functions produce payloads; NewEvents wraps them. Version, Position,
// RecordedAt and the hashes are assigned by the event store and are zero
// until the event is read back.
type Event struct {
	ID             uuid.UUID `json:"id"`
	Type           string    `json:"type"`
	SchemaVersion  int       `json:"schema_version"`
	Stream         string    `json:"stream"`
	Version        uint64    `json:"version,omitempty"`
	Position       uint64    `json:"position,omitempty"`
	OccurredAt     time.Time `json:"occurred_at"`
	RecordedAt     time.Time `json:"recorded_at,omitempty"`
	Actor          Actor     `json:"actor"`
	Command        string    `json:"command,omitempty"`
	CorrelationID  string    `json:"correlation_id,omitempty"`
	CausationID    string    `json:"causation_id,omitempty"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	// CommandDigest identifies the command body the events were decided
	// from, so that a reused idempotency key with another body is refused.
	CommandDigest string  `json:"command_digest,omitempty"`
	PrevHash      string  `json:"prev_hash,omitempty"`
	Hash          string  `json:"hash,omitempty"`
	Data          Payload `json:"data"`
}

// Request is everything a decision needs besides state and command: the
// injected clock's reading, who acts, and the ids that tie events to the
// request. Decisions never read a clock themselves.
type Request struct {
	Now            time.Time
	Actor          Actor
	IdempotencyKey string
	CorrelationID  string
	CausationID    string
	CommandDigest  string
	// Holidays are dates ("2006-01-02", shop local) that are not business
	// days, besides weekends (refund due dates). May be nil.
	Holidays map[string]bool
}

// IDSource makes event IDs; production uses UUID v7 (time ordered), tests
// a deterministic sequence.
type IDSource func() uuid.UUID

// NewV7 is the production IDSource.
func NewV7() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// NewEvents wraps decided payloads in envelopes.
func NewEvents(stream, command string, req Request, ids IDSource, payloads []Payload) []Event {
	out := make([]Event, len(payloads))
	for i, p := range payloads {
		out[i] = Event{
			ID:             ids(),
			Type:           p.EventType(),
			SchemaVersion:  CurrentSchema(p.EventType()),
			Stream:         stream,
			OccurredAt:     req.Now,
			Actor:          req.Actor,
			Command:        command,
			CorrelationID:  req.CorrelationID,
			CausationID:    req.CausationID,
			IdempotencyKey: req.IdempotencyKey,
			CommandDigest:  req.CommandDigest,
			Data:           p,
		}
	}
	return out
}
