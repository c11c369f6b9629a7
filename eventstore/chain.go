package eventstore

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// ChainHash computes the hash of an event given its predecessor's hash in
// the same stream. It covers everything that identifies the event and its
// place: stream, version, ID, type, schema version and body. Positions and
// recorded-at times are assigned by the server and are not covered, so the
// same chain verifies on any backend and after a copy between backends.
//
// Every backend calls this one function: the chain is defined once.
func ChainHash(prev Hash, stream string, version uint64, e EventData) Hash {
	h := sha256.New()
	var buf [8]byte
	h.Write(prev[:])
	writeField := func(b []byte) {
		binary.BigEndian.PutUint64(buf[:], uint64(len(b)))
		h.Write(buf[:])
		h.Write(b)
	}
	writeField([]byte(stream))
	binary.BigEndian.PutUint64(buf[:], version)
	h.Write(buf[:])
	h.Write(e.ID[:])
	writeField([]byte(e.Type))
	binary.BigEndian.PutUint64(buf[:], uint64(e.SchemaVersion))
	h.Write(buf[:])
	writeField(e.Data)
	var out Hash
	h.Sum(out[:0])
	return out
}

// Chain fills Version, PrevHash and Hash of events about to be appended
// after a stream head (version, hash). It returns the recorded shapes in
// order; the caller stores them.
func Chain(stream string, headVersion uint64, head Hash, events []EventData) []RecordedEvent {
	out := make([]RecordedEvent, len(events))
	prev := head
	for i, e := range events {
		v := headVersion + uint64(i) + 1
		h := ChainHash(prev, stream, v, e)
		out[i] = RecordedEvent{EventData: e, Stream: stream, Version: v, PrevHash: prev, Hash: h}
		prev = h
	}
	return out
}

// ChainError reports where a stream's hash chain breaks.
type ChainError struct {
	Stream  string
	Version uint64
	Reason  string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("eventstore: hash chain of stream %q broken at version %d: %s", e.Stream, e.Version, e.Reason)
}

// Unwrap makes errors.Is(err, ErrChainBroken) hold.
func (e *ChainError) Unwrap() error { return ErrChainBroken }

// ChainVerifier checks events of one stream in version order, carrying the
// chain from one call to the next, so that a long stream can be verified
// page by page.
type ChainVerifier struct {
	Stream  string
	version uint64
	head    Hash
}

// Check verifies the next event of the stream. It returns a *ChainError for
// a gap, a reordering, an altered event or a wrong predecessor hash.
func (v *ChainVerifier) Check(e RecordedEvent) error {
	if e.Stream != v.Stream {
		return &ChainError{Stream: v.Stream, Version: e.Version, Reason: fmt.Sprintf("event of stream %q", e.Stream)}
	}
	if e.Version != v.version+1 {
		return &ChainError{Stream: v.Stream, Version: v.version + 1, Reason: fmt.Sprintf("expected version %d, found %d (removed or reordered event)", v.version+1, e.Version)}
	}
	if e.PrevHash != v.head {
		return &ChainError{Stream: v.Stream, Version: e.Version, Reason: "previous hash does not match the preceding event"}
	}
	if want := ChainHash(v.head, e.Stream, e.Version, e.EventData); e.Hash != want {
		return &ChainError{Stream: v.Stream, Version: e.Version, Reason: "event content does not match its hash (altered)"}
	}
	v.version, v.head = e.Version, e.Hash
	return nil
}

// Head returns the last verified version and hash.
func (v *ChainVerifier) Head() (uint64, Hash) { return v.version, v.head }

// Reset makes the verifier continue from a known head (version, hash), so
// that a reader that already verified a prefix checks only what follows.
func (v *ChainVerifier) Reset(version uint64, head Hash) { v.version, v.head = version, head }
