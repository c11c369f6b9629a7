package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/eventstore"
)

// opTimeout bounds every single store call so that a hung backend fails the
// test instead of the whole run.
const opTimeout = 20 * time.Second

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newStream returns a stream name no other test uses, in the ledger's
// "<category>.<id>" shape, so that the suite also runs against a store shared
// with other data (an external server).
func newStream(category string) string {
	return category + "." + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
}

// ev builds an event with a fresh UUIDv7 and a small JSON body.
func ev(typ string, n int) eventstore.EventData {
	return eventstore.EventData{
		ID:            uuid.Must(uuid.NewV7()),
		Type:          typ,
		SchemaVersion: 1,
		Data:          fmt.Appendf(nil, `{"n":%d,"amount":"%d.25"}`, n, n),
	}
}

func evs(typ string, n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = ev(typ, i)
	}
	return out
}

func mustAppend(t *testing.T, s eventstore.Store, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	r, err := s.Append(ctxT(t), stream, expected, events)
	require.NoError(t, err, "append %d events to %s at %d", len(events), stream, expected)
	require.Equal(t, stream, r.Stream)
	require.Equal(t, r.FirstVersion+uint64(len(events))-1, r.LastVersion)
	return r
}

func requireConflict(t *testing.T, err error, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	require.True(t, errors.Is(err, eventstore.ErrWrongExpectedVersion), "want ErrWrongExpectedVersion, got %v", err)
}

// readStream reads a whole stream page by page (nil if it does not exist).
func readStream(t *testing.T, s eventstore.Store, stream string, page int) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	from := uint64(1)
	for {
		got, err := s.ReadStream(ctxT(t), stream, from, page)
		if errors.Is(err, eventstore.ErrStreamNotFound) && from == 1 {
			return nil
		}
		require.NoError(t, err)
		if len(got) == 0 {
			return out
		}
		if page > 0 {
			require.LessOrEqual(t, len(got), page, "ReadStream returned more than max")
		}
		out = append(out, got...)
		from = got[len(got)-1].Version + 1
	}
}

// readAllOf pages through ReadAll from `from` and keeps the events of the
// given streams, checking global order on the way.
func readAllOf(t *testing.T, s eventstore.Store, from uint64, page int, streams ...string) []eventstore.RecordedEvent {
	t.Helper()
	keep := make(map[string]bool, len(streams))
	for _, st := range streams {
		keep[st] = true
	}
	var out []eventstore.RecordedEvent
	var last uint64
	first := true
	for {
		got, err := s.ReadAll(ctxT(t), from, page)
		require.NoError(t, err)
		if len(got) == 0 {
			return out
		}
		if page > 0 {
			require.LessOrEqual(t, len(got), page, "ReadAll returned more than max")
		}
		for _, e := range got {
			require.GreaterOrEqual(t, e.Position, from, "ReadAll returned an event before fromPosition")
			if !first {
				require.Greater(t, e.Position, last, "positions must strictly increase")
			}
			first, last = false, e.Position
			if keep[e.Stream] {
				out = append(out, e)
			}
		}
		from = last + 1
	}
}

func ids(recs []eventstore.RecordedEvent) []uuid.UUID {
	out := make([]uuid.UUID, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func dataIDs(events []eventstore.EventData) []uuid.UUID {
	out := make([]uuid.UUID, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// requireStored checks that recs hold exactly events, at versions from first.
func requireStored(t *testing.T, recs []eventstore.RecordedEvent, stream string, first uint64, events []eventstore.EventData) {
	t.Helper()
	require.Len(t, recs, len(events))
	for i, r := range recs {
		e := events[i]
		require.Equal(t, stream, r.Stream)
		require.Equal(t, first+uint64(i), r.Version, "version of event %d", i)
		require.Equal(t, e.ID, r.ID, "ID at version %d", r.Version)
		require.Equal(t, e.Type, r.Type)
		require.Equal(t, e.SchemaVersion, r.SchemaVersion)
		require.True(t, bytes.Equal(e.Data, r.Data), "body at version %d: %q != %q", r.Version, r.Data, e.Data)
		require.False(t, r.RecordedAt.IsZero(), "RecordedAt must be set")
		require.NotZero(t, r.Position, "Position must be set")
	}
}

// requireChain verifies a whole stream's hash chain field by field and with
// eventstore.ChainVerifier, and that Head agrees with its last event.
func requireChain(t *testing.T, s eventstore.Store, stream string, recs []eventstore.RecordedEvent) {
	t.Helper()
	v := eventstore.ChainVerifier{Stream: stream}
	var prev eventstore.Hash
	for i, r := range recs {
		require.Equal(t, uint64(i+1), r.Version)
		require.Equal(t, prev, r.PrevHash, "PrevHash of version %d must be the Hash of version %d", r.Version, r.Version-1)
		require.Equal(t, eventstore.ChainHash(r.PrevHash, r.Stream, r.Version, r.EventData), r.Hash, "Hash of version %d", r.Version)
		require.NoError(t, v.Check(r))
		prev = r.Hash
	}
	ver, head, err := s.Head(ctxT(t), stream)
	require.NoError(t, err)
	vv, vh := v.Head()
	require.Equal(t, vv, ver, "Head version")
	require.Equal(t, vh, head, "Head hash")
}
