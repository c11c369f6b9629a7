package timers_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/timers"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// run starts a scheduler's Run with a short real tick (the deadlines still
// follow the fake clock); stop cancels it and returns what Run returned.
func run(t *testing.T, e *env, obs *observed) (s *timers.Scheduler, stop func() error) {
	t.Helper()
	cfg := timers.Config{Source: e.store, Commands: e.h, Clock: e.clk.Now, Tick: 10 * time.Millisecond}
	if obs != nil {
		cfg.Observe = obs.add
	}
	s, err := timers.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { stop() })
	return s, stop
}

func pendingKeys(s *timers.Scheduler) []string {
	var out []string
	for _, tm := range s.Pending() {
		out = append(out, string(tm.Kind)+"/"+tm.ID)
	}
	return out
}

// TestRestartFiresWhatFellDueOnceInDueOrder: a scheduler follows the log
// live; it stops; the clock moves past several deadlines while nothing
// runs; a new process (store reopened, new handler, new scheduler) fires
// each due timer exactly once, in due-time order, and a third start fires
// nothing more.
func TestRestartFiresWhatFellDueOnceInDueOrder(t *testing.T) {
	e := newEnv(t, handler.Config{})
	a := e.shop(domain.Platform1688, "a1", 2)
	p := e.shop(domain.PlatformPDD, "p1", 2)
	tb := e.shop(domain.PlatformTaobao, "tb1", 1)

	s1, stop1 := run(t, e, nil)
	require.Eventually(t, s1.Ready, 5*time.Second, 5*time.Millisecond)
	// Appended while s1 runs: it must pick them up live.
	e.do(mainAcct, payout(a, "A1", "O1", nil)) // confirmation due t0+72h
	e.do(mainAcct, payout(p, "S1", "O1", func(c *domain.InitiatePayout) { c.Funding = domain.FundingScan }))
	e.clk.Set(t0.Add(time.Minute))
	e.do(mainAcct, payout(a, "A2", "O2", nil)) // t0+72h+1m
	e.clk.Set(t0.Add(2 * time.Minute))
	e.do(mainAcct, payout(p, "D1", "O2", nil)) // close due t0+7d+2m
	e.clk.Set(t0.Add(3 * time.Minute))
	e.do(mainAcct, collection(tb, "C1", "O1")) // t0+72h+3m
	want := []string{"top_up/S1", "confirmation/A1", "confirmation/A2", "collection_card/C1", "close/S1", "close/D1"}
	require.Eventually(t, func() bool { return len(s1.Pending()) == len(want) }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, want, pendingKeys(s1), "by due time")
	require.ErrorIs(t, stop1(), context.Canceled)
	require.Empty(t, e.timerEvents(), "nothing was due while s1 ran")

	// Down for eight days.
	e.clk.Set(t0.Add(8 * 24 * time.Hour))
	e.restart()
	obs := &observed{}
	s2, stop2 := run(t, e, obs)
	wantEvents := map[string]int{
		"PayoutTopUpFailed/S1": 1, "CardExpired/A1": 1, "CardExpired/A2": 1, "CardExpired/C1": 1, "PayoutClosed/D1": 1,
	}
	require.Eventually(t, func() bool { return obs.total(timers.OutcomeFired) == len(wantEvents) }, 10*time.Second, 5*time.Millisecond)
	// S1's close fell due too, after its top-up window: the failed top-up
	// made it moot, so there is no PayoutClosed for S1.
	require.Equal(t, wantEvents, e.timerEvents())

	var order []string
	for _, ev := range e.logEvents() {
		if ev.Actor == timers.Actor {
			order = append(order, subjectID(ev.Data))
		}
	}
	require.Equal(t, []string{"S1", "A1", "A2", "C1", "D1"}, order, "fired in due-time order")

	// What is left is D1's refund, due 3 business days after the close
	// (decided at the restart's clock reading).
	require.Eventually(t, func() bool { return len(s2.Pending()) == 1 }, 5*time.Second, 5*time.Millisecond)
	refund := s2.Pending()[0]
	require.Equal(t, timers.KindRefund, refund.Kind)
	require.True(t, refund.Due.Equal(domain.AddBusinessDays(t0.Add(8*24*time.Hour), 3, shanghai, nil)), "refund due %s", refund.Due)
	require.ErrorIs(t, stop2(), context.Canceled)

	// A third start at the same instant: nothing more fires.
	e.restart()
	s3 := e.scheduler(nil, nil)
	n, err := s3.FireDue(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, wantEvents, e.timerEvents())
}

