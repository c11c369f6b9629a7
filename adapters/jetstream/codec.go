package jetstream

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/payoutledger/ledger/eventstore"
)

// Message headers of every stored event: a persisted contract, like event
// type names (never renamed). The body is the event's Data as given.
const (
	HeaderStream        = "Ledger-Stream"         // "douyin.S1001"
	HeaderVersion       = "Ledger-Version"        // decimal, 1-based
	HeaderEventID       = "Ledger-Event-Id"       // UUID, the deduplication key
	HeaderEventType     = "Ledger-Event-Type"     // "PayoutInitiated"
	HeaderSchemaVersion = "Ledger-Schema-Version" // decimal
	HeaderPrevHash      = "Ledger-Prev-Hash"      // 64 lower-case hex digits
	HeaderHash          = "Ledger-Hash"           // 64 lower-case hex digits
	HeaderRecordedAt    = "Ledger-Recorded-At"    // RFC 3339 with nanoseconds, UTC

	// CloudEvents binary-mode attributes, for consumers that speak it.
	HeaderCEID          = "ce-id"          // = Ledger-Event-Id
	HeaderCEType        = "ce-type"        // = Ledger-Event-Type
	HeaderCESource      = "ce-source"      // = Ledger-Stream
	HeaderCETime        = "ce-time"        // = Ledger-Recorded-At
	HeaderCESpecVersion = "ce-specversion" // "1.0"

	// HeaderMsgID is JetStream's deduplication header, = Ledger-Event-Id:
	// within the stream's duplicate window (DuplicateWindow) the server
	// stores an event ID once, whoever publishes it.
	HeaderMsgID = "Nats-Msg-Id"
)

// DuplicateWindow is how long the server remembers each Nats-Msg-Id of the
// stream Open creates (the server's default is 2 minutes). Each ID in the
// window costs the server about 110-140 bytes of heap (measured on v2.15.2
// with BenchmarkDuplicateWindowMemory, 300k and 1M IDs): 2 minutes at
// 30,000 events/s would hold about 500 MB, 30 s about 120 MB. The window is
// a second line only: the store's own idempotency (expected sequences, and
// the event-ID check when an append is retried) does not depend on it, and
// a lost acknowledgement is retried within the request timeout (10 s). An
// existing stream keeps whatever window it was created with.
const DuplicateWindow = 30 * time.Second

// ErrMalformed: a message is not a well-formed ledger event. Decode wraps it.
var ErrMalformed = errors.New("jetstream: malformed ledger message")

// encode builds the message of one chained event.
func encode(subj string, e eventstore.RecordedEvent) *nats.Msg { return Encode(subj, e) }

// Encode builds the message of a recorded event as the store publishes it
// to subj (see EventSubject): the ledger, CloudEvents and Nats-Msg-Id
// headers, and the event's Data as the body. A relay that republishes
// events from another backend uses it so that its messages are the same.
func Encode(subj string, e eventstore.RecordedEvent) *nats.Msg {
	at := e.RecordedAt.UTC().Format(time.RFC3339Nano)
	id := e.ID.String()
	h := nats.Header{
		HeaderStream:        {e.Stream},
		HeaderVersion:       {strconv.FormatUint(e.Version, 10)},
		HeaderEventID:       {id},
		HeaderEventType:     {e.Type},
		HeaderSchemaVersion: {strconv.Itoa(e.SchemaVersion)},
		HeaderPrevHash:      {hex.EncodeToString(e.PrevHash[:])}, // = Hash.String, without fmt
		HeaderHash:          {hex.EncodeToString(e.Hash[:])},
		HeaderRecordedAt:    {at},
		HeaderCEID:          {id},
		HeaderCEType:        {e.Type},
		HeaderCESource:      {e.Stream},
		HeaderCETime:        {at},
		HeaderCESpecVersion: {"1.0"},
		HeaderMsgID:         {id},
	}
	return &nats.Msg{Subject: subj, Header: h, Data: e.Data}
}

