package handler_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// hookStore is the real store with a seam in front of Append and
// AppendBatch (an Append is seen as a batch of one request): a test can
// hold an append, fail it, or let another writer in before it.
type hookStore struct {
	*jetstream.Store
	mu      sync.Mutex
	hook    func(call int, reqs []eventstore.AppendRequest) error // nil: pass through
	calls   int
	events  []int // events per call
	bytes   []int // body bytes per call
	batches int   // calls that were AppendBatch
}

func (s *hookStore) AppendBatch(ctx context.Context, reqs []eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	if err := s.before(reqs, true); err != nil {
		return nil, err
	}
	return s.Store.AppendBatch(ctx, reqs)
}

func (s *hookStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (eventstore.AppendResult, error) {
	if err := s.before([]eventstore.AppendRequest{{Stream: stream, Expected: expected, Events: events}}, false); err != nil {
		return eventstore.AppendResult{}, err
	}
	return s.Store.Append(ctx, stream, expected, events)
}

func (s *hookStore) before(reqs []eventstore.AppendRequest, batch bool) error {
	s.mu.Lock()
	s.calls++
	if batch {
		s.batches++
	}
	call, hook := s.calls, s.hook
	n, b := 0, 0
	for _, r := range reqs {
		n += len(r.Events)
		for _, e := range r.Events {
			b += len(e.Data)
		}
	}
	s.events = append(s.events, n)
	s.bytes = append(s.bytes, b)
	s.mu.Unlock()
	if hook != nil {
		return hook(call, reqs)
	}
	return nil
}

// arm installs a hook counting calls from now on (call 1 is the next).
func (s *hookStore) arm(hook func(call int, reqs []eventstore.AppendRequest) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls, s.batches, s.events, s.bytes, s.hook = 0, 0, nil, nil, hook
}

func (s *hookStore) sizes() (events, bytes []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.events...), append([]int(nil), s.bytes...)
}

func openHookStore(t *testing.T) *hookStore {
	t.Helper()
	s, err := jetstream.Open(context.Background(), jetstream.Config{DataDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return &hookStore{Store: s}
}

// hold returns a hook that holds call 1 until release is closed, then
// runs then (if set) on every later call.
func hold(release <-chan struct{}, then func(call int, reqs []eventstore.AppendRequest) error) func(int, []eventstore.AppendRequest) error {
	return func(call int, reqs []eventstore.AppendRequest) error {
		if call == 1 {
			<-release
			return nil
		}
		if then != nil {
			return then(call, reqs)
		}
		return nil
	}
}

// waitQueued waits until n events are decided and waiting for a batch.
func waitQueued(t *testing.T, h *handler.Handler, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return handler.QueuedEvents(h) >= n }, 20*time.Second, time.Millisecond,
		"%d events never queued (have %d)", n, handler.QueuedEvents(h))
}

type outcome struct {
	res handler.Result
	err error
}

func async(ctx context.Context, h *handler.Handler, cmd domain.Command, meta handler.Meta) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		res, err := h.Handle(ctx, cmd, meta)
		ch <- outcome{res, err}
	}()
	return ch
}

// payoutsOf returns the payout IDs initiated in a stream, with how often.
func payoutsOf(t *testing.T, s eventstore.Store, stream string) map[string]int {
	t.Helper()
	out := map[string]int{}
	recs, err := s.ReadStream(context.Background(), stream, 1, 100_000)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return out
	}
	require.NoError(t, err)
	for _, r := range recs {
		ev, err := handler.Decode(r)
		require.NoError(t, err)
		if p, ok := ev.Data.(domain.PayoutInitiated); ok {
			out[p.PayoutID]++
		}
	}
	return out
}

