package esdb

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/payoutledger/ledger/eventstore"
)

// rawPage is how many $all events one read asks for while looking for
// ledger events among system and foreign ones.
const rawPage = 256

// maxScan bounds the $all events one ReadAll call looks through once it
// has something to return, so a log full of foreign events cannot hold a
// call for long. It never returns empty before the end, as the contract
// says empty means "at the end".
const maxScan = 16 * maxPage

// ReadStream returns up to max events of stream from fromVersion (0 means
// 1), in version order; an empty slice when fromVersion is past the end.
// Position is the event's $all commit position, or 0 when the server does
// not report positions on stream reads (older servers).
// Errors: eventstore.ErrStreamNotFound (no such stream, a tombstoned one, or
// an invalid name: ErrInvalidStreamName), ErrMalformedMetadata,
// eventstore.ErrClosed, the context's error, transport errors.
func (s *Store) ReadStream(ctx context.Context, stream string, fromVersion uint64, max int) ([]eventstore.RecordedEvent, error) {
	name, err := ToESDBName(s.prefix, stream)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", eventstore.ErrStreamNotFound, err)
	}
	if fromVersion == 0 {
		fromVersion = 1
	}
	n := pageSize(max)
	opCtx, end, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	raws, err := s.readStream(opCtx, name, esdb.Forwards, esdb.Revision(fromVersion-1), uint64(n))
	if err != nil {
		return nil, s.fail(ctx, "read "+name, err)
	}
	out := make([]eventstore.RecordedEvent, 0, len(raws))
	for _, re := range raws {
		// Only the store writes ledger streams (Append refuses "$" types),
		// so every event here must decode; none is skipped.
		rec, err := FromRecordedEvent(s.prefix, re.Event, eventPosition(re))
		if err != nil {
			return nil, err
		}
		if want := fromVersion + uint64(len(out)); rec.Version != want {
			// Revisions are dense and ordered; anything else is a bug here
			// or in the server, and must not reach a projection.
			return nil, fmt.Errorf("esdb: read %s: got version %d, expected %d", name, rec.Version, want)
		}
		s.positions.add(rec.Position)
		out = append(out, rec)
	}
	return out, nil
}

// ReadAll returns up to max ledger events with Position >= fromPosition in
// $all order, skipping system events and streams outside the prefix; an
// empty slice at the end.
//
// EventStoreDB positions are byte offsets in its log, and the server refuses
// to read from a position that is not the start of a record. fromPosition
// must therefore be 0, an event's Position, or an event's Position + 1 (the
// usual "after the last one I saw"). Errors: ErrInvalidPosition for any
// other position, ErrMalformedMetadata, eventstore.ErrClosed, the context's
// error, transport errors (reading $all needs the $all read permission:
// admins and ops by default).
func (s *Store) ReadAll(ctx context.Context, fromPosition uint64, max int) ([]eventstore.RecordedEvent, error) {
	n := pageSize(max)
	opCtx, end, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	var out []eventstore.RecordedEvent
	var cur allCursor
	var last uint64
	scanned := 0
	for {
		raws, err := s.nextPage(opCtx, &cur, fromPosition)
		if err != nil {
			return nil, s.fail(ctx, "read $all", err)
		}
		for _, re := range raws {
			rec, ok, err := s.ledgerEvent(re, fromPosition, last)
			if err != nil {
				return nil, err
			}
			if ok {
				s.positions.add(rec.Position)
				out = append(out, rec)
				last = rec.Position
				if len(out) == n {
					return out, nil
				}
			}
		}
		scanned += len(raws)
		if len(raws) < rawPage || len(out) > 0 && scanned >= maxScan {
			if out == nil {
				out = []eventstore.RecordedEvent{}
			}
			return out, nil
		}
	}
}

// allCursor is where a scan of $all stands: the exact position of the last
// raw event seen, which is always a valid place to read from again.
type allCursor struct {
	pos esdb.Position
	set bool
}

