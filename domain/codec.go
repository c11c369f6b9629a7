package domain

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/google/uuid"
)

// The generated readers and writers of codec_gen.go: see codecgen_test.go.
//go:generate go test -run ^TestFastCodecGenerated$ . -update-codec

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
	fast      func(*jreader) (Payload, bool) // generated reader of the registered Go type; nil if none
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
	// A replaced Go type (the v2 struct of an evolved event) has no
	// generated reader unless codec_gen.go was regenerated for it.
	fast := fastPayloads[reflect.TypeFor[T]()]
	if k, ok := registry[name]; ok {
		k.decode, k.fast = decode, fast
		return
	}
	registry[name] = &eventKind{current: 1, decode: decode, fast: fast, upcasters: map[int]Upcaster{}}
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

// EncodeBody renders an event's body for the store: the JSON
// encoding/json writes for the body struct above, byte for byte (the
// generated writers of codec_gen.go; encoding/json itself for a payload
// type they do not know and for anything they refuse).
func EncodeBody(e Event) ([]byte, error) {
	if b, ok := encodeBodyFast(e); ok {
		return b, nil
	}
	return encodeBodyReflect(e)
}

// encodeBodyReflect is EncodeBody with encoding/json: the reference the
// generated writers are tested against.
func encodeBodyReflect(e Event) ([]byte, error) {
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
//
// A body at the current version is read by the generated reader of its
// type (codec_gen.go) when it has one; whatever that reader refuses (see
// jsonfast.go), and every older version, goes through encoding/json,
// whose answer is the reference.
func DecodeBody(id uuid.UUID, eventType string, schema int, raw []byte) (Event, error) {
	k, ok := registry[eventType]
	if !ok {
		return Event{}, &DecodeError{Type: eventType, Schema: schema, Err: fmt.Errorf("unknown event type")}
	}
	if schema < 1 || schema > k.current {
		return Event{}, &DecodeError{Type: eventType, Schema: schema, Err: fmt.Errorf("unsupported schema version (current %d)", k.current)}
	}
	if schema == k.current && k.fast != nil {
		ev := Event{ID: id, Type: eventType, SchemaVersion: k.current}
		if decodeBodyFast(k.fast, raw, &ev) {
			return ev, nil
		}
	}
	return decodeBodyReflect(k, id, eventType, schema, raw)
}

// decodeBodyReflect is DecodeBody with encoding/json (and the upcasters).
func decodeBodyReflect(k *eventKind, id uuid.UUID, eventType string, schema int, raw []byte) (Event, error) {
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

// decodeBodyFast reads raw into ev's envelope fields and Data with the
// generated readers; false when they refuse it (ev is then partly filled).
func decodeBodyFast(payload func(*jreader) (Payload, bool), raw []byte, ev *Event) bool {
	r := jreader{b: raw}
	r.open('{')
	var seen uint64
	var data Payload
	for first := true; r.next(&first, '}'); {
		switch string(r.key()) {
		case "occurred_at":
			if r.once(&seen, 0) {
				r.time(&ev.OccurredAt)
			}
		case "actor":
			if r.once(&seen, 1) {
				readActor(&r, &ev.Actor)
			}
		case "command":
			if r.once(&seen, 2) {
				ev.Command = r.str()
			}
		case "correlation_id":
			if r.once(&seen, 3) {
				ev.CorrelationID = r.str()
			}
		case "causation_id":
			if r.once(&seen, 4) {
				ev.CausationID = r.str()
			}
		case "idempotency_key":
			if r.once(&seen, 5) {
				ev.IdempotencyKey = r.str()
			}
		case "command_digest":
			if r.once(&seen, 6) {
				ev.CommandDigest = r.str()
			}
		case "data":
			// A null or non-object data is left to encoding/json.
			if r.once(&seen, 7) && r.peek() == '{' {
				data, _ = payload(&r)
			} else {
				r.fail()
			}
		default:
			r.fail()
		}
	}
	if !r.end() || data == nil {
		return false
	}
	ev.Data = data
	return true
}

// encodeBodyFast is EncodeBody with the generated writers; false when
// they cannot write e.
func encodeBodyFast(e Event) ([]byte, bool) {
	w := jwriter{b: make([]byte, 0, 1024)}
	w.b = append(w.b, '{')
	first := true
	w.key(&first, "occurred_at")
	w.time(e.OccurredAt)
	w.key(&first, "actor")
	writeActor(&w, &e.Actor)
	for _, f := range [...]struct{ name, v string }{
		{"command", e.Command}, {"correlation_id", e.CorrelationID}, {"causation_id", e.CausationID},
		{"idempotency_key", e.IdempotencyKey}, {"command_digest", e.CommandDigest},
	} {
		if f.v != "" {
			w.key(&first, f.name)
			w.str(f.v)
		}
	}
	w.key(&first, "data")
	if !writeFastPayload(&w, e.Data) || w.bad {
		return nil, false
	}
	w.b = append(w.b, '}')
	return w.b, true
}