// TestBatchWithOneStaleStreamCommitsItsNeighbours: a batch holding
// commands on three shops is refused because another handler appended to
// one of them; the other two commit, the stale one is decided again on the
// current state (accepted or refused by the daily limit), and OnAppend
// hears of every head stored.
func TestBatchWithOneStaleStreamCommitsItsNeighbours(t *testing.T) {
	cases := []struct {
		name string
		// otherAmount is what the other handler pays on the stale shop
		// (cap 100) before the batch; the stale command asks for 60.
		otherAmount string
		wantCode    string // "" accepted
		// anonymous: the store's conflict error does not name the stream,
		// so the handler reads every head of the batch.
		anonymous bool
		// oneByOne: the batch is small enough to go out as one append per
		// command (the default threshold); otherwise it is one atomic
		// batch (Config.SmallBatch -1).
		oneByOne bool
	}{
		{name: "re-decided command fits the limit", otherAmount: "30"},
		{name: "re-decided command over the limit is refused", otherAmount: "60", wantCode: "jd.limits"},
		{name: "stale stream found by reading heads", otherAmount: "60", wantCode: "jd.limits", anonymous: true},
		{name: "small batch appended one by one: re-decided command fits", otherAmount: "30", oneByOne: true},
		{name: "small batch appended one by one: re-decided command refused", otherAmount: "60", wantCode: "jd.limits", oneByOne: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			store := openHookStore(t)
			clk := &fakeClock{now: start}
			var headsMu sync.Mutex
			heads := map[string]uint64{}
			small := -1
			if tc.oneByOne {
				small = 0
			}
			h1 := handler.New(store, handler.Config{Clock: clk.Now, SmallBatch: small, OnAppend: func(stream string, v uint64, _ eventstore.Hash) {
				headsMu.Lock()
				defer headsMu.Unlock()
				require.Greater(t, v, heads[stream], "heads are reported in order")
				heads[stream] = v
			}})
			h2 := handler.New(store.Store, handler.Config{Clock: clk.Now})
			refs := map[string]domain.Ref{}
			for _, id := range []string{"blocker", "a", "stale", "c"} {
				refs[id] = jdShop(t, h1, id, "100", 2)
			}
			_, err := h2.State(ctx, refs["stale"].ShopRef)
			require.NoError(t, err)

			release := make(chan struct{})
			store.arm(hold(release, func(call int, reqs []eventstore.AppendRequest) error {
				if call != 2 || !tc.anonymous {
					return nil
				}
				// Pass the real refusal on without the stream's name.
				if _, err := store.Store.AppendBatch(ctx, reqs); errors.Is(err, eventstore.ErrWrongExpectedVersion) {
					return fmt.Errorf("refused: %w", eventstore.ErrWrongExpectedVersion)
				} else if err != nil {
					return err
				}
				return errors.New("the batch was expected to conflict")
			}))
			blocker := async(ctx, h1, payout(refs["blocker"], "B1", "O0", "1"), handler.Meta{Actor: admin})
			waitHeld := func() bool { ev, _ := store.sizes(); return len(ev) == 1 }
			require.Eventually(t, waitHeld, 10*time.Second, time.Millisecond)
			outA := async(ctx, h1, payout(refs["a"], "PA", "O0", "60"), handler.Meta{Actor: admin})
			outS := async(ctx, h1, payout(refs["stale"], "PS", "O0", "60"), handler.Meta{Actor: admin, IdempotencyKey: "ks"})
			outC := async(ctx, h1, payout(refs["c"], "PC", "O0", "60"), handler.Meta{Actor: admin})
			waitQueued(t, h1, 3)
			// Another process moves the stale shop on while the three wait.
			_, err = h2.Handle(ctx, payout(refs["stale"], "PX", "O1", tc.otherAmount), handler.Meta{Actor: admin})
			require.NoError(t, err)
			close(release)

			require.NoError(t, (<-blocker).err)
			for _, n := range []struct {
				shop, payout string
				out          <-chan outcome
			}{{"a", "PA", outA}, {"c", "PC", outC}} {
				require.NoError(t, (<-n.out).err, n.shop)
				require.Equal(t, map[string]int{n.payout: 1}, payoutsOf(t, store, refs[n.shop].Stream()), n.shop)
			}
			o := <-outS
			got := payoutsOf(t, store, refs["stale"].Stream())
			require.Equal(t, 1, got["PX"])
			if tc.wantCode == "" {
				require.NoError(t, o.err)
				require.Equal(t, 1, got["PS"])
			} else {
				require.Equal(t, tc.wantCode, domain.CodeOf(o.err), "%v", o.err)
				require.Zero(t, got["PS"])
			}
			stats := h1.Stats()
			require.GreaterOrEqual(t, stats.Conflicts, int64(1))
			store.mu.Lock()
			calls, batches := store.calls, store.batches
			store.mu.Unlock()
			if tc.oneByOne {
				require.Zero(t, batches, "a small batch goes out as plain appends")
			} else {
				require.Equal(t, calls, batches, "every commit is an atomic batch")
			}

			// Every head h1 stored was reported, up to the streams' ends
			// (the stale stream's last event may be h2's).
			for _, id := range []string{"blocker", "a", "c"} {
				require.Equal(t, streamLen(t, store, refs[id].Stream()), heads[refs[id].Stream()], id)
			}
			// The fresh state of the stale shop agrees with the limit.
			s, err := handler.New(store, handler.Config{Clock: clk.Now}).State(ctx, refs["stale"].ShopRef)
			require.NoError(t, err)
			require.False(t, s.DayTotals(start.In(shanghai).Format("2006-01-02")).Amount.GreaterThan(dec("100")))
		})
	}
}

