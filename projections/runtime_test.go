package projections

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/projections/projtest"
)

func seeded(t *testing.T) (int64, *rand.Rand) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d (a failure replays with this seed)", seed)
	return seed, rand.New(rand.NewSource(seed))
}

func withApplyLog() []Factory { return append(All(), newApplyLog) }

// A projector killed mid-batch 100 times, at random points (a commit that
// never happens, half a frame written, the runtime cancelled between
// flushes), with new events arriving between restarts, never applies an
// event twice and ends equal to a fresh replay.
func TestKilledMidBatchManyTimesNeverAppliesTwice(t *testing.T) {
	seed, rng := seeded(t)
	w := projtest.NewWorkload(seed)
	w.Run(600)
	dir := t.TempDir()
	fs := withApplyLog()
	crashes, kills, committed := 0, 0, int64(0)
	runs := 0
	for ; kills < 100; runs++ {
		require.Less(t, runs, 400, "runs")
		w.Run(15)                                                                             // the log grows between restarts
		st, err := OpenEmbeddedConfig(dir, EmbeddedConfig{CompactAt: 64 << 10, NoSync: true}) // a killed process loses no write that reached the OS
		require.NoError(t, err)
		// Killed inside the k-th commit (half a frame written, or
		// nothing), or after n events read, whichever comes first: from
		// then on nothing reaches the store, not even the final flush of
		// a clean stop.
		cs := &crashStore{ReadModelStore: st, torn: rng.Intn(2) == 0}
		cs.left.Store(int64(rng.Intn(10)))
		ctx, cancel := context.WithCancel(context.Background())
		kill := func() { cs.crashed.Store(true); cancel() }
		src := &cancelAfter{Source: w.Log, cancel: kill}
		src.n.Store(int64(1 + rng.Intn(300)))
		live := rng.Intn(2) == 0
		rt := newRuntime(t, src, cs, func(c *Config) {
			c.BatchEvents = 5 + rng.Intn(60)
			c.PageSize = 1 + rng.Intn(40)
			c.StopAtHead = !live
		}, fs...)
		if live {
			// Caught up, a live runtime waits for events: kill it then,
			// with whatever it has not committed yet.
			head := uint64(w.Log.Len())
			go func() {
				for ctx.Err() == nil {
					all := true
					for _, s := range rt.Status() {
						all = all && (s.Applied >= head || s.State == StateFailed)
					}
					if all && len(rt.Status()) == len(fs) {
						kill()
					}
					time.Sleep(time.Millisecond)
				}
			}()
		}
		_ = rt.Run(ctx) // errors are the crash itself
		if cs.crashed.Load() {
			kills++
		}
		if cs.left.Load() < 0 {
			crashes++ // the crash hit a commit
		}
		committed += cs.commits.Load()
		cancel()
		require.NoError(t, st.Close())
	}
	t.Logf("%d runs: %d killed before a clean stop (%d inside a commit), %d commits, log of %d events", runs, kills, crashes, committed, w.Log.Len())
	require.Greater(t, crashes, 20, "many kills hit a commit")
	require.Greater(t, committed, int64(100), "and the runs made progress between kills")

	// The last run, without faults, to the head.
	st, err := OpenEmbedded(dir)
	require.NoError(t, err)
	defer st.Close()
	rt := newRuntime(t, w.Log, st, func(c *Config) { c.StopAtHead = true }, fs...)
	require.NoError(t, rt.Run(context.Background()))
	requireAppliedOnce(t, st, w.Log.Len())
	requireEqualsReplay(t, w.Log, st, All()...)
}

// The same event delivered again (at or below the checkpoint) changes
// nothing.
func TestEventSeenTwiceChangesNothing(t *testing.T) {
	seed, _ := seeded(t)
	w := projtest.NewWorkload(seed)
	w.Run(500)
	st := NewMemoryStore()
	rt := newRuntime(t, twice{w.Log}, st, nil, withApplyLog()...)
	stop := runLive(rt)
	w.Run(200) // live events, also delivered twice
	eventually(t, "caught up", func() bool { return statusOf(rt, applyLogName).Applied == uint64(w.Log.Len()) })
	require.NoError(t, stop())
	s := statusOf(rt, applyLogName)
	require.Equal(t, uint64(w.Log.Len()), s.Events, "each event applied once")
	require.GreaterOrEqual(t, s.Duplicates, uint64(w.Log.Len()), "every event was delivered at least twice")
	requireAppliedOnce(t, st, w.Log.Len())
	requireEqualsReplay(t, w.Log, st, All()...)
}