// TestTwoSchedulersFireEachTimerOnce: two schedulers, each with its own
// handler (two payoutd processes on one store), fire the same due timers
// at once: one event per timer; the loser of each race is answered from
// the winner's events (the timer's idempotency key).
func TestTwoSchedulersFireEachTimerOnce(t *testing.T) {
	e := newEnv(t, handler.Config{})
	ctx := context.Background()
	a := e.shop(domain.Platform1688, "a1", 3)
	p := e.shop(domain.PlatformPDD, "p1", 1)
	tb := e.shop(domain.PlatformTaobao, "tb1", 2)
	for i := 1; i <= 3; i++ {
		e.do(mainAcct, payout(a, fmt.Sprintf("A%d", i), fmt.Sprintf("O%d", i), nil))
	}
	e.do(mainAcct, payout(p, "S1", "O1", func(c *domain.InitiatePayout) { c.Funding = domain.FundingScan }))
	e.do(mainAcct, collection(tb, "C1", "O1"))
	e.do(mainAcct, collection(tb, "C2", "O2"))

	h2 := handler.New(e.store, e.hcfg)
	for _, ref := range []domain.Ref{a, p, tb} {
		_, err := h2.State(ctx, ref.ShopRef) // h2's cache will be stale when it fires
		require.NoError(t, err)
	}
	obs1, obs2 := &observed{}, &observed{}
	s1 := e.scheduler(e.h, obs1)
	s2 := e.scheduler(h2, obs2)

	e.clk.Set(t0.Add(4 * 24 * time.Hour))
	var wg sync.WaitGroup
	var n1, n2 int
	var err1, err2 error
	wg.Add(2)
	go func() { defer wg.Done(); n1, err1 = s1.FireDue(ctx) }()
	go func() { defer wg.Done(); n2, err2 = s2.FireDue(ctx) }()
	wg.Wait()
	require.NoError(t, err1)
	require.NoError(t, err2)

	want := map[string]int{
		"CardExpired/A1": 1, "CardExpired/A2": 1, "CardExpired/A3": 1,
		"PayoutTopUpFailed/S1": 1, "CardExpired/C1": 1, "CardExpired/C2": 1,
	}
	require.Equal(t, want, e.timerEvents())
	require.Equal(t, len(want), n1+n2, "each timer appended by exactly one scheduler")
	require.Equal(t, len(want), obs1.total(timers.OutcomeReplayed)+obs2.total(timers.OutcomeReplayed),
		"the other scheduler's command was answered from the first outcome")
	// S1's close stays for later on both.
	require.Equal(t, []string{"close/S1"}, pendingKeys(s1))
	require.Equal(t, []string{"close/S1"}, pendingKeys(s2))
}

// TestTimerMadeMootByAConcurrentCommandIsDropped: the command that ends
// the window lands a moment before the deadline, after the scheduler last
// read the log; the timer's command is refused with
// state.illegal_transition, the timer is dropped, nothing is appended and
// FireDue reports no error.
func TestTimerMadeMootByAConcurrentCommandIsDropped(t *testing.T) {
	cases := []struct {
		name     string
		platform domain.PlatformID
		start    func(ref domain.Ref) domain.Command
		kind     timers.Kind
		id       string
		due      time.Duration
		end      func(ref domain.Ref) (domain.Actor, domain.Command)
	}{
		{"1688.confirm.window: the buyer confirmed", domain.Platform1688,
			func(ref domain.Ref) domain.Command { return payout(ref, "P1", "O1", nil) },
			timers.KindConfirmation, "P1", 72 * time.Hour,
			func(ref domain.Ref) (domain.Actor, domain.Command) {
				return operator, domain.ConfirmByBuyer{Ref: ref, PayoutID: "P1"}
			}},
		{"pdd.topup.window: the merchant topped up", domain.PlatformPDD,
			func(ref domain.Ref) domain.Command {
				return payout(ref, "P1", "O1", func(c *domain.InitiatePayout) { c.Funding = domain.FundingScan })
			},
			timers.KindTopUp, "P1", time.Hour,
			func(ref domain.Ref) (domain.Actor, domain.Command) {
				return operator, domain.CompleteTopUp{Ref: ref, PayoutID: "P1"}
			}},
		{"tb.card.window: the buyer paid", domain.PlatformTaobao,
			func(ref domain.Ref) domain.Command { return collection(ref, "C1", "O1") },
			timers.KindCollectionCard, "C1", 72 * time.Hour,
			func(ref domain.Ref) (domain.Actor, domain.Command) {
				return operator, domain.PayCollection{Ref: ref, CollectionID: "C1"}
			}},
		{"tb.card.cancel: the merchant cancelled the card", domain.PlatformTaobao,
			func(ref domain.Ref) domain.Command { return collection(ref, "C1", "O1") },
			timers.KindCollectionCard, "C1", 72 * time.Hour,
			func(ref domain.Ref) (domain.Actor, domain.Command) {
				return mainAcct, domain.CancelCard{Ref: ref, CollectionID: "C1"}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, handler.Config{})
			ref := e.shop(tc.platform, "shop1", 1)
			e.do(mainAcct, tc.start(ref))
			obs := &observed{}
			s := e.scheduler(nil, obs)
			_, ok := pendingOf(s, tc.kind, tc.id)
			require.True(t, ok)

			e.clk.Set(t0.Add(tc.due - time.Second))
			actor, end := tc.end(ref)
			e.do(actor, end)
			head := e.head(ref)

			e.clk.Set(t0.Add(tc.due))
			n, err := s.FireDue(context.Background())
			require.NoError(t, err)
			require.Zero(t, n)
			require.Equal(t, 1, obs.get(tc.kind, timers.OutcomeMoot))
			require.Equal(t, head, e.head(ref), "no event for a moot timer")
			require.Empty(t, e.timerEvents())
			_, ok = pendingOf(s, tc.kind, tc.id)
			require.False(t, ok, "a moot timer is dropped")
		})
	}
}