// TestHotShopNeverStalls: 256 concurrent InitiatePayout on one shop at its
// daily cap, for several days: all are answered, the accepted sum never
// exceeds the cap, every refusal is jd.limits, the commands went out in
// far fewer batches than commands, and a fresh replay equals what was
// acknowledged.
func TestHotShopNeverStalls(t *testing.T) {
	const clients, days, capAmount = 256, 3, "1500"
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	store := openStore(t, t.TempDir())
	clk := &fakeClock{now: start}
	h := handler.New(store, handler.Config{Clock: clk.Now})
	ref := jdShop(t, h, "hot256", capAmount, clients)
	ctx := context.Background()
	acknowledged := map[string]decimal.Decimal{}
	before := h.Stats()
	accepted := 0
	for day := 0; day < days; day++ {
		clk.Set(start.AddDate(0, 0, day))
		results := make([]outcome, clients)
		amounts := make([]decimal.Decimal, clients)
		for i := range amounts {
			amounts[i] = decimal.New(int64(100+rng.Intn(2900)), -2)
		}
		var wg sync.WaitGroup
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := h.Handle(ctx, payout(ref, fmt.Sprintf("D%dC%d", day, i), fmt.Sprintf("O%d", i), amounts[i].String()),
					handler.Meta{Actor: admin, IdempotencyKey: fmt.Sprintf("d%d-c%d", day, i)})
				results[i] = outcome{res, err}
			}()
		}
		wg.Wait()
		sum := decimal.Zero
		for i, r := range results {
			if r.err == nil {
				sum = sum.Add(amounts[i])
				accepted++
				continue
			}
			var rej *domain.Rejection
			require.ErrorAs(t, r.err, &rej, "day %d client %d", day, i)
			require.Equal(t, "jd.limits", rej.Code, "day %d client %d: %v", day, i, rej)
		}
		require.False(t, sum.GreaterThan(dec(capAmount)), "day %d (seed %d): accepted %s above the cap", day, seed, sum)
		acknowledged[clk.Now().In(shanghai).Format("2006-01-02")] = sum
	}
	stats := h.Stats()
	batches := stats.Batches - before.Batches
	t.Logf("%d accepted in %d batches (sizes %v)", accepted, batches, stats.BySize)
	require.Less(t, batches, int64(accepted)/2, "commands on a hot shop go out together")

	fresh := handler.New(store, handler.Config{Clock: clk.Now})
	s, err := fresh.State(ctx, ref.ShopRef)
	require.NoError(t, err)
	for day, sum := range acknowledged {
		require.True(t, s.DayTotals(day).Amount.Equal(sum), "day %s: replayed %s, acknowledged %s", day, s.DayTotals(day).Amount, sum)
	}
}

