package esdb

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/payoutledger/ledger/eventstore"
)

// metadataFormat is the version of the metadata document below. A reader
// refuses other values rather than guess at fields it does not know.
const metadataFormat = 1

// maxMetadataBytes bounds what the decoder will parse: ours is ~300 bytes,
// so anything much larger is not ours and is refused before parsing.
const maxMetadataBytes = 4 << 10

// ErrMalformedMetadata: an event in a ledger stream carries metadata that
// is not a well-formed ledger metadata document (missing or invalid field,
// unknown format, too large). Reads return it wrapped, naming the stream
// and revision; the event is not skipped, because a ledger event that cannot
// be decoded is a fault to look at, not noise.
var ErrMalformedMetadata = errors.New("esdb: malformed ledger event metadata")

// wireMetadata is the JSON document stored as EventStoreDB event metadata.
// Field names are a persisted contract: add, never rename.
//
//	{"ledgerMetadata":1,"schemaVersion":2,"version":7,
//	 "prevHash":"<64 hex>","hash":"<64 hex>","recordedAt":"2026-01-02T03:04:05.123456789Z"}
//
// version duplicates the EventStoreDB revision for people reading raw
// events; readers take the version from the revision (the server's fact),
// and the chain hash covers it, so a moved or copied event fails
// eventstore.ChainVerifier.
type wireMetadata struct {
	Format        *int    `json:"ledgerMetadata"`
	SchemaVersion *int    `json:"schemaVersion"`
	Version       *uint64 `json:"version"`
	PrevHash      *string `json:"prevHash"`
	Hash          *string `json:"hash"`
	RecordedAt    *string `json:"recordedAt"`
}

// Metadata is the decoded form of the metadata document.
type Metadata struct {
	SchemaVersion int
	Version       uint64
	PrevHash      eventstore.Hash
	Hash          eventstore.Hash
	RecordedAt    time.Time
}

// EncodeMetadata renders the metadata document of a chained event. It
// cannot fail for values of these types; the error is kept for the
// json.Marshal contract.
func EncodeMetadata(m Metadata) ([]byte, error) {
	format, schema, version := metadataFormat, m.SchemaVersion, m.Version
	prev, hash := m.PrevHash.String(), m.Hash.String()
	at := m.RecordedAt.UTC().Format(time.RFC3339Nano)
	return json.Marshal(wireMetadata{
		Format: &format, SchemaVersion: &schema, Version: &version,
		PrevHash: &prev, Hash: &hash, RecordedAt: &at,
	})
}

// DecodeMetadata parses a metadata document. It never panics; any defect
// is an error wrapping ErrMalformedMetadata. Unknown extra fields are
// ignored so that a newer writer's additions do not break older readers.
func DecodeMetadata(b []byte) (Metadata, error) {
	if len(b) == 0 {
		return Metadata{}, fmt.Errorf("%w: empty", ErrMalformedMetadata)
	}
	if len(b) > maxMetadataBytes {
		return Metadata{}, fmt.Errorf("%w: %d bytes (max %d)", ErrMalformedMetadata, len(b), maxMetadataBytes)
	}
	var w wireMetadata
	if err := json.Unmarshal(b, &w); err != nil {
		return Metadata{}, fmt.Errorf("%w: %v", ErrMalformedMetadata, err)
	}
	switch {
	case w.Format == nil:
		return Metadata{}, fmt.Errorf("%w: no ledgerMetadata format field", ErrMalformedMetadata)
	case *w.Format != metadataFormat:
		return Metadata{}, fmt.Errorf("%w: format %d (this reader knows %d)", ErrMalformedMetadata, *w.Format, metadataFormat)
	case w.SchemaVersion == nil, w.Version == nil, w.PrevHash == nil, w.Hash == nil, w.RecordedAt == nil:
		return Metadata{}, fmt.Errorf("%w: missing field (schemaVersion, version, prevHash, hash and recordedAt are required)", ErrMalformedMetadata)
	case *w.Version == 0:
		return Metadata{}, fmt.Errorf("%w: version 0 (versions start at 1)", ErrMalformedMetadata)
	}
	m := Metadata{SchemaVersion: *w.SchemaVersion, Version: *w.Version}
	var err error
	if m.PrevHash, err = parseHash(*w.PrevHash); err != nil {
		return Metadata{}, fmt.Errorf("%w: prevHash: %v", ErrMalformedMetadata, err)
	}
	if m.Hash, err = parseHash(*w.Hash); err != nil {
		return Metadata{}, fmt.Errorf("%w: hash: %v", ErrMalformedMetadata, err)
	}
	if m.RecordedAt, err = time.Parse(time.RFC3339Nano, *w.RecordedAt); err != nil {
		return Metadata{}, fmt.Errorf("%w: recordedAt: %v", ErrMalformedMetadata, err)
	}
	m.RecordedAt = m.RecordedAt.UTC()
	return m, nil
}

