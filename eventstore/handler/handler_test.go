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

// These tests run against the real embedded NATS server (JetStream file
// storage, fsync before every acknowledgement), as the ledger does.

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

var (
	shanghai, _ = time.LoadLocation("Asia/Shanghai")
	start       = time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)
	operator    = domain.Actor{ID: "ops", Role: domain.RoleOperator}
	admin       = domain.Actor{ID: "admin", Role: domain.RoleMain}
)

func openStore(t *testing.T, dir string) eventstore.Store {
	t.Helper()
	s, err := jetstream.Open(context.Background(), jetstream.Config{DataDir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func decp(s string) *decimal.Decimal { d := dec(s); return &d }

// jdShop sets up a JD shop with a wallet, enrolled, with the given daily
// amount limit and orders O0..O(n-1).
func jdShop(t *testing.T, h *handler.Handler, shopID string, daily string, orders int) domain.Ref {
	t.Helper()
	ctx := context.Background()
	ref := domain.Ref{ShopRef: domain.ShopRef{Platform: domain.PlatformJD, ShopID: shopID}}
	must := func(a domain.Actor, c domain.Command) {
		t.Helper()
		_, err := h.Handle(ctx, c, handler.Meta{Actor: a})
		require.NoError(t, err, c.CommandName())
	}
	must(operator, domain.RegisterShop{Ref: ref, Name: "shop", MainAccount: "admin", EntityType: "enterprise", CooperationMode: "sop", AfterSalesSelfService: true})
	must(admin, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountWallet})
	must(admin, domain.TopUp{Ref: ref, Kind: domain.AccountWallet, Amount: dec("1000000")})
	must(admin, domain.EnrollShop{Ref: ref, AcceptAgreement: true, Limits: domain.Limits{DailyAmount: decp(daily)}})
	placed := start.Add(-time.Hour)
	for i := 0; i < orders; i++ {
		must(operator, domain.RegisterOrder{Ref: ref, OrderID: fmt.Sprintf("O%d", i), Buyer: "b", CashPaid: dec("500"),
			Status: domain.OrderPaid, PlacedAt: placed})
	}
	return ref
}

func payout(ref domain.Ref, id, order, amount string) domain.InitiatePayout {
	return domain.InitiatePayout{Ref: ref, PayoutID: id, OrderID: order, Amount: dec(amount), Type: domain.TypeShipping,
		Reason: "shipping", SMSVerified: true, AcknowledgeDuplicate: true}
}

// modes are the ways a handler appends; the behaviour tests run in both.
var modes = []struct {
	name string
	gc   handler.GroupCommit
}{{"group commit", handler.GroupCommitOn}, {"one append per command", handler.GroupCommitOff}}

// forModes runs a test once per mode.
func forModes(t *testing.T, test func(t *testing.T, gc handler.GroupCommit)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { test(t, m.gc) })
	}
}

func streamLen(t *testing.T, s eventstore.Store, stream string) uint64 {
	t.Helper()
	v, _, err := s.Head(context.Background(), stream)
	require.NoError(t, err)
	return v
}

// TestIdempotencyLastsAcrossRestarts: the same key and body returns the
// first outcome and appends nothing, also from a new handler (a restart or
// another process); the same key with another body is
// idempotency.key_reused.
func TestIdempotencyLastsAcrossRestarts(t *testing.T) {
	forModes(t, testIdempotencyLastsAcrossRestarts)
}

func testIdempotencyLastsAcrossRestarts(t *testing.T, gc handler.GroupCommit) {
	dir := t.TempDir()
	store := openStore(t, dir)
	clk := &fakeClock{now: start}
	h := handler.New(store, handler.Config{Clock: clk.Now, GroupCommit: gc})
	ref := jdShop(t, h, "idem", "1000", 1)
	ctx := context.Background()
	meta := handler.Meta{Actor: admin, IdempotencyKey: "key-1"}

	first, err := h.Handle(ctx, payout(ref, "P1", "O0", "10"), meta)
	require.NoError(t, err)
	require.False(t, first.Replayed)
	n := streamLen(t, store, ref.Stream())

	again, err := h.Handle(ctx, payout(ref, "P1", "O0", "10"), meta)
	require.NoError(t, err)
	require.True(t, again.Replayed)
	require.Equal(t, first.Events[0].ID, again.Events[0].ID)
	require.Equal(t, n, streamLen(t, store, ref.Stream()), "a replay appends nothing")

	_, err = h.Handle(ctx, payout(ref, "P1", "O0", "11"), meta)
	require.Equal(t, domain.CodeIdempotencyReused, domain.CodeOf(err))

	// A fresh handler knows nothing in memory: it learns the key from the
	// stored events.
	h2 := handler.New(store, handler.Config{Clock: clk.Now, GroupCommit: gc})
	again2, err := h2.Handle(ctx, payout(ref, "P1", "O0", "10"), meta)
	require.NoError(t, err)
	require.True(t, again2.Replayed)
	require.Equal(t, first.Events[0].ID, again2.Events[0].ID)
	_, err = h2.Handle(ctx, payout(ref, "P1", "O0", "12"), meta)
	require.Equal(t, domain.CodeIdempotencyReused, domain.CodeOf(err))
	require.Equal(t, n, streamLen(t, store, ref.Stream()))
}

// TestRejectionAppendsNothing: a refused command writes no event.
func TestRejectionAppendsNothing(t *testing.T) { forModes(t, testRejectionAppendsNothing) }

