package httpapi

import (
	"time"

	"github.com/google/uuid"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// commandResult is the answer to an accepted command. A replay answers
// the same body (replayed true): the events carry only what both a fresh
// append and a read-back know (not the store's hashes and record times),
// and position is the global position of the command's last event.
type commandResult struct {
	Stream   string      `json:"stream"`
	Version  uint64      `json:"version"`
	Position uint64      `json:"position,omitempty"`
	Replayed bool        `json:"replayed"`
	Events   []eventJSON `json:"events"`
}

// eventJSON is domain.Event's JSON (same field names) without the fields
// the store assigns on read.
type eventJSON struct {
	ID             uuid.UUID      `json:"id"`
	Type           string         `json:"type"`
	SchemaVersion  int            `json:"schema_version"`
	Stream         string         `json:"stream"`
	Version        uint64         `json:"version"`
	OccurredAt     time.Time      `json:"occurred_at"`
	Actor          domain.Actor   `json:"actor"`
	Command        string         `json:"command,omitempty"`
	CorrelationID  string         `json:"correlation_id,omitempty"`
	CausationID    string         `json:"causation_id,omitempty"`
	IdempotencyKey string         `json:"idempotency_key,omitempty"`
	Data           domain.Payload `json:"data"`
}

func resultBody(res handler.Result) commandResult {
	out := commandResult{Stream: res.Stream, Version: res.Version, Replayed: res.Replayed, Events: make([]eventJSON, len(res.Events))}
	for i, e := range res.Events {
		out.Events[i] = eventJSON{ID: e.ID, Type: e.Type, SchemaVersion: e.SchemaVersion, Stream: e.Stream, Version: e.Version,
			OccurredAt: e.OccurredAt.UTC(), Actor: e.Actor, Command: e.Command, CorrelationID: e.CorrelationID,
			CausationID: e.CausationID, IdempotencyKey: e.IdempotencyKey, Data: e.Data}
	}
	if n := len(res.Events); n > 0 {
		out.Position = res.Events[n-1].Position
	}
	return out
}