// A projector that fails stops at the failing event, reports its name and
// position, leaves the others running, serves its last committed rows,
// and resumes from its checkpoint after the fix: in place (Resume) and
// after a restart.
func TestFailingProjectorStopsAndResumesAfterTheFix(t *testing.T) {
	seed, _ := seeded(t)
	w := projtest.NewWorkload(seed)
	w.Run(400)
	at := uint64(w.Log.Len()/2 + 7)
	fail := &atomic.Bool{}
	fail.Store(true)
	buggy := func() Projector { return &faulty{Projector: NewPayoutRecords(), at: at, fail: fail} }
	fs := []Factory{NewQuotaUsage, buggy, newApplyLog}
	st := NewMemoryStore()
	rt := newRuntime(t, w.Log, st, nil, fs...)
	stop := runLive(rt)
	eventually(t, "the failure", func() bool { return statusOf(rt, PayoutRecordsName).State == StateFailed })
	s := statusOf(rt, PayoutRecordsName)
	require.NotNil(t, s.Err)
	require.Equal(t, PayoutRecordsName, s.Err.Projection)
	require.Equal(t, at, s.Err.Position, "the failing position is reported")
	require.Equal(t, "apply", s.Err.Op)
	require.NotEmpty(t, s.Err.Stream)
	require.Contains(t, s.Err.Error(), "payout_records v1 stopped at position")
	require.Less(t, s.Checkpoint, at, "nothing at or after the failing event is committed")
	require.Equal(t, s.Checkpoint, s.Applied, "the uncommitted part of the batch was discarded")

	// The others go on, live.
	w.Run(100)
	eventually(t, "the others caught up", func() bool {
		return statusOf(rt, QuotaUsageName).Applied == uint64(w.Log.Len()) && statusOf(rt, applyLogName).Applied == uint64(w.Log.Len())
	})
	// The failed projection answers from its committed rows.
	require.NoError(t, View(rt, PayoutRecordsName, func(p *PayoutRecords) error {
		_, err := p.Search(RecordsFilter{})
		return err
	}))

	// The fix, in place.
	fail.Store(false)
	require.NoError(t, rt.Resume(PayoutRecordsName))
	eventually(t, "resumed", func() bool { return statusOf(rt, PayoutRecordsName).Applied == uint64(w.Log.Len()) })
	require.Nil(t, statusOf(rt, PayoutRecordsName).Err)
	require.NoError(t, stop())
	requireEqualsReplay(t, w.Log, st, NewQuotaUsage, NewPayoutRecords)
	requireAppliedOnce(t, st, w.Log.Len())

	// The fix, by restart: fail again at a new position, stop, restart
	// with the fixed code: it resumes from its checkpoint.
	w.Run(100)
	at2 := uint64(w.Log.Len() - 3)
	fail.Store(true)
	rt2 := newRuntime(t, w.Log, st, nil, NewQuotaUsage, func() Projector { return &faulty{Projector: NewPayoutRecords(), at: at2, fail: fail} }, newApplyLog)
	stop = runLive(rt2)
	eventually(t, "the second failure", func() bool { return statusOf(rt2, PayoutRecordsName).State == StateFailed })
	require.Equal(t, at2, statusOf(rt2, PayoutRecordsName).Err.Position)
	require.NoError(t, stop())
	cp := statusOf(rt2, PayoutRecordsName).Checkpoint
	fail.Store(false)
	w.Log.ResetReads()
	rt3 := newRuntime(t, w.Log, st, func(c *Config) { c.StopAtHead = true }, NewPayoutRecords)
	require.NoError(t, rt3.Run(context.Background()))
	require.Equal(t, int64(uint64(w.Log.Len())-cp), w.Log.Reads(), "resumed from the checkpoint, not from 0")
	requireEqualsReplay(t, w.Log, st, NewPayoutRecords)
}