func parseHash(s string) (eventstore.Hash, error) {
	var h eventstore.Hash
	if len(s) != hex.EncodedLen(len(h)) {
		return h, fmt.Errorf("%d hex digits, want %d", len(s), hex.EncodedLen(len(h)))
	}
	if s != strings.ToLower(s) {
		// One spelling per hash: the encoder writes lower case.
		return h, errors.New("upper-case hex")
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, err
	}
	return h, nil
}

// ToEventData turns a chained event (from eventstore.Chain) into what is
// sent to EventStoreDB: our ID as the EventStoreDB event ID (which makes
// retries idempotent on the server), our type, the body as JSON data and
// the metadata document. Errors: only from EncodeMetadata.
func ToEventData(rec eventstore.RecordedEvent, recordedAt time.Time) (esdb.EventData, error) {
	meta, err := EncodeMetadata(Metadata{
		SchemaVersion: rec.SchemaVersion, Version: rec.Version,
		PrevHash: rec.PrevHash, Hash: rec.Hash, RecordedAt: recordedAt,
	})
	if err != nil {
		return esdb.EventData{}, err
	}
	return esdb.EventData{
		EventID:     rec.ID,
		EventType:   rec.Type,
		ContentType: esdb.ContentTypeJson,
		Data:        rec.Data,
		Metadata:    meta,
	}, nil
}

// FromRecordedEvent turns an event read from EventStoreDB into a ledger
// event of the stream prefix+name. position is the $all commit position
// (0 when the server did not report one, see eventPosition). Errors:
// ErrInvalidStreamName for a stream outside the ledger namespace,
// ErrMalformedMetadata for a bad metadata document, and a plain error for
// an event without ID or type, or a revision that cannot be a version.
// It never panics, whatever the input.
func FromRecordedEvent(prefix string, ev *esdb.RecordedEvent, position uint64) (eventstore.RecordedEvent, error) {
	if ev == nil {
		return eventstore.RecordedEvent{}, errors.New("esdb: nil recorded event")
	}
	stream, err := FromESDBName(prefix, ev.StreamID)
	if err != nil {
		return eventstore.RecordedEvent{}, err
	}
	where := fmt.Sprintf("stream %q revision %d", ev.StreamID, ev.EventNumber)
	if ev.EventNumber == math.MaxUint64 {
		return eventstore.RecordedEvent{}, fmt.Errorf("esdb: %s: revision has no version", where)
	}
	if ev.EventType == "" {
		return eventstore.RecordedEvent{}, fmt.Errorf("esdb: %s: event without type", where)
	}
	if ev.EventID == uuid.Nil {
		// The client maps an unparsable ID to the nil UUID.
		return eventstore.RecordedEvent{}, fmt.Errorf("esdb: %s: event without ID", where)
	}
	meta, err := DecodeMetadata(ev.UserMetadata)
	if err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("%s: %w", where, err)
	}
	return eventstore.RecordedEvent{
		EventData: eventstore.EventData{
			ID:            ev.EventID,
			Type:          ev.EventType,
			SchemaVersion: meta.SchemaVersion,
			Data:          ev.Data,
		},
		Stream:     stream,
		Version:    ev.EventNumber + 1,
		Position:   position,
		RecordedAt: meta.RecordedAt,
		PrevHash:   meta.PrevHash,
		Hash:       meta.Hash,
	}, nil
}

// noPosition is what servers put in an event's commit position when they
// do not know it (stream reads on servers that predate reporting it).
const noPosition = math.MaxUint64

// eventPosition is the $all commit position of a read event, or 0 when the
// server did not say (see noPosition). The event's own position is
// preferred; the read-level commit position is the fallback.
func eventPosition(re *esdb.ResolvedEvent) uint64 {
	if ev := re.OriginalEvent(); ev != nil && ev.Position.Commit != noPosition {
		return ev.Position.Commit
	}
	if re.Commit != nil && *re.Commit != noPosition {
		return *re.Commit
	}
	return 0
}

// isSystemType reports an EventStoreDB system event type ($metadata,
// $streamDeleted, link events "$>", ...): never a ledger event.
func isSystemType(t string) bool { return strings.HasPrefix(t, "$") }