// TestBatchesStayWithinTheServerLimits: with more than 1,000 events
// waiting, or more bytes than the cap, they go out in several batches,
// none above the limits, every command stored once.
func TestBatchesStayWithinTheServerLimits(t *testing.T) {
	cases := []struct {
		name     string
		maxBytes int
		want     func(t *testing.T, events, bytes []int)
	}{
		{name: "1,500 events: batches of 1,000 and 500", want: func(t *testing.T, events, _ []int) {
			require.Equal(t, []int{1, 1000, 500}, events)
		}},
		{name: "byte cap", maxBytes: 64 << 10, want: func(t *testing.T, events, bytes []int) {
			require.Greater(t, len(events), 4)
			for i, b := range bytes[1:] {
				require.LessOrEqual(t, b, 64<<10, "batch %d", i+2)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			store := openHookStore(t)
			clk := &fakeClock{now: start}
			h := handler.New(store, handler.Config{Clock: clk.Now, MaxInflightBatches: 1, MaxBatchBytes: tc.maxBytes})
			const shops, perShop = 20, 75
			refs := make([]domain.Ref, shops)
			for i := range refs {
				refs[i] = jdShop(t, h, fmt.Sprintf("cap%d", i), "100", 0)
			}
			release := make(chan struct{})
			store.arm(hold(release, nil))
			blocker := async(ctx, h, domain.RegisterOrder{Ref: refs[0], OrderID: "first", Buyer: "b", CashPaid: dec("1"),
				Status: domain.OrderPaid, PlacedAt: start}, handler.Meta{Actor: operator})
			require.Eventually(t, func() bool { ev, _ := store.sizes(); return len(ev) == 1 }, 10*time.Second, time.Millisecond)
			var wg sync.WaitGroup
			errs := make(chan error, shops*perShop)
			for i := 0; i < shops*perShop; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := h.Handle(ctx, domain.RegisterOrder{Ref: refs[i%shops], OrderID: fmt.Sprintf("N%d", i), Buyer: "b",
						CashPaid: dec("1"), Status: domain.OrderPaid, PlacedAt: start}, handler.Meta{Actor: operator})
					errs <- err
				}()
			}
			waitQueued(t, h, shops*perShop)
			close(release)
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			require.NoError(t, (<-blocker).err)
			events, bytes := store.sizes()
			for i, n := range events {
				require.LessOrEqual(t, n, eventstore.MaxEventsPerAppend, "batch %d", i+1)
			}
			total := 0
			for _, n := range events {
				total += n
			}
			require.Equal(t, 1+shops*perShop, total, "every command stored once")
			tc.want(t, events, bytes)
			for _, ref := range refs {
				s, err := handler.New(store, handler.Config{Clock: clk.Now}).State(ctx, ref.ShopRef)
				require.NoError(t, err)
				require.GreaterOrEqual(t, len(s.Orders), perShop)
			}
		})
	}
}