// StopAtHead (replay) returns the failure, with its position.
func TestReplayReturnsTheFailure(t *testing.T) {
	w := projtest.NewWorkload(3)
	w.Run(200)
	fail := &atomic.Bool{}
	fail.Store(true)
	rt := newRuntime(t, w.Log, NewMemoryStore(), func(c *Config) { c.StopAtHead = true },
		func() Projector { return &faulty{Projector: NewApprovals(), at: 42, fail: fail} })
	err := rt.Run(context.Background())
	var pe *ProjectionError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, uint64(42), pe.Position)
	require.Equal(t, ApprovalsName, pe.Projection)
}

// hiding hides one position from reads for a while, as a store whose
// sequence number was taken by a write not visible yet would.
type hiding struct {
	*projtest.Log
	pos     uint64
	visible atomic.Bool
	hidden  atomic.Int64 // reads that skipped pos
}

func (h *hiding) filter(recs []eventstore.RecordedEvent) []eventstore.RecordedEvent {
	if h.visible.Load() {
		return recs
	}
	var out []eventstore.RecordedEvent
	for _, r := range recs {
		if r.Position == h.pos {
			h.hidden.Add(1)
			continue
		}
		out = append(out, r)
	}
	return out
}

func (h *hiding) ReadAll(ctx context.Context, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	recs, err := h.Log.ReadAll(ctx, from, max)
	return h.filter(recs), err
}

func (h *hiding) Subscribe(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	return h.Log.Subscribe(ctx, from, func(r eventstore.RecordedEvent) error {
		if len(h.filter([]eventstore.RecordedEvent{r})) == 0 {
			return nil
		}
		return fn(r)
	})
}

// A position missing from a dense log is waited for and applied in its
// place; the checkpoint never passes it. If it never comes, the reader
// stops with ErrGap at that position.
func TestGapIsWaitedForNeverSkipped(t *testing.T) {
	w := projtest.NewWorkload(5)
	w.Run(300)
	h := &hiding{Log: w.Log, pos: 100}
	var got *applyLog
	rt := newRuntime(t, h, NewMemoryStore(), func(c *Config) { c.StopAtHead = true; c.GapTimeout = 20 * time.Second },
		func() Projector { got = newApplyLog().(*applyLog); return got })
	go func() {
		for h.hidden.Load() < 3 {
			time.Sleep(time.Millisecond)
		}
		h.visible.Store(true)
	}()
	require.NoError(t, rt.Run(context.Background()))
	require.GreaterOrEqual(t, h.hidden.Load(), int64(3), "the gap was seen")
	var order []uint64
	require.NoError(t, View(rt, applyLogName, func(a *applyLog) error { order = append(order, a.order...); return nil }))
	for i, p := range order {
		require.Equal(t, uint64(i+1), p, "applied in position order, the late one in its place")
	}
	require.Len(t, order, w.Log.Len())

	// Never visible: ErrGap, checkpoint below the gap.
	h2 := &hiding{Log: w.Log, pos: 150}
	rt2 := newRuntime(t, h2, NewMemoryStore(), func(c *Config) { c.StopAtHead = true; c.GapTimeout = 50 * time.Millisecond }, newApplyLog)
	err := rt2.Run(context.Background())
	require.ErrorIs(t, err, ErrGap)
	s := statusOf(rt2, applyLogName)
	require.Equal(t, uint64(149), s.Checkpoint)
	require.Equal(t, uint64(150), s.Err.Position)
}

// lateLower delivers the log, then a different event carrying a position
// already passed: global order broken.
type lateLower struct {
	*projtest.Log
	same bool // redeliver the same event instead (a duplicate)
}

func (l *lateLower) Subscribe(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	evs := l.Events()
	for _, r := range evs[from-1:] {
		if err := fn(r); err != nil {
			return err
		}
	}
	late := evs[len(evs)-5]
	if !l.same {
		late = evs[len(evs)-4]
		late.Position = evs[len(evs)-5].Position
	}
	if err := fn(late); err != nil {
		return err
	}
	<-ctx.Done()
	return ctx.Err()
}

func (l *lateLower) ReadAll(ctx context.Context, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	return nil, nil // everything comes through Subscribe
}