// Decode turns a stored ledger message back into the event it records.
// subject is the message's subject (<prefix>.<category>.<id>.<EventType>),
// position its JetStream stream sequence (from the message metadata, or the
// Nats-Sequence header of a direct get). It checks that the headers are
// complete, well-formed and agree with each other and with the subject; it
// does not check the hash chain (eventstore.ChainVerifier does, so that an
// auditor can still read a tampered log).
//
// Errors: an error wrapping ErrMalformed. Decode never panics.
func Decode(subject string, position uint64, h nats.Header, body []byte) (eventstore.RecordedEvent, error) {
	var r eventstore.RecordedEvent
	bad := func(format string, args ...any) (eventstore.RecordedEvent, error) {
		return eventstore.RecordedEvent{}, fmt.Errorf("%w: %s: %s", ErrMalformed, subject, fmt.Sprintf(format, args...))
	}
	one := func(key string) (string, bool) {
		v := h[key]
		return firstOf(v), len(v) == 1
	}
	if position == 0 {
		return bad("no position")
	}
	r.Position = position

	stream, ok := one(HeaderStream)
	if !ok {
		return bad("want exactly one %s header", HeaderStream)
	}
	if _, _, ok := splitStream(stream); !ok {
		return bad("stream %q", stream)
	}
	r.Stream = stream

	typ, ok := one(HeaderEventType)
	if !ok || !validToken(typ) {
		return bad("event type %q", typ)
	}
	r.Type = typ
	// The subject must be <prefix>.<stream>.<type>, with a non-empty prefix.
	suffix := "." + stream + "." + typ
	if !strings.HasSuffix(subject, suffix) || len(subject) == len(suffix) || !validPrefix(subject[:len(subject)-len(suffix)]) {
		return bad("subject does not match stream %q and type %q", stream, typ)
	}

	v, ok := one(HeaderVersion)
	if !ok {
		return bad("want exactly one %s header", HeaderVersion)
	}
	if r.Version, ok = parseUint(v); !ok || r.Version == 0 {
		return bad("version %q", v)
	}

	id, ok := one(HeaderEventID)
	if !ok {
		return bad("want exactly one %s header", HeaderEventID)
	}
	uid, err := uuid.Parse(id)
	if err != nil || uid == uuid.Nil || uid.String() != id {
		return bad("event ID %q", id)
	}
	r.ID = uid

	sv, ok := one(HeaderSchemaVersion)
	if !ok {
		return bad("want exactly one %s header", HeaderSchemaVersion)
	}
	if r.SchemaVersion, err = strconv.Atoi(sv); err != nil || strconv.Itoa(r.SchemaVersion) != sv {
		return bad("schema version %q", sv)
	}

	ph, ok := one(HeaderPrevHash)
	if !ok || !parseHash(ph, &r.PrevHash) {
		return bad("prev hash %q", ph)
	}
	hh, ok := one(HeaderHash)
	if !ok || !parseHash(hh, &r.Hash) {
		return bad("hash %q", hh)
	}
	if r.Version == 1 && !r.PrevHash.IsZero() {
		return bad("version 1 with a non-zero prev hash")
	}

	at, ok := one(HeaderRecordedAt)
	if !ok {
		return bad("want exactly one %s header", HeaderRecordedAt)
	}
	if r.RecordedAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return bad("recorded-at %q", at)
	}

	// The CloudEvents copies are optional but, when present, must agree.
	for key, want := range map[string]string{HeaderCEID: id, HeaderCEType: typ, HeaderCESource: stream, HeaderCETime: at} {
		if got, present := h[key]; present && (len(got) != 1 || got[0] != want) {
			return bad("%s %q disagrees with %q", key, firstOf(got), want)
		}
	}
	if got, present := h[HeaderMsgID]; present && (len(got) != 1 || got[0] != id) {
		return bad("%s %q disagrees with %q", HeaderMsgID, firstOf(got), id)
	}
	if got, present := h[HeaderCESpecVersion]; present && (len(got) != 1 || got[0] != "1.0") {
		return bad("%s %q", HeaderCESpecVersion, firstOf(got))
	}
	if len(body) > eventstore.MaxEventBytes {
		return bad("body of %d bytes", len(body))
	}
	if len(body) > 0 {
		r.Data = body
	}
	return r, nil
}

// EventSubject is the subject of an event of stream (<category>.<id>) and
// type under prefix: <prefix>.<category>.<id>.<eventType>. It refuses
// names that are not subject tokens of [A-Za-z0-9_-] (they could widen a
// consumer's filter).
func EventSubject(prefix, stream, eventType string) (string, error) {
	switch {
	case !validPrefix(prefix):
		return "", fmt.Errorf("%w: subject prefix %q", eventstore.ErrInvalidAppend, prefix)
	case !validToken(eventType):
		return "", fmt.Errorf("%w: event type %q: want [A-Za-z0-9_-]{1,%d}", eventstore.ErrInvalidAppend, eventType, maxTokenLen)
	}
	if err := checkStream(stream); err != nil {
		return "", err
	}
	return subjects{prefix: prefix}.event(stream, eventType), nil
}

func firstOf(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// parseUint accepts canonical decimal only (no sign, no leading zeros), so
// that one version has one spelling.
func parseUint(s string) (uint64, bool) {
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && strconv.FormatUint(n, 10) == s
}

func parseHash(s string, h *eventstore.Hash) bool {
	if len(s) != 2*len(h) || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.Decode(h[:], []byte(s))
	return err == nil
}