// flaky fails the first len(errs) commands with errs, then passes them
// to the handler.
type flaky struct {
	inner timers.Commands
	mu    sync.Mutex
	errs  []error
	calls []string // command names, in order
}

func (f *flaky) Handle(ctx context.Context, cmd domain.Command, meta handler.Meta) (handler.Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, cmd.CommandName())
	var err error
	if len(f.errs) > 0 {
		err, f.errs = f.errs[0], f.errs[1:]
	}
	f.mu.Unlock()
	if err != nil {
		return handler.Result{}, err
	}
	return f.inner.Handle(ctx, cmd, meta)
}

func (f *flaky) callCount() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.calls) }

// TestTransientFailuresAreRetriedWithBackoff: conflicts and store errors
// keep the timer; it is retried one tick later, then after a doubling
// delay, and fires once when the command goes through.
func TestTransientFailuresAreRetriedWithBackoff(t *testing.T) {
	cases := []struct {
		name string
		errs []error
	}{
		{"handler.ErrConflict", []error{handler.ErrConflict, handler.ErrConflict}},
		{"store error", []error{
			fmt.Errorf("append to 1688.shop1: %w", errors.New("nats: timeout")),
			fmt.Errorf("head of 1688.shop1: %w", context.DeadlineExceeded),
			errors.New("jetstream: connection closed"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, handler.Config{})
			ctx := context.Background()
			ref := e.shop(domain.Platform1688, "shop1", 1)
			e.do(mainAcct, payout(ref, "P1", "O1", nil))
			f := &flaky{inner: e.h, errs: append([]error(nil), tc.errs...)}
			obs := &observed{}
			s := e.scheduler(f, obs)
			due := t0.Add(72 * time.Hour)
			e.clk.Set(due)

			delay := time.Second // one tick, then doubling
			for i, injected := range tc.errs {
				n, err := s.FireDue(ctx)
				require.Zero(t, n)
				require.ErrorIs(t, err, timers.ErrRetry)
				require.ErrorIs(t, err, injected)
				require.Equal(t, i+1, f.callCount())
				tm, ok := pendingOf(s, timers.KindConfirmation, "P1")
				require.True(t, ok, "a failed timer is kept")
				require.Equal(t, i+1, tm.Attempts)
				require.True(t, tm.NextAttempt.Equal(e.clk.Now().Add(delay)), "next attempt %s", tm.NextAttempt)

				// Not before the backoff has passed.
				e.clk.Set(tm.NextAttempt.Add(-time.Millisecond))
				n, err = s.FireDue(ctx)
				require.NoError(t, err)
				require.Zero(t, n)
				require.Equal(t, i+1, f.callCount())
				e.clk.Set(tm.NextAttempt)
				delay *= 2
			}
			n, err := s.FireDue(ctx)
			require.NoError(t, err)
			require.Equal(t, 1, n)
			require.Equal(t, len(tc.errs), obs.get(timers.KindConfirmation, timers.OutcomeRetry))
			require.Equal(t, map[string]int{"CardExpired/P1": 1}, e.timerEvents())
			require.Empty(t, s.Pending())
		})
	}
}