// nextPage reads the next rawPage events of $all after the cursor, or the
// first ones at fromPosition when the cursor is not set yet, and moves the
// cursor to the last event read. Fewer than rawPage events means the end.
func (s *Store) nextPage(ctx context.Context, cur *allCursor, from uint64) ([]*esdb.ResolvedEvent, error) {
	var raws []*esdb.ResolvedEvent
	var err error
	if cur.set {
		// Reads of $all include their start: ask one more and drop it.
		raws, err = s.readAll(ctx, esdb.Forwards, cur.pos, rawPage+1)
		if err == nil && len(raws) > 0 && position(raws[0]) == cur.pos {
			raws = raws[1:]
		} else if len(raws) > rawPage {
			raws = raws[:rawPage]
		}
	} else {
		raws, err = s.firstPage(ctx, from)
	}
	if err != nil {
		return nil, err
	}
	if len(raws) > 0 {
		cur.pos, cur.set = position(raws[len(raws)-1]), true
	}
	return raws, nil
}

// firstPage reads $all from fromPosition. Events the ledger writes have
// commit == prepare position, so {p, p} is a record start when p is an
// event's Position, and {p-1, p-1} when p is one past it.
func (s *Store) firstPage(ctx context.Context, from uint64) ([]*esdb.ResolvedEvent, error) {
	if from == 0 {
		return s.readAll(ctx, esdb.Forwards, esdb.Start{}, rawPage)
	}
	if !s.positions.has(from) && s.positions.has(from-1) {
		return s.readAll(ctx, esdb.Forwards, esdb.Position{Commit: from - 1, Prepare: from - 1}, rawPage)
	}
	raws, err := s.readAll(ctx, esdb.Forwards, esdb.Position{Commit: from, Prepare: from}, rawPage)
	if err == nil || ctx.Err() != nil || isCode(err, esdb.ErrorCodeConnectionClosed) {
		return raws, err
	}
	raws, err2 := s.readAll(ctx, esdb.Forwards, esdb.Position{Commit: from - 1, Prepare: from - 1}, rawPage)
	if err2 == nil {
		return raws, nil
	}
	if isCode(err, esdb.ErrorCodeUnknown) && isCode(err2, esdb.ErrorCodeUnknown) {
		// The server's refusal of a position comes as gRPC Unknown; a
		// server that is down or slow answers with other codes.
		return nil, fmt.Errorf("%w: neither %d nor %d starts a record (a position must be 0, an event's Position, or that + 1): %w", ErrInvalidPosition, from, from-1, err)
	}
	return nil, fmt.Errorf("read $all from position %d, then %d: %w", from, from-1, err)
}

// ErrInvalidPosition: ReadAll or Subscribe from a position at which
// EventStoreDB has no record, neither there nor one byte before. Positions
// are byte offsets in the server's log: pass 0, an event's Position, or that
// Position + 1.
var ErrInvalidPosition = errors.New("esdb: invalid $all position")

// ledgerEvent decodes re if it is a ledger event of this store at or after
// from and after last (positions only grow; a repeat is dropped). System
// events and other streams are skipped (ok false); a ledger event that
// does not decode is an error.
func (s *Store) ledgerEvent(re *esdb.ResolvedEvent, from, last uint64) (eventstore.RecordedEvent, bool, error) {
	ev := re.Event
	if ev == nil || isSystemType(ev.EventType) || !strings.HasPrefix(ev.StreamID, s.prefix) {
		return eventstore.RecordedEvent{}, false, nil
	}
	if ValidateStreamName(ev.StreamID[len(s.prefix):]) != nil {
		return eventstore.RecordedEvent{}, false, nil // not a ledger name: not ours
	}
	pos := eventPosition(re)
	if pos == 0 {
		return eventstore.RecordedEvent{}, false, fmt.Errorf("esdb: $all event %d of %q came without a position", ev.EventNumber, ev.StreamID)
	}
	if pos < from || pos <= last {
		return eventstore.RecordedEvent{}, false, nil
	}
	rec, err := FromRecordedEvent(s.prefix, ev, pos)
	if err != nil {
		return eventstore.RecordedEvent{}, false, err
	}
	return rec, true, nil
}

func position(re *esdb.ResolvedEvent) esdb.Position {
	if ev := re.OriginalEvent(); ev != nil {
		return ev.Position
	}
	return esdb.Position{}
}
