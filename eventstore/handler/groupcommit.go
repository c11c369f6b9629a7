package handler

// Group commit. The pipeline of an accepted command:
//
//  1. Handle decides it under its shop's lock against the shop's pending
//     state (stored state plus the accepted commands not yet stored),
//     applies its events to that pending state, queues it on the shop and
//     releases the shop: the next command on the shop is decided at once,
//     on top of it, without waiting for the store.
//  2. The committer takes queued commands into a batch when no batch is
//     in flight (a lone command goes out at once; one event is a plain
//     publish), or when enough piled up while others are in flight, up to
//     Config.MaxBatchEvents events and Config.MaxBatchBytes bytes. A shop
//     sits in at most one batch in flight: each of its commands is a
//     request of its own, expecting the version the one before produces.
//  3. The batch is appended atomically (eventstore.BatchAppender), off
//     every caller's context. Stored: each command's events are applied
//     to the shop's stored state, its key recorded, OnAppend told, and its
//     caller answered. Refused for a conflict: the stale shops are found
//     (the store's error, else Head per stream), their commands and those
//     queued behind them are decided again after a catch-up, and the other
//     shops' commands go out again unchanged. A store error fails the
//     batch's commands with it; the shops' queued commands are decided
//     again after a catch-up (the batch may or may not have been stored).
//
// A rejection decided on pending state is answered only once that state
// is stored and the stream's head confirmed (see handleGrouped).

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
)

// command is an accepted command on its way to the store.
type command struct {
	e           *shopEntry
	key, digest string
	events      []domain.Event
	data        []eventstore.EventData
	expected    uint64 // the stream's version before its events
	bytes       int
	attempts    int // refusals of this command's own decisions so far
	resends     int // times it was sent again because a neighbour in its batch was stale

	done chan struct{} // closed once the outcome below is set
	res  Result
	err  error
	redo bool // decide again: the state it was decided on is gone
}

// batch is one atomic append: commands grouped by shop, in shop order.
type batch struct {
	cmds  []*command
	shops []*shopEntry
}

// committer forms and sends batches.
type committer struct {
	h     *Handler
	batch eventstore.BatchAppender // nil: per-command appends
	// fsyncEach: a plain append waits for an fsync of its own (the store
	// is not an eventstore.FsyncReporter saying otherwise).
	fsyncEach bool

	mu       sync.Mutex
	ready    []*shopEntry // shops with queued commands and no batch in flight
	queued   int          // events queued by the ready shops
	inflight int
	fill     int // events that justify another batch while some are in flight

	// Stats, for benchmarks and tests.
	stats BatchStats
}

// BatchStats counts what the committer sent.
type BatchStats struct {
	Batches   int64         // appends sent (a batch, or one command without a BatchAppender)
	Commands  int64         // commands in them
	Events    int64         // events in them
	Conflicts int64         // batches refused for a conflict
	Failures  int64         // batches failed with a store error
	BySize    map[int]int64 // batches by commands in them, bucketed: 1, 2-4, 5-16, 17-64, 65-256, 257-1000
}

// Stats returns a copy of the group-commit counters.
func (h *Handler) Stats() BatchStats {
	g := h.gc
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.stats
	s.BySize = make(map[int]int64, len(g.stats.BySize))
	for k, v := range g.stats.BySize {
		s.BySize[k] = v
	}
	return s
}

// sizeBucket is the upper bound of n's bucket in BatchStats.BySize.
func sizeBucket(n int) int {
	for _, b := range []int{1, 4, 16, 64, 256} {
		if n <= b {
			return b
		}
	}
	return 1000
}

// maxResends bounds how often a command is sent again because other
// streams of its batch were stale (each such round removes the stale
// streams, so this is only reached if other writers win every round).
const maxResends = 256

func newCommitter(h *Handler) *committer {
	g := &committer{h: h, stats: BatchStats{BySize: map[int]int64{}}}
	g.batch, _ = h.store.(eventstore.BatchAppender)
	g.fsyncEach = true
	if r, ok := h.store.(eventstore.FsyncReporter); ok {
		g.fsyncEach = r.FsyncsEachAppend()
	}
	// Another batch while one is in flight only when it is worth an fsync
	// of its own; below that, the queue waits and grows.
	g.fill = h.cfg.MaxBatchEvents / 4
	return g
}