// TestRetryHoldsBackTheSameSubjectsLaterTimers: while a payout's earlier
// timer waits for a retry, its later one is not tried out of order (the
// close would otherwise be judged on a payout still awaiting its top-up).
func TestRetryHoldsBackTheSameSubjectsLaterTimers(t *testing.T) {
	e := newEnv(t, handler.Config{})
	ctx := context.Background()
	ref := e.shop(domain.PlatformPDD, "shop1", 1)
	e.do(mainAcct, payout(ref, "S1", "O1", func(c *domain.InitiatePayout) { c.Funding = domain.FundingScan }))
	f := &flaky{inner: e.h, errs: []error{handler.ErrConflict}}
	obs := &observed{}
	s := e.scheduler(f, obs)
	e.clk.Set(t0.Add(8 * 24 * time.Hour)) // both the top-up and the close are due

	_, err := s.FireDue(ctx)
	require.ErrorIs(t, err, handler.ErrConflict)
	require.Equal(t, []string{"ExpireTopUp"}, f.calls, "the close waits for the top-up's retry")
	require.ElementsMatch(t, []string{"top_up/S1", "close/S1"}, pendingKeys(s))

	e.clk.Set(e.clk.Now().Add(time.Second))
	_, err = s.FireDue(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"ExpireTopUp", "ExpireTopUp", "ClosePayout"}, f.calls)
	require.Equal(t, 1, obs.get(timers.KindClose, timers.OutcomeMoot))
	require.Equal(t, map[string]int{"PayoutTopUpFailed/S1": 1}, e.timerEvents())
}

// TestHandlerClockBehindKeepsTheTimer: a handler whose clock is behind
// the scheduler's refuses the command with the window's own code
// (1688.confirm.window); the timer is kept and fires once the handler's
// clock reaches the deadline.
func TestHandlerClockBehindKeepsTheTimer(t *testing.T) {
	e := newEnv(t, handler.Config{})
	ctx := context.Background()
	ref := e.shop(domain.Platform1688, "shop1", 1)
	e.do(mainAcct, payout(ref, "P1", "O1", nil))
	behind := handler.New(e.store, handler.Config{Clock: func() time.Time { return e.clk.Now().Add(-500 * time.Millisecond) }})
	obs := &observed{}
	s := e.scheduler(behind, obs)

	e.clk.Set(t0.Add(72 * time.Hour))
	n, err := s.FireDue(ctx)
	require.ErrorIs(t, err, timers.ErrRetry)
	require.Equal(t, "1688.confirm.window", domain.CodeOf(err))
	require.Zero(t, n)
	require.Equal(t, 1, obs.get(timers.KindConfirmation, timers.OutcomeEarly))

	e.clk.Set(e.clk.Now().Add(time.Second))
	n, err = s.FireDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, map[string]int{"CardExpired/P1": 1}, e.timerEvents())
}

// TestNewRejectsAnIncompleteConfig: no source or no command path is
// ErrInvalidConfig.
func TestNewRejectsAnIncompleteConfig(t *testing.T) {
	for _, cfg := range []timers.Config{
		{},
		{Source: noSource{}},
		{Commands: &flaky{}},
		{Source: noSource{}, Commands: &flaky{}, Tick: -time.Second},
	} {
		_, err := timers.New(cfg)
		require.ErrorIs(t, err, timers.ErrInvalidConfig)
	}
}

type noSource struct{}

func (noSource) ReadAll(context.Context, uint64, int) ([]eventstore.RecordedEvent, error) {
	return nil, nil
}

func (noSource) Subscribe(ctx context.Context, _ uint64, _ func(eventstore.RecordedEvent) error) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestIdempotencyKeyIsDeterministicAndBounded: the key depends on the
// timer only (kind, stream, ID, due instant whatever its zone) and fits
// the handler's 200-byte bound even for a long platform name.
func TestIdempotencyKeyIsDeterministicAndBounded(t *testing.T) {
	due := t0.Add(72 * time.Hour)
	a := timers.Timer{Kind: timers.KindConfirmation, Stream: "1688.shop1", ID: "P1", Due: due, Attempts: 3, Cause: "x"}
	b := timers.Timer{Kind: timers.KindConfirmation, Stream: "1688.shop1", ID: "P1", Due: due.UTC()}
	require.Equal(t, a.IdempotencyKey(), b.IdempotencyKey())
	require.Equal(t, "timer:confirmation:1688.shop1:P1:2026-11-26T02:00:00Z", a.IdempotencyKey())
	b.Due = due.Add(time.Nanosecond)
	require.NotEqual(t, a.IdempotencyKey(), b.IdempotencyKey())
	b.Due, b.Kind = due, timers.KindAccountCard
	require.NotEqual(t, a.IdempotencyKey(), b.IdempotencyKey())

	long := timers.Timer{Kind: timers.KindClose, Stream: strings.Repeat("p", 100) + "." + strings.Repeat("s", 64), ID: strings.Repeat("i", 64), Due: due}
	k := long.IdempotencyKey()
	require.LessOrEqual(t, len(k), 200)
	long2 := long
	long2.ID = strings.Repeat("j", 64)
	require.NotEqual(t, k, long2.IdempotencyKey())
}