func TestLateLowerPositionStopsInsteadOfSkipping(t *testing.T) {
	w := projtest.NewWorkload(9)
	w.Run(100)
	for _, same := range []bool{true, false} {
		src := &lateLower{Log: w.Log, same: same}
		rt := newRuntime(t, src, NewMemoryStore(), func(c *Config) { c.DensePositions = false }, newApplyLog)
		stop := runLive(rt)
		eventually(t, "delivered", func() bool {
			s := statusOf(rt, applyLogName)
			return s.Duplicates > 0 || s.State == StateFailed
		})
		s := statusOf(rt, applyLogName)
		require.NoError(t, stop())
		if same {
			require.Nil(t, s.Err, "a redelivery is a duplicate")
			require.Equal(t, uint64(1), s.Duplicates)
			continue
		}
		require.Equal(t, StateFailed, s.State)
		require.ErrorIs(t, s.Err, ErrOrder)
		require.Equal(t, "order", s.Err.Op)
	}
}

// Lag is observable: a projector held in Apply shows the head, its
// position and how far behind it is; Status answers while it is stuck.
func TestLagIsObservable(t *testing.T) {
	w := projtest.NewWorkload(11)
	w.Run(300)
	gate := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	held := func() Projector { return &holding{Projector: newApplyLog(), gate: gate, from: 100} }
	rt := newRuntime(t, w.Log, NewMemoryStore(), func(c *Config) { c.ReaderPerProjection = true }, held, NewFundingBalances)
	stop := runLive(rt)
	defer stop()
	defer release()
	eventually(t, "held", func() bool { return statusOf(rt, applyLogName).Applied == 99 })
	eventually(t, "head known", func() bool { return statusOf(rt, applyLogName).Head == uint64(w.Log.Len()) })
	s := statusOf(rt, applyLogName)
	require.Equal(t, uint64(w.Log.Len()-99), s.Behind)
	require.Equal(t, StateCatchingUp, s.State)
	_, ok := rt.Lag(FundingBalancesName)
	require.True(t, ok)
	eventually(t, "the other is live", func() bool { l, _ := rt.Lag(FundingBalancesName); return l.State == StateLive && l.Behind == 0 })
	release()
	eventually(t, "caught up", func() bool { s := statusOf(rt, applyLogName); return s.Behind == 0 && s.State == StateLive })
	require.NoError(t, stop())
}

type holding struct {
	Projector
	gate <-chan struct{}
	from uint64
}

func (h *holding) Apply(e domain.Event) error {
	if e.Position >= h.from {
		<-h.gate
	}
	return h.Projector.Apply(e)
}

func (h *holding) Unwrap() Projector { return h.Projector }

// sparse is a source whose positions are multiples of 7 (as EventStoreDB
// commit positions are sparse), without LastPositioner.
type sparse struct{ log *projtest.Log }

func (s sparse) ReadAll(ctx context.Context, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	recs, err := s.log.ReadAll(ctx, (from+6)/7, max)
	for i := range recs {
		recs[i].Position *= 7
	}
	return recs, err
}

func (s sparse) Subscribe(context.Context, uint64, func(eventstore.RecordedEvent) error) error {
	return errors.New("not used")
}

func TestHeadPositionProbesWithoutLastPositioner(t *testing.T) {
	ctx := context.Background()
	w := projtest.NewWorkload(13)
	h, err := HeadPosition(ctx, sparse{w.Log}, 0)
	require.NoError(t, err)
	require.Equal(t, uint64(7*w.Log.Len()), h)
	w.Run(1500)
	for _, known := range []uint64{0, 7, 700, uint64(7 * w.Log.Len())} {
		h, err = HeadPosition(ctx, sparse{w.Log}, known)
		require.NoError(t, err)
		require.Equal(t, uint64(7*w.Log.Len()), h, "known %d", known)
	}
	empty := projtest.NewLog()
	h, err = HeadPosition(ctx, sparse{empty}, 0)
	require.NoError(t, err)
	require.Zero(t, h)
}

