package projections

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// errFeedDone ends a reader whose instances all stopped or that reached
// Config.StopBefore.
var errFeedDone = errors.New("feed done")

// feed is one reader of the log: it reads from the lowest checkpoint of
// its members, decodes each event once and hands it to every member; a
// member skips what is at or below its own position.
//
// It is a pipeline: while catching up, the next ReadAll page is read while
// the current one is decoded (prefetch), and decoded events go in batches
// to one goroutine per member, which applies them in order and commits its
// own batches. The projections are independent, so they apply in
// parallel; each still sees every event in global order, and its
// checkpoint only ever covers what it applied. Whatever stops the reader
// (a decode error, a gap, an order violation, the end of a replay) first
// waits for the members to apply what was handed to them (drain).
type feed struct {
	rt      *Runtime
	members []member
	next    uint64 // next position to read
	last    uint64 // last position delivered (next-1 at the start)
	recent  ring   // the last positions delivered, with their event IDs

	batch    []domain.Event // decoded, not yet handed to the members
	live     bool           // following live events: hand each over at once
	inflight sync.WaitGroup // batches handed over and not yet applied, per member
	workers  sync.WaitGroup
}

type member struct {
	in    *instance
	gen   uint64
	queue chan []domain.Event // batches to apply, in order (each with its position, stream and version)
}

// Pipeline bounds: events per batch handed to the members, and batches
// queued per member (so at most about 4,000 decoded events in flight).
const (
	applyBatch = 512
	applyQueue = 8
)

// startWorkers starts one applying goroutine per member.
func (f *feed) startWorkers() {
	for i := range f.members {
		m := &f.members[i]
		m.queue = make(chan []domain.Event, applyQueue)
		f.workers.Add(1)
		go func() {
			defer f.workers.Done()
			wants := true
			for b := range m.queue {
				for j := 0; wants && j < len(b); j++ {
					wants = m.in.apply(m.gen, b[j])
				}
				f.inflight.Done()
			}
		}()
	}
}

// stopWorkers applies what is queued and ends the workers.
func (f *feed) stopWorkers() {
	f.drain()
	for _, m := range f.members {
		close(m.queue)
	}
	f.workers.Wait()
}

// dispatch hands the pending batch to every member.
func (f *feed) dispatch() {
	if len(f.batch) == 0 {
		return
	}
	for _, m := range f.members {
		f.inflight.Add(1)
		m.queue <- f.batch
	}
	// Live, each event is handed over alone: a page-sized array per event
	// (512 events, ~140 KB) was most of a following payoutd's allocation.
	f.batch = make([]domain.Event, 0, f.nextBatchCap())
}

// nextBatchCap is the room of the next batch: a page while catching up,
// one event when live.
func (f *feed) nextBatchCap() int {
	if f.live {
		return 1
	}
	return applyBatch
}

// drain hands the pending batch over and waits until every member applied
// everything it was given.
func (f *feed) drain() {
	f.dispatch()
	f.inflight.Wait()
}

func newFeed(r *Runtime, ins []*instance) *feed {
	f := &feed{rt: r}
	first := true
	for _, in := range ins {
		in.mu.RLock()
		f.members = append(f.members, member{in: in, gen: in.gen})
		c := in.applied
		in.mu.RUnlock()
		if first || c+1 < f.next {
			f.next, first = c+1, false
		}
	}
	f.last = f.next - 1
	return f
}

// maxReplayRetries bounds the consecutive timed-out reads a replay
// (StopAtHead) retries before it fails.
const maxReplayRetries = 5