// handleGrouped is Handle with group commit.
func (h *Handler) handleGrouped(ctx context.Context, e *shopEntry, cmd domain.Command, meta Meta, digest string) (Result, error) {
	stream := e.stream
	key := meta.IdempotencyKey
	attempt := 0
	var fresh freshness
	for {
		if attempt >= h.cfg.MaxRetries {
			return Result{}, fmt.Errorf("%w (%d attempts on %s)", ErrConflict, attempt, stream)
		}
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		e.mu.Lock()
		if err := h.prepare(ctx, e); err != nil {
			e.mu.Unlock()
			return Result{}, err
		}
		if key != "" {
			if rec, ok := e.idem[key]; ok {
				e.mu.Unlock()
				return h.replay(ctx, stream, rec, digest)
			}
			if first, ok := e.pendingIdem[key]; ok {
				// The key's first command is on its way: its outcome
				// decides (stored: replayed; refused: decided anew).
				e.mu.Unlock()
				if err := wait(ctx, first.done); err != nil {
					return Result{}, err
				}
				continue
			}
		}
		req := h.request(meta, digest)
		payloads, derr := domain.Decide(e.pending, cmd, req)
		if derr != nil {
			confirmed, err := h.confirmRejection(ctx, e, &fresh)
			if err != nil {
				return Result{}, err
			}
			if confirmed {
				return Result{}, derr
			}
			attempt++
			continue
		}
		events := domain.NewEvents(stream, cmd.CommandName(), req, h.cfg.IDs, payloads)
		data, err := Encode(events)
		if err == nil {
			// Refuse here what every backend refuses, so that one bad
			// command never fails the batch it would have joined.
			err = eventstore.ValidateAppend(stream, eventstore.ExpectedVersion(e.pending.Version), data)
		}
		if err != nil {
			e.mu.Unlock()
			return Result{}, err
		}
		c := &command{e: e, key: key, digest: digest, events: events, data: data,
			expected: e.pending.Version, attempts: attempt, done: make(chan struct{})}
		for _, d := range data {
			c.bytes += len(d.Data)
		}
		for _, p := range payloads {
			domain.Apply(e.pending, p)
		}
		e.npending++
		e.tail = c
		if key != "" {
			e.pendingIdem[key] = c
		}
		h.gc.enqueue(c)
		e.mu.Unlock()

		if err := wait(ctx, c.done); err != nil {
			return Result{}, err // the command stays in its batch; see Handle
		}
		if c.redo {
			attempt = c.attempts + 1
			continue
		}
		return c.res, c.err
	}
}

// freshness marks the state a call caught the shop up to, with nothing of
// ours in flight: a rejection decided on it, if nothing changed since,
// needs no further head check (the read was after the command arrived).
type freshness struct {
	ok           bool
	gen, version uint64
}

func (f *freshness) holds(e *shopEntry) bool {
	return f.ok && e.quiescent() && !e.stale && e.gen == f.gen && e.committed.Version == f.version
}

