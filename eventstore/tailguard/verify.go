package tailguard

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/payoutledger/ledger/eventstore"
)

// Kinds of Finding.
const (
	// KindTruncated: the stream holds fewer events than were recorded (its
	// tail was lost, or an older copy of the log was put in its place).
	KindTruncated = "truncated"
	// KindAltered: the stream reaches the recorded version, but the event
	// there is not the one recorded (the log was rewritten from an earlier
	// point, e.g. a restored backup that was appended to again), or its
	// content does not match its own hash.
	KindAltered = "altered"
)

// Finding is one stream whose log does not reach, or does not match, the
// head recorded outside it.
type Finding struct {
	Kind   string // KindTruncated or KindAltered
	Stream string
	// Recorded is the version recorded outside the store; for KindAltered
	// it is the version whose event differs.
	Recorded uint64
	// Found is the stream's version in the store (Store.Head).
	Found        uint64
	RecordedHash eventstore.Hash
	// FoundHash is the hash the store holds at Recorded (zero when the
	// stream does not reach it).
	FoundHash eventstore.Hash
}

// String says what was found, for logs and operators.
func (f Finding) String() string {
	switch f.Kind {
	case KindTruncated:
		return fmt.Sprintf("tailguard: stream %q truncated: recorded version %d, the store holds %d", f.Stream, f.Recorded, f.Found)
	case KindAltered:
		return fmt.Sprintf("tailguard: stream %q altered at version %d: recorded hash %s, the store holds %s", f.Stream, f.Recorded, f.RecordedHash, f.FoundHash)
	}
	return fmt.Sprintf("tailguard: stream %q: %s at version %d", f.Stream, f.Kind, f.Recorded)
}

// Verify checks every recorded head against store: the stream must hold at
// least the recorded version (else KindTruncated), and the event at that
// version must carry the recorded hash and hash to it (else KindAltered).
// Findings are returned in stream order; none means every recorded head
// is in the log.
//
// It costs one Head and one one-event read per recorded stream. It does
// not verify the chains below the heads (ChainVerifier does, and the
// handler verifies each stream it loads): together, a verified chain up to
// a verified head proves the log holds everything that was recorded.
// Streams appended after the last flush of the heads are checked only as
// far as the recorded heads go (see the package comment for the window).
//
// Errors: the store's (wrapped, with the stream), e.g. eventstore.ErrClosed
// or ctx's; a store that reports a version but has no event there.
func Verify(ctx context.Context, store eventstore.Store, heads map[string]Head) ([]Finding, error) {
	streams := make([]string, 0, len(heads))
	for s := range heads {
		streams = append(streams, s)
	}
	slices.Sort(streams)
	var findings []Finding
	for _, stream := range streams {
		rec := heads[stream]
		version, _, err := store.Head(ctx, stream)
		if err != nil {
			return nil, fmt.Errorf("tailguard: head of %s: %w", stream, err)
		}
		if version < rec.Version {
			findings = append(findings, Finding{Kind: KindTruncated, Stream: stream,
				Recorded: rec.Version, Found: version, RecordedHash: rec.Hash})
			continue
		}
		recs, err := store.ReadStream(ctx, stream, rec.Version, 1)
		if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil, fmt.Errorf("tailguard: read %s at %d: %w", stream, rec.Version, err)
		}
		if len(recs) == 0 || recs[0].Version != rec.Version {
			return nil, fmt.Errorf("tailguard: store reports %s at version %d but returns no event at %d", stream, version, rec.Version)
		}
		e := recs[0]
		if e.Hash != rec.Hash || eventstore.ChainHash(e.PrevHash, stream, e.Version, e.EventData) != e.Hash {
			findings = append(findings, Finding{Kind: KindAltered, Stream: stream,
				Recorded: rec.Version, Found: version, RecordedHash: rec.Hash, FoundHash: e.Hash})
		}
	}
	return findings, nil
}