// run catches up with ReadAll pages, then follows Subscribe. A source
// error is retried with backoff from the last delivered position (the
// members skip any overlap); with StopAtHead, or a closed store, it fails
// the members.
func (f *feed) run(parent context.Context) {
	// The reader's own context: cancelled once no member wants events,
	// so that a reader whose projections all failed or retired while no
	// event arrived does not wait on its subscription forever.
	ctx, stop := context.WithCancel(parent)
	defer stop()
	f.startWorkers()
	defer f.stopWorkers()
	go f.tick(ctx, stop)

	backoff := 50 * time.Millisecond
	replayRetries := 0 // consecutive timed-out reads retried during a replay
	for {
		from := f.next
		err := f.catchUp(ctx)
		if f.next > from {
			// Progress: the counts are of consecutive failures.
			replayRetries, backoff = 0, 50*time.Millisecond
		}
		f.drain()
		if err == nil {
			if f.rt.cfg.StopAtHead {
				for _, m := range f.members {
					if m.in.building.Load() {
						f.rt.maybeTakeover(m.in, true)
					}
				}
				return
			}
			for _, m := range f.members {
				m.in.setState(m.gen, StateLive)
				if m.in.building.Load() {
					f.rt.maybeTakeover(m.in, true)
				}
			}
			f.live = true
			err = f.rt.cfg.Source.Subscribe(ctx, f.next, func(r eventstore.RecordedEvent) error { return f.deliver(ctx, r) })
			f.live = false
			f.drain()
		}
		switch {
		case errors.Is(err, errFeedDone), ctx.Err() != nil, !f.alive():
			return
		case f.rt.cfg.StopAtHead && errors.Is(err, context.DeadlineExceeded) && replayRetries < maxReplayRetries:
			// A read that timed out (a store busy, a long GC pause of a
			// replay holding millions of rows): a replay retries it from
			// where it is a few times before giving up.
			replayRetries++
		case f.rt.cfg.StopAtHead, errors.Is(err, eventstore.ErrClosed):
			// A replay reports the error; a closed store will not come
			// back. Anything else (a broken connection) is retried.
			f.failAll(&ProjectionError{Position: f.next, Op: "read", Err: err})
			return
		case f.rt.cfg.DensePositions && errors.Is(err, eventstore.ErrChainBroken):
			// The store cannot return a position (damage on disk): waiting
			// will not bring it back, and skipping it would serve a read
			// model short of an event. Stop where it is, visibly.
			f.failAll(&ProjectionError{Position: f.next, Op: "gap", Err: fmt.Errorf("%w: %w", ErrGap, err)})
			return
		}
		f.rt.cfg.Logf("projections: reading from position %d: %v (retrying in %s)", f.next, err, backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if backoff *= 2; backoff > 5*time.Second {
			backoff = 5 * time.Second
		}
	}
}

// catchUp delivers ReadAll pages until one comes back empty. The next
// page is read while this one is delivered: it starts after the last
// position of this page, which is where delivering it leaves f.next.
func (f *feed) catchUp(ctx context.Context) error {
	type page struct {
		recs []eventstore.RecordedEvent
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	pages := make(chan page, 1)
	done := make(chan struct{})
	defer func() { cancel(); <-done }()
	go func() {
		defer close(done)
		from := f.next
		for {
			recs, err := f.rt.cfg.Source.ReadAll(ctx, from, f.rt.cfg.PageSize)
			select {
			case pages <- page{recs, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(recs) == 0 {
				return
			}
			from = recs[len(recs)-1].Position + 1
		}
	}()
	for {
		var p page
		select {
		case p = <-pages:
		case <-ctx.Done():
			return ctx.Err()
		}
		if p.err != nil {
			return p.err
		}
		if len(p.recs) == 0 {
			return nil
		}
		for _, r := range p.recs {
			if err := f.deliver(ctx, r); err != nil {
				return err
			}
		}
		f.dispatch()
		if !f.alive() {
			return errFeedDone
		}
	}
}

// alive reports whether a member still wants events.
func (f *feed) alive() bool {
	for _, m := range f.members {
		m.in.mu.RLock()
		ok := m.in.gen == m.gen && m.in.state != StateFailed && m.in.state != StateRetired
		m.in.mu.RUnlock()
		if ok {
			return true
		}
	}
	return false
}

// tick commits members whose oldest uncommitted event is BatchInterval
// old (in live mode events may stop arriving mid-batch), and ends the
// reader once no member wants events.
func (f *feed) tick(ctx context.Context, stop context.CancelFunc) {
	t := time.NewTicker(f.rt.cfg.BatchInterval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := f.rt.cfg.Now()
			for _, m := range f.members {
				m.in.flushDue(now)
			}
			if !f.alive() {
				stop()
				return
			}
		}
	}
}

// deliver checks order and gaps, then applies one event to the members.
func (f *feed) deliver(ctx context.Context, r eventstore.RecordedEvent) error {
	if r.Position <= f.last {
		// A redelivery of something already delivered is skipped; a
		// different event at a position already passed is a late event
		// with a lower position: applying it would break global order
		// and skipping it would lose it, so the reader stops.
		if id, ok := f.recent.get(r.Position); ok && id == r.ID {
			f.countDuplicate()
			return nil
		}
		if f.recent.covers(r.Position) {
			f.failAll(&ProjectionError{Position: r.Position, Stream: r.Stream, StreamVer: r.Version, EventType: r.Type, Op: "order",
				Err: fmt.Errorf("%w: event %s at position %d after position %d", ErrOrder, r.ID, r.Position, f.last)})
			return errFeedDone
		}
		// Older than the recent window: at or below every member's
		// checkpoint, which is exactly what a checkpoint skips.
		f.countDuplicate()
		return nil
	}
	if f.rt.cfg.DensePositions && r.Position > f.last+1 {
		if err := f.fillGap(ctx, r.Position); err != nil {
			return err
		}
	}
	return f.apply(r)
}

func (f *feed) countDuplicate() {
	for _, m := range f.members {
		m.in.duplicates.Add(1)
	}
}

// fillGap waits (GapTimeout) for the positions between the last delivered
// one and upTo, re-reading them, and delivers them in order. The members'
// checkpoints never pass a missing position.
func (f *feed) fillGap(ctx context.Context, upTo uint64) error {
	deadline := f.rt.cfg.Now().Add(f.rt.cfg.GapTimeout)
	wait := 10 * time.Millisecond
	for f.last+1 < upTo {
		recs, err := f.rt.cfg.Source.ReadAll(ctx, f.last+1, int(min(upTo-f.last-1, uint64(f.rt.cfg.PageSize))))
		if err != nil {
			return err
		}
		progressed := false
		for _, r := range recs {
			if r.Position >= upTo || r.Position != f.last+1 {
				break
			}
			if err := f.apply(r); err != nil {
				return err
			}
			progressed = true
		}
		if progressed || f.last+1 >= upTo {
			continue
		}
		if f.rt.cfg.Now().After(deadline) {
			f.failAll(&ProjectionError{Position: f.last + 1, Op: "gap",
				Err: fmt.Errorf("%w: positions %d to %d missing for %s", ErrGap, f.last+1, upTo-1, f.rt.cfg.GapTimeout)})
			return errFeedDone
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
	return nil
}

// apply decodes r once and queues it for every member.
func (f *feed) apply(r eventstore.RecordedEvent) error {
	if stop := f.rt.cfg.StopBefore; stop != nil && stop(r) {
		return errFeedDone
	}
	ev, err := handler.Decode(r)
	if err != nil {
		f.failAll(&ProjectionError{Position: r.Position, Stream: r.Stream, StreamVer: r.Version, EventType: r.Type, Op: "decode", Err: err})
		return errFeedDone
	}
	f.batch = append(f.batch, ev)
	f.last, f.next = r.Position, r.Position+1
	f.recent.add(r.Position, r.ID)
	f.rt.observeHead(r.Position)
	if f.live || len(f.batch) >= applyBatch {
		f.dispatch()
		if !f.alive() {
			return errFeedDone
		}
	}
	return nil
}

// failAll stops every member with the same error (decode, order, gap:
// nothing past that position can be applied by anyone).
func (f *feed) failAll(proto *ProjectionError) {
	// What was handed over before the failing position is applied first.
	f.drain()
	for _, m := range f.members {
		in := m.in
		in.mu.Lock()
		if in.gen == m.gen && in.state != StateFailed && in.state != StateRetired {
			pe := *proto
			pe.Projection, pe.Version = in.schema.Projection, in.schema.Version
			// What was applied before the failing position is good:
			// commit it, so a resume starts right at the failure.
			if in.commitLocked() == nil {
				in.failWith(&pe)
			}
		}
		in.mu.Unlock()
	}
}

// ring remembers the IDs of the last ringSize positions delivered, to tell
// a redelivery (same ID) from a late event with a lower position.
const ringSize = 4096

type ring struct {
	pos [ringSize]uint64
	ids [ringSize]uuid.UUID
	n   int // entries filled
	at  int // next slot
}

func (r *ring) add(p uint64, id uuid.UUID) {
	r.pos[r.at], r.ids[r.at] = p, id
	r.at = (r.at + 1) % ringSize
	if r.n < ringSize {
		r.n++
	}
}

// oldest is the lowest remembered position (0 when empty).
func (r *ring) oldest() uint64 {
	if r.n == 0 {
		return 0
	}
	return r.pos[(r.at-r.n+ringSize)%ringSize]
}

func (r *ring) covers(p uint64) bool { return r.n > 0 && p >= r.oldest() }

func (r *ring) get(p uint64) (uuid.UUID, bool) {
	// Positions are increasing in the ring: binary search.
	lo, hi := 0, r.n
	for lo < hi {
		mid := (lo + hi) / 2
		q := r.pos[(r.at-r.n+mid+ringSize)%ringSize]
		switch {
		case q == p:
			return r.ids[(r.at-r.n+mid+ringSize)%ringSize], true
		case q < p:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return uuid.UUID{}, false
}