// confirmRejection is called with the shop locked and a rejection decided
// on its pending state; it returns with the shop unlocked. confirmed: the
// rejection may be answered, because the state it was decided on is
// stored and was the stream's head after the command arrived. Otherwise
// the command is decided again (the shop was caught up when nothing of
// ours was in flight).
//
// Why this suffices: our commands on a shop are stored in decision order,
// each expecting the version the previous one produced. Once those decided
// before the rejection are stored (version v), either a later command of
// ours is stored on top of v (so nobody else appended between: v was the
// head after the rejection was decided), or Head shows v with our hash.
func (h *Handler) confirmRejection(ctx context.Context, e *shopEntry, fresh *freshness) (bool, error) {
	gen, v := e.gen, e.pending.Version
	if fresh.holds(e) {
		e.mu.Unlock()
		return true, nil
	}
	if !e.quiescent() {
		// Decided on state not stored yet: wait for it.
		tail := e.tail
		e.mu.Unlock()
		if err := wait(ctx, tail.done); err != nil {
			return false, err
		}
		e.mu.Lock()
		if e.gen != gen || e.committed.Version < v {
			e.mu.Unlock()
			return false, nil // that state is gone: decide again
		}
		if e.committed.Version > v {
			e.mu.Unlock()
			return true, nil
		}
	}
	head := e.head
	e.mu.Unlock()
	hv, hh, err := h.store.Head(ctx, e.stream)
	if err != nil {
		return false, fmt.Errorf("head of %s: %w", e.stream, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gen == gen && (e.committed.Version > v || (hv == v && hh == head)) {
		return true, nil
	}
	if e.gen == gen && e.quiescent() && !e.stale {
		// Others appended: catch up, then decide again.
		if err := h.catchUp(ctx, e); err != nil {
			return false, err
		}
		*fresh = freshness{ok: true, gen: e.gen, version: e.committed.Version}
	}
	return false, nil
}

// enqueue queues an accepted command (its shop locked) and sends batches
// if the pipeline has room.
func (g *committer) enqueue(c *command) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := c.e
	e.queue = append(e.queue, c)
	e.queued += len(c.data)
	switch {
	case e.inReady:
		g.queued += len(c.data)
	case !e.inflight:
		e.inReady = true
		g.ready = append(g.ready, e)
		g.queued += e.queued
	}
	g.launchLocked()
}

// launchLocked sends batches: always when none is in flight (a lone
// command waits for no one), and while others are in flight only once
// enough piled up to be worth an fsync of their own.
func (g *committer) launchLocked() {
	for len(g.ready) > 0 && (g.inflight == 0 || (g.inflight < g.h.cfg.MaxInflightBatches && g.queued >= g.fill)) {
		b := g.takeLocked()
		if len(b.cmds) == 0 {
			return
		}
		g.inflight++
		go g.commit(b)
	}
}

// takeLocked fills a batch from the ready shops, oldest first, within the
// event and byte caps. A shop whose queue does not fit whole goes with a
// prefix; the rest waits for the batch to be stored.
func (g *committer) takeLocked() *batch {
	b := &batch{}
	events, bytes := 0, 0
	maxEvents, maxBytes := g.h.cfg.MaxBatchEvents, g.h.cfg.MaxBatchBytes
	taken := 0
	for taken < len(g.ready) {
		e := g.ready[taken]
		if len(e.queue) == 0 {
			e.inReady = false
			taken++
			continue
		}
		n := 0
		for ; n < len(e.queue); n++ {
			c := e.queue[n]
			// The first command always goes (alone if it must).
			if events > 0 && (events+len(c.data) > maxEvents || bytes+c.bytes > maxBytes) {
				break
			}
			events += len(c.data)
			bytes += c.bytes
		}
		if n == 0 {
			break // full
		}
		b.cmds = append(b.cmds, e.queue[:n]...)
		b.shops = append(b.shops, e)
		e.queue = append([]*command(nil), e.queue[n:]...)
		g.queued -= e.queued // the shop is no longer ready, its rest waits
		for _, c := range b.cmds[len(b.cmds)-n:] {
			e.queued -= len(c.data)
		}
		e.inflight, e.inReady = true, false
		taken++
	}
	g.ready = append(g.ready[:0], g.ready[taken:]...)
	if len(b.cmds) == 0 {
		return b
	}
	g.stats.Batches++
	g.stats.Commands += int64(len(b.cmds))
	g.stats.Events += int64(events)
	g.stats.BySize[sizeBucket(len(b.cmds))]++
	return b
}

// commit appends a batch and settles its commands.
func (g *committer) commit(b *batch) {
	ctx, cancel := context.WithTimeout(context.Background(), g.h.cfg.CommitTimeout)
	defer cancel()
	var resubmit map[*shopEntry][]*command
	if g.batch != nil && !g.small(b) {
		resubmit = g.commitBatch(ctx, b)
	} else {
		g.commitEach(ctx, b)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, e := range b.shops {
		e.inflight = false
		if again := resubmit[e]; len(again) > 0 {
			// again is a window on the batch's slice: appending to it would
			// overwrite the next shop's commands, so build a new queue.
			e.queue = slices.Concat(again, e.queue)
			for _, c := range again {
				e.queued += len(c.data)
			}
		}
		if len(e.queue) > 0 && !e.inReady {
			e.inReady = true
			g.ready = append(g.ready, e)
			g.queued += e.queued
		}
	}
	g.inflight--
	g.launchLocked()
}

// small reports whether b goes out as one append per command (shops in
// parallel, each shop's commands in order) instead of one atomic batch.
// An atomic batch costs the server a fixed 2-3 ms here (it stages the
// batch in a store of its own, created and deleted per batch) where a
// plain publish costs one fsync (0.2-0.3 ms): below Config.SmallBatch
// single-event commands, one per shop, publishing each is faster. Where a
// plain append waits for no fsync (interval sync), a batch shares nothing
// and every batch of single-event commands goes out command by command
// (docs/performance.md, section 4).
func (g *committer) small(b *batch) bool {
	if g.h.cfg.SmallBatch < 0 || eventsOf(b.cmds) != len(b.cmds) {
		return false
	}
	if !g.fsyncEach {
		return true
	}
	return len(b.cmds) <= g.h.cfg.SmallBatch && len(b.shops) == len(b.cmds)
}

func eventsOf(cmds []*command) int {
	n := 0
	for _, c := range cmds {
		n += len(c.data)
	}
	return n
}

// commitBatch appends b atomically. It returns the commands to send again
// (those of shops that were not stale in a batch refused for a conflict).
func (g *committer) commitBatch(ctx context.Context, b *batch) map[*shopEntry][]*command {
	reqs := make([]eventstore.AppendRequest, len(b.cmds))
	for i, c := range b.cmds {
		reqs[i] = eventstore.AppendRequest{Stream: c.e.stream, Expected: eventstore.ExpectedVersion(c.expected), Events: c.data}
	}
	res, err := g.batch.AppendBatch(ctx, reqs)
	if err == nil {
		i := 0
		for _, e := range b.shops {
			n := countOf(b.cmds[i:], e)
			g.h.settle(e, b.cmds[i:i+n], res[i:i+n])
			i += n
		}
		return nil
	}
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		g.count(func(s *BatchStats) { s.Failures++ })
		i := 0
		for _, e := range b.shops {
			n := countOf(b.cmds[i:], e)
			g.h.drop(e, b.cmds[i:i+n], fmt.Errorf("append to %s: %w", e.stream, err))
			i += n
		}
		return nil
	}
	g.count(func(s *BatchStats) { s.Conflicts++ })
	stale := g.staleShops(ctx, b, err)
	resubmit := map[*shopEntry][]*command{}
	i := 0
	for _, e := range b.shops {
		n := countOf(b.cmds[i:], e)
		cmds := b.cmds[i : i+n]
		i += n
		if !stale[e] {
			// A neighbour of a stale stream was not refused for itself:
			// resending it costs none of its retry budget (one stale
			// command must never fail its neighbours, however many other
			// writers keep touching the batch's other streams). Resends
			// are bounded apart, against a livelock.
			for _, c := range cmds {
				c.resends++
				if c.resends >= maxResends {
					c.attempts = g.h.cfg.MaxRetries
					stale[e] = true // its callers give up with ErrConflict
				}
			}
		}
		if stale[e] {
			g.h.drop(e, cmds, nil)
			continue
		}
		resubmit[e] = cmds
	}
	return resubmit
}

// commitEach appends command by command (a store without atomic
// multi-stream batches): shops in parallel, each shop's commands in order.
func (g *committer) commitEach(ctx context.Context, b *batch) {
	var wg sync.WaitGroup
	i := 0
	for _, e := range b.shops {
		n := countOf(b.cmds[i:], e)
		cmds := b.cmds[i : i+n]
		i += n
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k, c := range cmds {
				res, err := g.h.store.Append(ctx, e.stream, eventstore.ExpectedVersion(c.expected), c.data)
				switch {
				case err == nil:
					g.h.settle(e, cmds[k:k+1], []eventstore.AppendResult{res})
					continue
				case errors.Is(err, eventstore.ErrWrongExpectedVersion):
					c.attempts++
					g.count(func(s *BatchStats) { s.Conflicts++ })
					g.h.drop(e, cmds[k:], nil)
				default:
					g.count(func(s *BatchStats) { s.Failures++ })
					c.err = fmt.Errorf("append to %s: %w", e.stream, err)
					g.h.drop(e, cmds[k:k+1], c.err)
					g.h.drop(e, cmds[k+1:], nil)
				}
				return
			}
		}()
	}
	wg.Wait()
}