func testRejectionAppendsNothing(t *testing.T, gc handler.GroupCommit) {
	store := openStore(t, t.TempDir())
	clk := &fakeClock{now: start}
	h := handler.New(store, handler.Config{Clock: clk.Now, GroupCommit: gc})
	ref := jdShop(t, h, "rej", "50", 1)
	n := streamLen(t, store, ref.Stream())
	_, err := h.Handle(context.Background(), payout(ref, "P1", "O0", "50.01"), handler.Meta{Actor: admin})
	var rej *domain.Rejection
	require.ErrorAs(t, err, &rej)
	require.Equal(t, "jd.limits", rej.Code)
	require.Equal(t, n, streamLen(t, store, ref.Stream()))
}

// TestStaleHandlerDecidesAgain: two handlers with separate caches on one
// store; the second's cache is stale, its append conflicts, it catches up
// and decides against the current state (here: the daily limit).
func TestStaleHandlerDecidesAgain(t *testing.T) { forModes(t, testStaleHandlerDecidesAgain) }

func testStaleHandlerDecidesAgain(t *testing.T, gc handler.GroupCommit) {
	store := openStore(t, t.TempDir())
	clk := &fakeClock{now: start}
	h1 := handler.New(store, handler.Config{Clock: clk.Now, GroupCommit: gc})
	h2 := handler.New(store, handler.Config{Clock: clk.Now, GroupCommit: gc})
	ref := jdShop(t, h1, "stale", "100", 2)
	ctx := context.Background()
	// h2 loads the shop now, then h1 moves it on.
	_, err := h2.State(ctx, ref.ShopRef)
	require.NoError(t, err)
	_, err = h1.Handle(ctx, payout(ref, "P1", "O0", "60"), handler.Meta{Actor: admin})
	require.NoError(t, err)
	_, err = h2.Handle(ctx, payout(ref, "P2", "O1", "60"), handler.Meta{Actor: admin})
	require.Equal(t, "jd.limits", domain.CodeOf(err), "h2 must see h1's payout: %v", err)
	_, err = h2.Handle(ctx, payout(ref, "P2", "O1", "40"), handler.Meta{Actor: admin})
	require.NoError(t, err)
}

// TestConcurrentPayoutsNeverExceedTheCap is issue 3's concurrency test: 64
// concurrent InitiatePayout against one shop near its daily cap, from two
// handler instances with separate caches on the same store, over many
// randomized rounds (a new local day each): the accepted sum never exceeds
// the cap, every refusal carries its rule code, and a fresh replay of the
// stream agrees with what was acknowledged.
func TestConcurrentPayoutsNeverExceedTheCap(t *testing.T) {
	forModes(t, testConcurrentPayoutsNeverExceedTheCap)
}

func testConcurrentPayoutsNeverExceedTheCap(t *testing.T, gc handler.GroupCommit) {
	rounds := 200
	if gc == handler.GroupCommitOff {
		rounds = 50 // the path before group commit; the full run is group commit's
	}
	if testing.Short() {
		rounds = 20
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	store := openStore(t, t.TempDir())
	clk := &fakeClock{now: start}
	handlers := []*handler.Handler{
		handler.New(store, handler.Config{Clock: clk.Now, GroupCommit: gc}),
		handler.New(store, handler.Config{Clock: clk.Now, GroupCommit: gc}),
	}
	const clients, cap = 64, "100"
	ref := jdShop(t, handlers[0], "hot", cap, clients)
	capDec := dec(cap)
	ctx := context.Background()
	acceptedByDay := map[string]decimal.Decimal{}
	conflicts := 0
	for round := 0; round < rounds; round++ {
		clk.Set(start.AddDate(0, 0, round))
		day := clk.Now().In(shanghai).Format("2006-01-02")
		amounts := make([]string, clients)
		for i := range amounts {
			amounts[i] = decimal.New(int64(100+rng.Intn(2900)), -2).String() // 1.00 .. 29.99
		}
		type outcome struct {
			amount decimal.Decimal
			err    error
		}
		results := make([]outcome, clients)
		var wg sync.WaitGroup
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				h := handlers[i%2]
				_, err := h.Handle(ctx, payout(ref, fmt.Sprintf("R%dC%d", round, i), fmt.Sprintf("O%d", i), amounts[i]),
					handler.Meta{Actor: admin, IdempotencyKey: fmt.Sprintf("r%d-c%d", round, i)})
				results[i] = outcome{dec(amounts[i]), err}
			}(i)
		}
		wg.Wait()
		sum := decimal.Zero
		for _, r := range results {
			switch {
			case r.err == nil:
				sum = sum.Add(r.amount)
			case errors.Is(r.err, handler.ErrConflict):
				conflicts++
			default:
				var rej *domain.Rejection
				require.ErrorAs(t, r.err, &rej, "round %d: a refusal without a rule code", round)
				require.Equal(t, "jd.limits", rej.Code, "round %d: %v", round, rej)
			}
		}
		require.False(t, sum.GreaterThan(capDec), "round %d (seed %d): accepted %s above the cap %s", round, seed, sum, cap)
		acceptedByDay[day] = sum
	}
	// A fresh handler replays the stream: its daily totals are exactly
	// what was acknowledged.
	fresh := handler.New(store, handler.Config{Clock: clk.Now, GroupCommit: gc})
	s, err := fresh.State(ctx, ref.ShopRef)
	require.NoError(t, err)
	for day, sum := range acceptedByDay {
		require.True(t, s.DayTotals(day).Amount.Equal(sum), "day %s: replayed %s, acknowledged %s", day, s.DayTotals(day).Amount, sum)
	}
	t.Logf("%d rounds x %d clients; %d commands gave up after bounded conflict retries", rounds, clients, conflicts)
	require.Less(t, conflicts, rounds*clients/100, "bounded retries should rarely run out")
}