func TestRunsOnce(t *testing.T) {
	rt := newRuntime(t, projtest.NewLog(), NewMemoryStore(), func(c *Config) { c.StopAtHead = true }, NewApprovals)
	require.NoError(t, rt.Run(context.Background()))
	require.ErrorIs(t, rt.Run(context.Background()), ErrRunning)
	require.ErrorIs(t, rt.Read("nope", func(Projector) error { return nil }), ErrUnknownProjection)
	_, err := New(Config{Source: projtest.NewLog(), Store: NewMemoryStore()}, NewApprovals, NewApprovals)
	require.Error(t, err, "a version registered twice")
	_, err = New(Config{}, NewApprovals)
	require.Error(t, err)
	require.Error(t, rt.Resume(ApprovalsName), "Resume needs a running runtime")
}

// A read model whose checkpoint is past the end of the log (the log lost
// its tail) does not start: new events will reuse those positions.
func TestReadModelAheadOfTheLogIsRefused(t *testing.T) {
	w := projtest.NewWorkload(17)
	w.Run(200)
	st := NewMemoryStore()
	require.NoError(t, newRuntime(t, w.Log, st, func(c *Config) { c.StopAtHead = true }, NewFundingBalances).Run(context.Background()))
	shorter := projtest.NewLog() // the same log without its last 5 events
	evs := w.Log.Events()
	for _, r := range evs[:len(evs)-5] {
		ev, err := handler.Decode(r)
		require.NoError(t, err)
		require.NoError(t, shorter.Append(r.Stream, []domain.Event{ev}))
	}
	rt := newRuntime(t, shorter, st, func(c *Config) { c.StopAtHead = true }, NewFundingBalances)
	err := rt.Run(context.Background())
	require.ErrorIs(t, err, ErrAheadOfLog)
	s := statusOf(rt, FundingBalancesName)
	require.Equal(t, StateFailed, s.State)
	require.Equal(t, uint64(len(evs)), s.Err.Position)
}

// timingOut answers some ReadAll calls with a deadline error, the way a
// busy store's read times out: runs of inARow failing calls, starting at
// every call number divisible by every; forever from call failFrom on
// (when set).
type timingOut struct {
	Source
	mu                      sync.Mutex
	calls, fails, row       int
	every, inARow, failFrom int
}

func (s *timingOut) ReadAll(ctx context.Context, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	if max == 1 {
		// The runtime's head probes (HeadPosition) read one event: only
		// the feed's pages time out, so that the runs are the feed's.
		return s.Source.ReadAll(ctx, from, max)
	}
	s.mu.Lock()
	s.calls++
	failNow := (s.failFrom > 0 && s.calls >= s.failFrom) || s.calls%s.every == 0 || (s.row > 0 && s.row < s.inARow)
	if failNow {
		s.row++
		s.fails++
	} else {
		s.row = 0
	}
	s.mu.Unlock()
	if failNow {
		return nil, fmt.Errorf("jetstream: read all: %w", context.DeadlineExceeded)
	}
	return s.Source.ReadAll(ctx, from, max)
}

func (s *timingOut) failures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fails
}

// A replay retries a read that timed out (up to maxReplayRetries times in a
// row) and ends equal to a replay that met none; a read that keeps timing
// out fails it at the position it reached.
func TestReplayRetriesTimedOutReads(t *testing.T) {
	seed, _ := seeded(t)
	w := projtest.NewWorkload(seed)
	w.Run(600)

	src := &timingOut{Source: w.Log, every: 4, inARow: maxReplayRetries - 1}
	st := NewMemoryStore()
	rt := newRuntime(t, src, st, func(c *Config) { c.StopAtHead = true; c.PageSize = 100 }, All()...)
	require.NoError(t, rt.Run(context.Background()))
	require.GreaterOrEqual(t, src.failures(), maxReplayRetries, "reads timed out along the way")
	requireEqualsReplay(t, w.Log, st, All()...)

	stuck := &timingOut{Source: w.Log, every: 1 << 30, failFrom: 3}
	rt2 := newRuntime(t, stuck, NewMemoryStore(), func(c *Config) { c.StopAtHead = true; c.PageSize = 100 }, NewQuotaUsage)
	err := rt2.Run(context.Background())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	s := statusOf(rt2, QuotaUsageName)
	require.Equal(t, StateFailed, s.State)
	require.Equal(t, "read", s.Err.Op)
	require.Less(t, s.Applied, uint64(w.Log.Len()))
	require.Equal(t, maxReplayRetries+1, stuck.failures(), "retried maxReplayRetries times, then failed")
}