func (g *committer) count(f func(*BatchStats)) {
	g.mu.Lock()
	f(&g.stats)
	g.mu.Unlock()
}

// countOf counts the leading commands of cmds that belong to e.
func countOf(cmds []*command, e *shopEntry) int {
	n := 0
	for n < len(cmds) && cmds[n].e == e {
		n++
	}
	return n
}

// conflictStream is implemented by store errors that name the stream
// whose expectation failed (the jetstream adapter's, when its head cache
// or a head read showed it before publishing).
type conflictStream interface{ ConflictStream() string }

// staleShops finds the shops of a refused batch whose stream moved on:
// the one the error names, else every stream whose head is not where the
// batch expected it. If none is found (a race), every shop counts as
// stale: deciding again is always safe.
func (g *committer) staleShops(ctx context.Context, b *batch, err error) map[*shopEntry]bool {
	stale := map[*shopEntry]bool{}
	if len(b.shops) == 1 {
		stale[b.shops[0]] = true
		return stale
	}
	var named conflictStream
	if errors.As(err, &named) {
		for _, e := range b.shops {
			if e.stream == named.ConflictStream() {
				stale[e] = true
				return stale
			}
		}
	}
	expected := make(map[*shopEntry]uint64, len(b.shops))
	for i := len(b.cmds) - 1; i >= 0; i-- {
		expected[b.cmds[i].e] = b.cmds[i].expected // ends at each shop's first
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, e := range b.shops {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			v, _, herr := g.h.store.Head(ctx, e.stream)
			if herr != nil || v != expected[e] {
				mu.Lock()
				stale[e] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(stale) == 0 {
		for _, e := range b.shops {
			stale[e] = true
		}
	}
	return stale
}

// settle records stored commands of one shop (in order) and answers them.
func (h *Handler) settle(e *shopEntry, cmds []*command, res []eventstore.AppendResult) {
	e.mu.Lock()
	broken := false
	for i, c := range cmds {
		r := res[i]
		for k := range c.events {
			c.events[k].Version = r.FirstVersion + uint64(k)
			domain.Apply(e.committed, c.events[k].Data)
		}
		c.events[len(c.events)-1].Position = r.LastPosition
		if e.committed.Version != r.LastVersion {
			broken = true // cannot happen: the store chained from our expectation
		}
		h.stored(e, c.key, c.digest, r)
		if c.key != "" && e.pendingIdem[c.key] == c {
			delete(e.pendingIdem, c.key)
		}
		c.res = Result{Stream: e.stream, Events: c.events, Version: r.LastVersion}
		e.npending--
		if e.tail == c {
			e.tail = nil
		}
	}
	var behind []*command
	if broken {
		behind = h.resetLocked(e)
	}
	h.maybeSnapshot(e)
	e.mu.Unlock()
	for _, c := range cmds {
		close(c.done)
	}
	for _, c := range behind {
		c.redo = true
		close(c.done)
	}
}

// drop settles commands that were not stored: with err, their callers get
// it; with nil, they decide again. Either way the shop's pending state is
// gone and every command queued behind them is decided again too.
func (h *Handler) drop(e *shopEntry, cmds []*command, err error) {
	e.mu.Lock()
	behind := h.resetLocked(e)
	e.mu.Unlock()
	for _, c := range cmds {
		if err != nil {
			c.err = err
		} else {
			c.redo = true
		}
		close(c.done)
	}
	for _, c := range behind {
		c.redo = true
		close(c.done)
	}
}

// resetLocked drops a shop's pending state (shop locked): the queued
// commands are returned to be decided again, the shop catches up with the
// store before its next decision.
func (h *Handler) resetLocked(e *shopEntry) []*command {
	g := h.gc
	g.mu.Lock()
	behind := e.queue
	e.queue, e.queued = nil, 0 // the shop is in flight: not counted in g.queued
	g.mu.Unlock()
	e.pending = nil
	e.stale = true
	e.gen++
	e.npending = 0
	e.tail = nil
	clear(e.pendingIdem)
	return behind
}
