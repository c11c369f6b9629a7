package domain

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// The wire format of an event body (what the event store holds as Data):
//
//	{"occurred_at": "...", "actor": {...}, "command": "...",
//	 "correlation_id": "...", "causation_id": "...", "idempotency_key": "...",
//	 "command_digest": "...", "data": {...payload...}}
//
// The ID, type and schema version travel beside the body (store fields and
// message headers). Amounts are decimal strings.
type body struct {
	OccurredAt     time.Time       `json:"occurred_at"`
	Actor          Actor           `json:"actor"`
	Command        string          `json:"command,omitempty"`
	CorrelationID  string          `json:"correlation_id,omitempty"`
	CausationID    string          `json:"causation_id,omitempty"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	CommandDigest  string          `json:"command_digest,omitempty"`
	Data           json.RawMessage `json:"data"`
}

type decoder func([]byte) (Payload, error)

// Upcaster turns the JSON of a payload at schema version v into version
// v+1. Registered per type and version; applied in sequence on read.
type Upcaster func(json.RawMessage) (json.RawMessage, error)

type eventKind struct {
	decode    decoder
	current   int
	upcasters map[int]Upcaster // from version -> to version+1
}

var registry = map[string]*eventKind{}

// RegisterEvent makes T the Go type that events named T.EventType() decode
// into, at that type's current schema version. Start-up only: the registry
// is read without locks, so call it before any event is encoded or decoded
// (from init or main), never while commands are served.
//
// A new name starts at schema version 1 with no upcasters. Registering an
// existing name (the v2 struct of an evolved event) replaces only its Go
// type: the current schema version and the upcasters already registered
// stay, because the events stored at older versions still need them.
// Register the new type together with the upcaster that produces its
// shape (RegisterUpcaster), so that no body is decoded in between.
// It panics if T.EventType() is empty (a programming error).
func RegisterEvent[T Payload]() { register[T]() }

func register[T Payload]() {
	var z T
	name := z.EventType()
	if name == "" {
		panic(fmt.Sprintf("domain: event type %T has an empty name", z))
	}
	decode := func(b []byte) (Payload, error) {
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		return v, nil
	}
	if k, ok := registry[name]; ok {
		k.decode = decode
		return
	}
	registry[name] = &eventKind{current: 1, decode: decode, upcasters: map[int]Upcaster{}}
}

func init() {
	register[ShopRegistered]()
	register[ShopEnrolled]()
	register[ShopLimitsSet]()
	register[ToolDisabled]()
	register[ShopStandingChanged]()
	register[FundingAccountOpened]()
	register[FundsToppedUp]()
	register[ProceedsCredited]()
	register[FundsFrozen]()
	register[FundsUnfrozen]()
	register[ArrearsChanged]()
	register[StaffQuotaGranted]()
	register[StaffQuotaChanged]()
	register[StaffQuotaDisabled]()
	register[StaffQuotaEnabled]()
	register[StaffQuotaDeleted]()
	register[OrderRegistered]()
	register[OrderRefundRecorded]()
	register[PlatformShippingRefundRecorded]()
	register[DuplicateCompensationWarned]()
	register[DuplicateWarningAcknowledged]()
	register[PayoutInitiated]()
	register[PayoutApproved]()
	register[PayoutRejected]()
	register[PayoutToppedUp]()
	register[PayoutTopUpFailed]()
	register[PayoutProcessing]()
	register[PayoutSucceeded]()
	register[PayoutFailed]()
	register[PayoutFailedForBuyerAccount]()
	register[AccountCardSent]()
	register[BuyerAccountSubmitted]()
	register[PayoutConfirmedByBuyer]()
	register[CardExpired]()
	register[PayoutClosed]()
	register[PayoutRefundedToMerchant]()
	register[CollectionCardSent]()
	register[CollectionPaid]()
	register[CollectionCardCancelled]()
}

// EventTypes lists every registered event type.
func EventTypes() []string {
	out := make([]string, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	return out
}

// CurrentSchema is the schema version new events of a type are written at.
func CurrentSchema(eventType string) int {
	if k, ok := registry[eventType]; ok {
		return k.current
	}
	return 1
}

// RegisterUpcaster declares that eventType's current schema is from+1 and
// how to read a body written at version from. Start-up only.
func RegisterUpcaster(eventType string, from int, up Upcaster) {
	k, ok := registry[eventType]
	if !ok {
		panic("domain: upcaster for unknown event type " + eventType)
	}
	k.upcasters[from] = up
	if from+1 > k.current {
		k.current = from + 1
	}
}

// EncodeBody renders an event's body for the store.
func EncodeBody(e Event) ([]byte, error) {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", e.Type, err)
	}
	return json.Marshal(body{
		OccurredAt: e.OccurredAt, Actor: e.Actor, Command: e.Command,
		CorrelationID: e.CorrelationID, CausationID: e.CausationID,
		IdempotencyKey: e.IdempotencyKey, CommandDigest: e.CommandDigest, Data: data,
	})
}

// DecodeError is returned for a body that cannot be read as its type.
type DecodeError struct {
	Type   string
	Schema int
	Err    error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("decode event %s v%d: %v", e.Type, e.Schema, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// DecodeBody reads a stored body of the given type and schema version,
// upcasting it to the current version. Unknown types, versions from the
// future and malformed JSON are *DecodeError; it never panics.
func DecodeBody(id uuid.UUID, eventType string, schema int, raw []byte) (Event, error) {
	k, ok := registry[eventType]
	if !ok {
		return Event{}, &DecodeError{Type: eventType, Schema: schema, Err: fmt.Errorf("unknown event type")}
	}
	if schema < 1 || schema > k.current {
		return Event{}, &DecodeError{Type: eventType, Schema: schema, Err: fmt.Errorf("unsupported schema version (current %d)", k.current)}
	}
	var b body
	if err := json.Unmarshal(raw, &b); err != nil {
		return Event{}, &DecodeError{Type: eventType, Schema: schema, Err: err}
	}
	data := b.Data
	for v := schema; v < k.current; v++ {
		up, ok := k.upcasters[v]
		if !ok {
			return Event{}, &DecodeError{Type: eventType, Schema: schema, Err: fmt.Errorf("no upcaster from v%d", v)}
		}
		var err error
		if data, err = up(data); err != nil {
			return Event{}, &DecodeError{Type: eventType, Schema: v, Err: err}
		}
	}
	if len(data) == 0 {
		return Event{}, &DecodeError{Type: eventType, Schema: schema, Err: fmt.Errorf("no data")}
	}
	p, err := k.decode(data)
	if err != nil {
		return Event{}, &DecodeError{Type: eventType, Schema: schema, Err: err}
	}
	return Event{
		ID: id, Type: eventType, SchemaVersion: k.current,
		OccurredAt: b.OccurredAt, Actor: b.Actor, Command: b.Command,
		CorrelationID: b.CorrelationID, CausationID: b.CausationID,
		IdempotencyKey: b.IdempotencyKey, CommandDigest: b.CommandDigest, Data: p,
	}, nil
}
