package esdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/payoutledger/ledger/eventstore"
)

// Resubscription limits: a dropped subscription (leader change, restart)
// is resumed from the last event seen, after a growing pause; this many
// failures in a row without progress end Subscribe with the last error.
const (
	maxResubscribes = 5
	firstBackoff    = 200 * time.Millisecond
	maxBackoff      = 5 * time.Second
	maxAnchorTries  = 3
)

// Subscribe delivers every ledger event with Position >= fromPosition in
// $all order: first the stored ones, read page by page (catch-up), then the
// live ones through an EventStoreDB $all subscription filtered on the
// stream prefix, started at the last event the catch-up saw so that
// nothing appended in between is missed, and positions compared so that
// nothing is delivered twice. fn is called from one goroutine at a time.
//
// It returns ctx.Err() when ctx is done, fn's error as is when fn fails,
// and otherwise: ErrInvalidPosition (see ReadAll), ErrMalformedMetadata,
// eventstore.ErrClosed, or the last transport error after maxResubscribes
// failed resumptions.
func (s *Store) Subscribe(ctx context.Context, fromPosition uint64, fn func(eventstore.RecordedEvent) error) error {
	opCtx, end, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	sub := &subscription{s: s, from: fromPosition, fn: fn}
	err = sub.run(opCtx)
	var cb callbackError
	switch {
	case errors.As(err, &cb):
		return cb.err
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return s.fail(ctx, "subscribe to $all", err)
}

// callbackError carries fn's error out unchanged.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

type subscription struct {
	s    *Store
	from uint64
	fn   func(eventstore.RecordedEvent) error
	cur  allCursor // last $all event seen (resume point)
	last uint64    // Position of the last event delivered
}

func (sub *subscription) run(ctx context.Context) error {
	failures := 0
	for {
		before := sub.cur
		err := sub.catchUp(ctx)
		if err == nil {
			err = sub.live(ctx)
		}
		var cb callbackError
		if errors.As(err, &cb) || ctx.Err() != nil || sub.s.isClosed() ||
			errors.Is(err, ErrMalformedMetadata) || errors.Is(err, ErrInvalidPosition) ||
			isCode(err, esdb.ErrorCodeConnectionClosed) {
			return err // retrying cannot help
		}
		if sub.cur != before {
			failures = 0
		}
		if failures++; failures > maxResubscribes {
			return err
		}
		pause := min(sub.s.backoff<<(failures-1), maxBackoff)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// catchUp delivers the stored events, then leaves the cursor where the live
// subscription must start (unset: from the start of $all).
func (sub *subscription) catchUp(ctx context.Context) error {
	for range maxAnchorTries {
		for {
			raws, err := sub.s.nextPage(ctx, &sub.cur, sub.from)
			if err != nil {
				return err
			}
			for _, re := range raws {
				if err := sub.deliver(re); err != nil {
					return err
				}
			}
			if len(raws) < rawPage {
				break
			}
		}
		if sub.cur.set || sub.from == 0 {
			return nil // from the last event seen, or from the start of an empty $all
		}
		// Nothing at or after fromPosition yet: anchor on the last event of
		// $all, unless events at or after fromPosition arrived meanwhile,
		// which the next pass reads.
		tail, err := sub.s.readAll(ctx, esdb.Backwards, esdb.End{}, 1)
		if err != nil {
			return err
		}
		if len(tail) == 0 {
			return nil
		}
		if p := position(tail[0]); p.Commit < sub.from {
			sub.cur = allCursor{pos: p, set: true}
			return nil
		}
	}
	return fmt.Errorf("esdb: could not anchor a subscription at position %d", sub.from)
}

// live follows $all from the cursor until an error or a drop.
func (sub *subscription) live(ctx context.Context) error {
	var from esdb.AllPosition = esdb.Start{}
	if sub.cur.set {
		from = sub.cur.pos // exclusive: the subscription starts after it
	}
	var h *esdb.Subscription
	err := guard("subscribe", func() (err error) {
		h, err = sub.s.client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
			From:   from,
			Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{sub.s.prefix}},
		})
		return err
	})
	if err != nil {
		return err
	}
	defer h.Close()
	for {
		var ev *esdb.SubscriptionEvent
		if err := guard("subscription", func() error { ev = h.Recv(); return nil }); err != nil {
			return err
		}
		switch {
		case ev == nil:
			return errors.New("esdb: subscription returned nothing")
		case ev.SubscriptionDropped != nil:
			if ev.SubscriptionDropped.Error != nil {
				return fmt.Errorf("subscription dropped: %w", ev.SubscriptionDropped.Error)
			}
			return errors.New("esdb: subscription dropped")
		case ev.EventAppeared != nil:
			if err := sub.deliver(ev.EventAppeared); err != nil {
				return err
			}
			sub.cur = allCursor{pos: position(ev.EventAppeared), set: true}
		}
		// Checkpoints, caught-up and fell-behind notices need no action.
	}
}

func (sub *subscription) deliver(re *esdb.ResolvedEvent) error {
	rec, ok, err := sub.s.ledgerEvent(re, sub.from, sub.last)
	if err != nil || !ok {
		return err
	}
	sub.s.positions.add(rec.Position)
	if err := sub.fn(rec); err != nil {
		return callbackError{err}
	}
	sub.last = rec.Position
	return nil
}