// TestStoreErrorFailsTheBatchAndTheShopRecovers: a batch failing with a
// store error fails its commands with that error; a command queued behind
// it on the same shop is decided again on the stored state (not on the
// lost pending one) and stored; the failed command's retry is then
// decided on that state too.
func TestStoreErrorFailsTheBatchAndTheShopRecovers(t *testing.T) {
	ctx := context.Background()
	store := openHookStore(t)
	clk := &fakeClock{now: start}
	h := handler.New(store, handler.Config{Clock: clk.Now})
	a := jdShop(t, h, "erra", "100", 2)
	b := jdShop(t, h, "errb", "100", 1)
	injected := errors.New("injected: server went away")
	release, inBatch := make(chan struct{}), make(chan struct{})
	store.arm(func(call int, _ []eventstore.AppendRequest) error {
		if call == 1 {
			close(inBatch)
			<-release
			return injected
		}
		return nil
	})
	outA1 := async(ctx, h, payout(a, "A1", "O0", "60"), handler.Meta{Actor: admin, IdempotencyKey: "a1"})
	<-inBatch
	// Decided on A1's pending state while A1's batch is in flight.
	outA2 := async(ctx, h, payout(a, "A2", "O1", "40"), handler.Meta{Actor: admin})
	waitQueued(t, h, 1)
	close(release)
	o := <-outA1
	require.ErrorIs(t, o.err, injected)
	require.NoError(t, (<-outA2).err)

	// The shop serves again, on the stored state: A1 is not there.
	_, err := h.Handle(ctx, payout(a, "A3", "O1", "60"), handler.Meta{Actor: admin})
	require.NoError(t, err, "60 + 40 fits the cap of 100: A1 was not stored")
	_, err = h.Handle(ctx, payout(a, "A1", "O0", "60"), handler.Meta{Actor: admin, IdempotencyKey: "a1"})
	require.Equal(t, "jd.limits", domain.CodeOf(err), "the retry is decided on the stored state: %v", err)
	_, err = h.Handle(ctx, payout(b, "B1", "O0", "10"), handler.Meta{Actor: admin})
	require.NoError(t, err)
	got := payoutsOf(t, store, a.Stream())
	require.Equal(t, map[string]int{"A2": 1, "A3": 1}, got)
	require.GreaterOrEqual(t, h.Stats().Failures, int64(1))
}

