package esdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/payoutledger/ledger/eventstore"
)

// maxAnyAttempts bounds the retries of an append with eventstore.Any that
// keeps losing the race for the stream's head.
const maxAnyAttempts = 5

// metadataAllowance is what one event's metadata document may add to an
// append's size (ours is about 300 bytes).
const metadataAllowance = 512

// Append writes events at the end of stream, chained with eventstore.Chain
// after the stream's head, with EventStoreDB's expected revision as the
// optimistic-concurrency check. Re-appending events whose IDs are already
// at those versions returns the stored result and writes nothing.
//
// With eventstore.Any the store still sends an exact revision (that of the
// head it chained from), because the chain needs the true predecessor;
// it re-reads the head and retries when another writer got there first, and
// recognises a retry of an append that landed by its IDs at the stream's
// tail.
//
// Errors: eventstore.ErrInvalidAppend (ValidateAppend's reasons, an invalid
// stream name, a "$" event type, which EventStoreDB reserves, or more than
// MaxAppendBytes), eventstore.ErrWrongExpectedVersion,
// eventstore.ErrStreamNotFound for a tombstoned stream, eventstore.ErrClosed,
// the context's error, and transport errors (in which case the append may
// or may not have been stored: retry it with the same IDs).
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.ValidateAppend(stream, expected, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	name, err := ToESDBName(s.prefix, stream)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("%w: %w", eventstore.ErrInvalidAppend, err)
	}
	if err := s.checkEvents(events); err != nil {
		return eventstore.AppendResult{}, err
	}
	opCtx, end, err := s.begin(ctx)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	defer end()
	var res eventstore.AppendResult
	if expected == eventstore.Any {
		res, err = s.appendAny(opCtx, stream, name, events)
	} else {
		res, err = s.appendAt(opCtx, stream, name, uint64(expected), events)
	}
	if err != nil {
		return eventstore.AppendResult{}, s.fail(ctx, "append to "+name, err)
	}
	return res, nil
}

// checkEvents refuses what EventStoreDB would refuse or mishandle.
func (s *Store) checkEvents(events []eventstore.EventData) error {
	size := 0
	for i, e := range events {
		if isSystemType(e.Type) {
			return fmt.Errorf("%w: event %d type %q: types starting with $ are EventStoreDB's", eventstore.ErrInvalidAppend, i, e.Type)
		}
		// The server counts data, metadata and the type (as UTF-16).
		size += len(e.Data) + 2*len(e.Type) + metadataAllowance
	}
	if size > s.maxAppendBytes {
		return fmt.Errorf("%w: about %d bytes (max %d: the server's MaxAppendSize)", eventstore.ErrInvalidAppend, size, s.maxAppendBytes)
	}
	return nil
}

// appendAt appends after exactly n events.
func (s *Store) appendAt(ctx context.Context, stream, name string, n uint64, events []eventstore.EventData) (eventstore.AppendResult, error) {
	h, ok := s.heads.get(stream)
	if !ok || h.version != n {
		// The cache is a hint: before answering a conflict, ask the server.
		var err error
		if h, err = s.readHead(ctx, stream, name); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	switch {
	case h.version > n:
		// Either a retry of an append that landed, or a real conflict.
		return s.stored(ctx, stream, name, n, events)
	case h.version < n:
		return eventstore.AppendResult{}, fmt.Errorf("%w: stream %q holds %d events, the append expected %d",
			eventstore.ErrWrongExpectedVersion, stream, h.version, n)
	}
	return s.write(ctx, stream, name, h, events)
}

// appendAny appends after whatever the stream holds.
func (s *Store) appendAny(ctx context.Context, stream, name string, events []eventstore.EventData) (eventstore.AppendResult, error) {
	k := uint64(len(events))
	for range maxAnyAttempts {
		h, err := s.readHead(ctx, stream, name)
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		if h.version >= k {
			res, err := s.stored(ctx, stream, name, h.version-k, events)
			if err == nil || !isConflict(err) {
				return res, err
			}
		}
		res, err := s.write(ctx, stream, name, h, events)
		if err == nil || !isConflict(err) {
			return res, err
		}
	}
	return eventstore.AppendResult{}, fmt.Errorf("%w: append with Any to %q lost the race %d times", eventstore.ErrWrongExpectedVersion, stream, maxAnyAttempts)
}

// write chains events after h and appends them at h's exact revision.
func (s *Store) write(ctx context.Context, stream, name string, h head, events []eventstore.EventData) (eventstore.AppendResult, error) {
	recs := eventstore.Chain(stream, h.version, h.hash, events)
	at := s.now().UTC()
	data := make([]esdb.EventData, len(recs))
	for i := range recs {
		var err error
		if data[i], err = ToEventData(recs[i], at); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	var wr *esdb.WriteResult
	err := guard("append", func() (err error) {
		wr, err = s.client.AppendToStream(ctx, name, esdb.AppendToStreamOptions{ExpectedRevision: revisionFor(h.version)}, data...)
		return err
	})
	if err != nil {
		// A conflict means the cached head was behind; a transport error
		// leaves the outcome unknown. Either way, stop trusting the cache.
		s.heads.drop(stream)
		return eventstore.AppendResult{}, err
	}
	last := recs[len(recs)-1]
	if wr == nil || wr.CommitPosition == 0 || wr.NextExpectedVersion != last.Version-1 {
		// EventStoreDB acknowledges an idempotent re-append (same IDs at the
		// same revisions) without writing and without a position. What it
		// holds may differ from what was just chained (same IDs, other
		// content), so the answer comes from what is stored.
		s.heads.drop(stream)
		return s.stored(ctx, stream, name, h.version, events)
	}
	s.heads.put(stream, head{version: last.Version, hash: last.Hash})
	s.positions.add(wr.CommitPosition)
	return eventstore.AppendResult{
		Stream:       stream,
		FirstVersion: recs[0].Version,
		LastVersion:  last.Version,
		LastPosition: wr.CommitPosition,
		LastHash:     last.Hash,
	}, nil
}

// stored returns the result of an earlier append of events after n events,
// if the stream holds exactly their IDs at versions n+1..n+len(events),
// and ErrWrongExpectedVersion otherwise. This is the contract's
// idempotency: IDs at the same versions, nothing else compared.
func (s *Store) stored(ctx context.Context, stream, name string, n uint64, events []eventstore.EventData) (eventstore.AppendResult, error) {
	k := uint64(len(events))
	got, err := s.readStream(ctx, name, esdb.Forwards, esdb.Revision(n), k)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	if uint64(len(got)) != k {
		return eventstore.AppendResult{}, fmt.Errorf("%w: stream %q does not hold the append's %d events after version %d",
			eventstore.ErrWrongExpectedVersion, stream, k, n)
	}
	for i, re := range got {
		if re.Event == nil || re.Event.EventID != events[i].ID || re.Event.EventNumber != n+uint64(i) {
			return eventstore.AppendResult{}, fmt.Errorf("%w: stream %q holds other events after version %d",
				eventstore.ErrWrongExpectedVersion, stream, n)
		}
	}
	lastRaw := got[len(got)-1]
	last, err := FromRecordedEvent(s.prefix, lastRaw.Event, eventPosition(lastRaw))
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	s.positions.add(last.Position)
	return eventstore.AppendResult{
		Stream:       stream,
		FirstVersion: n + 1,
		LastVersion:  last.Version,
		LastPosition: last.Position,
		LastHash:     last.Hash,
	}, nil
}

func isConflict(err error) bool {
	return errors.Is(err, eventstore.ErrWrongExpectedVersion) || isCode(err, esdb.ErrorCodeWrongExpectedVersion)
}