// TestRetryWhilePendingWaitsForTheFirstOutcome: a key seen while its
// first command is in flight is answered only once that command is
// stored: the same body replays it, another body is key_reused.
func TestRetryWhilePendingWaitsForTheFirstOutcome(t *testing.T) {
	ctx := context.Background()
	store := openHookStore(t)
	clk := &fakeClock{now: start}
	h := handler.New(store, handler.Config{Clock: clk.Now})
	ref := jdShop(t, h, "pend", "100", 1)
	release, inBatch := make(chan struct{}), make(chan struct{})
	store.arm(func(call int, _ []eventstore.AppendRequest) error {
		if call == 1 {
			close(inBatch)
			<-release
		}
		return nil
	})
	meta := handler.Meta{Actor: admin, IdempotencyKey: "k"}
	first := async(ctx, h, payout(ref, "P1", "O0", "10"), meta)
	<-inBatch
	same := async(ctx, h, payout(ref, "P1", "O0", "10"), meta)
	other := async(ctx, h, payout(ref, "P1", "O0", "11"), meta)
	select {
	case o := <-same:
		t.Fatalf("answered before the first outcome was stored: %+v", o)
	case o := <-other:
		t.Fatalf("answered before the first outcome was stored: %+v", o)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	o1, o2, o3 := <-first, <-same, <-other
	require.NoError(t, o1.err)
	require.NoError(t, o2.err)
	require.True(t, o2.res.Replayed)
	require.Equal(t, o1.res.Events[0].ID, o2.res.Events[0].ID)
	require.Equal(t, domain.CodeIdempotencyReused, domain.CodeOf(o3.err))
	require.Equal(t, map[string]int{"P1": 1}, payoutsOf(t, store, ref.Stream()))
}

// TestCancelledCallerLeavesTheBatchWhole: a caller whose context ends
// while its command is in a batch gets ctx.Err() at once; the batch, with
// its neighbour, is stored as a whole, and a retry with the key replays
// what was stored.
func TestCancelledCallerLeavesTheBatchWhole(t *testing.T) {
	store := openHookStore(t)
	clk := &fakeClock{now: start}
	h := handler.New(store, handler.Config{Clock: clk.Now})
	a := jdShop(t, h, "cxa", "100", 1)
	b := jdShop(t, h, "cxb", "100", 2)
	release := make(chan struct{})
	store.arm(hold(release, nil))
	blocker := async(context.Background(), h, payout(b, "B0", "O0", "1"), handler.Meta{Actor: admin})
	require.Eventually(t, func() bool { ev, _ := store.sizes(); return len(ev) == 1 }, 10*time.Second, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := async(ctx, h, payout(a, "A1", "O0", "10"), handler.Meta{Actor: admin, IdempotencyKey: "cx"})
	neighbour := async(context.Background(), h, payout(b, "B1", "O1", "10"), handler.Meta{Actor: admin})
	waitQueued(t, h, 2) // one event each
	cancel()
	require.ErrorIs(t, (<-cancelled).err, context.Canceled)
	close(release)
	require.NoError(t, (<-blocker).err)
	require.NoError(t, (<-neighbour).err)
	again, err := h.Handle(context.Background(), payout(a, "A1", "O0", "10"), handler.Meta{Actor: admin, IdempotencyKey: "cx"})
	require.NoError(t, err)
	require.True(t, again.Replayed, "the cancelled caller's command was stored with its batch: %v %+v", payoutsOf(t, store, a.Stream()), h.Stats())
	require.Equal(t, map[string]int{"A1": 1}, payoutsOf(t, store, a.Stream()))
}

// With interval sync a plain append waits for no fsync, so a batch shares
// nothing: a batch of single-event commands goes out command by command,
// even past Config.SmallBatch and with two commands on one shop (in
// order). With fsync always the same batch is one atomic batch.
func TestIntervalSyncAppendsSingleEventCommandsOneByOne(t *testing.T) {
	for _, tc := range []struct {
		sync        jetstream.Sync
		wantBatches bool
	}{
		{jetstream.SyncInterval, false},
		{jetstream.SyncAlways, true},
	} {
		t.Run(string(tc.sync), func(t *testing.T) {
			ctx := context.Background()
			s, err := jetstream.Open(ctx, jetstream.Config{DataDir: t.TempDir(), Sync: tc.sync})
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			require.Equal(t, tc.sync == jetstream.SyncAlways, s.FsyncsEachAppend())
			store := &hookStore{Store: s}
			h := handler.New(store, handler.Config{Clock: (&fakeClock{now: start}).Now})
			ids := []string{"blocker"}
			for i := range 10 {
				ids = append(ids, fmt.Sprintf("s%d", i))
			}
			refs := map[string]domain.Ref{}
			for _, id := range ids {
				refs[id] = jdShop(t, h, id, "100", 2)
			}
			release := make(chan struct{})
			store.arm(hold(release, nil))
			blocker := async(ctx, h, payout(refs["blocker"], "B1", "O0", "1"), handler.Meta{Actor: admin})
			require.Eventually(t, func() bool { ev, _ := store.sizes(); return len(ev) == 1 }, 10*time.Second, time.Millisecond)
			// 12 commands: above the default SmallBatch of 8, two shops twice.
			var outs []<-chan outcome
			for i, id := range ids[1:] {
				outs = append(outs, async(ctx, h, payout(refs[id], "P"+id, "O0", "60"), handler.Meta{Actor: admin}))
				if i < 2 {
					waitQueued(t, h, len(outs))
					// The second on the shop is decided against the first
					// (60 + 30 within the daily 100; a refusal would wait
					// for the first to be stored, see confirmRejection).
					outs = append(outs, async(ctx, h, payout(refs[id], "Q"+id, "O1", "30"), handler.Meta{Actor: admin}))
				}
				waitQueued(t, h, len(outs))
			}
			store.mu.Lock()
			batchesBefore := store.batches
			store.mu.Unlock()
			close(release)
			require.NoError(t, (<-blocker).err)
			for _, o := range outs {
				require.NoError(t, (<-o).err)
			}
			for i, id := range ids[1:] {
				want := map[string]int{"P" + id: 1}
				if i < 2 {
					want["Q"+id] = 1
				}
				require.Equal(t, want, payoutsOf(t, store, refs[id].Stream()), id)
			}
			store.mu.Lock()
			batches := store.batches - batchesBefore
			store.mu.Unlock()
			if tc.wantBatches {
				require.Positive(t, batches, "fsync always: the 12 commands share an atomic batch")
			} else {
				require.Zero(t, batches, "interval sync: no atomic batch")
			}
		})
	}
}
