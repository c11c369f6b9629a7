package timers_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/adapters/timers"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// These tests run the real handler over the real embedded NATS server
// (JetStream file storage in t.TempDir()) on an injected clock shared by
// the handler and the scheduler: nothing sleeps until a deadline.

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

var (
	shanghai, _ = time.LoadLocation("Asia/Shanghai")
	// t0 is a Monday, 10:00 in Shanghai (as in the domain's fixture).
	t0       = time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)
	operator = domain.Actor{ID: "OP", Role: domain.RoleOperator}
	mainAcct = domain.Actor{ID: "M1", Role: domain.RoleMain}
	subAcct  = domain.Actor{ID: "S1", Role: domain.RoleSub}
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// env is one ledger: a store, a handler and the clock they share.
type env struct {
	t     *testing.T
	dir   string
	store eventstore.Store
	h     *handler.Handler
	clk   *fakeClock
	hcfg  handler.Config
}

func newEnv(t *testing.T, hcfg handler.Config) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), clk: &fakeClock{now: t0}, hcfg: hcfg}
	e.hcfg.Clock = e.clk.Now
	e.open()
	return e
}

// open (re)opens the store on the env's directory with a fresh handler:
// what a restarted payoutd sees.
func (e *env) open() {
	e.t.Helper()
	s, err := jetstream.Open(context.Background(), jetstream.Config{DataDir: e.dir})
	require.NoError(e.t, err)
	e.t.Cleanup(func() { s.Close() })
	e.store = s
	e.h = handler.New(s, e.hcfg)
}

func (e *env) restart() {
	e.t.Helper()
	require.NoError(e.t, e.store.Close())
	e.open()
}

func (e *env) do(a domain.Actor, cmd domain.Command) handler.Result {
	e.t.Helper()
	res, err := e.h.Handle(context.Background(), cmd, handler.Meta{Actor: a})
	require.NoError(e.t, err, cmd.CommandName())
	return res
}

// scheduler is a new Scheduler over the env's store and commands (the
// env's handler unless cmds is given), caught up with the log.
func (e *env) scheduler(cmds timers.Commands, obs *observed) *timers.Scheduler {
	e.t.Helper()
	if cmds == nil {
		cmds = e.h
	}
	cfg := timers.Config{Source: e.store, Commands: cmds, Clock: e.clk.Now, Tick: time.Second}
	if obs != nil {
		cfg.Observe = obs.add
	}
	s, err := timers.New(cfg)
	require.NoError(e.t, err)
	require.NoError(e.t, s.CatchUp(context.Background()))
	require.True(e.t, s.Ready())
	return s
}

// shop registers a shop of the platform ready to pay out (or collect):
// funded account, agreement accepted, orders O1..On of 100.00 cash formed
// a day before t0.
func (e *env) shop(platform domain.PlatformID, id string, orders int) domain.Ref {
	e.t.Helper()
	ref := domain.Ref{ShopRef: domain.ShopRef{Platform: platform, ShopID: id}}
	e.do(operator, domain.RegisterShop{Ref: ref, Name: "shop " + id, MainAccount: mainAcct.ID})
	switch platform {
	case domain.Platform1688:
		e.do(mainAcct, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountReserve})
		e.do(mainAcct, domain.TopUp{Ref: ref, Kind: domain.AccountReserve, Amount: dec("100000")})
	case domain.PlatformPDD:
		e.do(mainAcct, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountProceeds})
		e.do(operator, domain.CreditProceeds{Ref: ref, Amount: dec("100000")})
	}
	if p, _ := domain.LookupProfile(platform); p.Agreement != nil {
		e.do(mainAcct, domain.EnrollShop{Ref: ref, AcceptAgreement: true})
	}
	placed := e.clk.Now().Add(-24 * time.Hour)
	for i := 1; i <= orders; i++ {
		e.do(operator, domain.RegisterOrder{
			Ref: ref, OrderID: fmt.Sprintf("O%d", i), Buyer: "B1", CashPaid: dec("100"), OtherPaid: decimal.Zero,
			Status: domain.OrderPaid, PaymentMode: "online", PaymentKind: "normal",
			PlacedAt: placed, PaidAt: &placed, GroupFormedAt: &placed,
		})
	}
	return ref
}

// payout is a valid payout of 10.00 on an order.
func payout(ref domain.Ref, id, order string, mod func(*domain.InitiatePayout)) domain.InitiatePayout {
	c := domain.InitiatePayout{Ref: ref, PayoutID: id, OrderID: order, Amount: dec("10"), Type: domain.TypeShipping,
		Reason: "shipping fee", Message: "sorry"}
	if mod != nil {
		mod(&c)
	}
	return c
}

func collection(ref domain.Ref, id, order string) domain.SendCollectionCard {
	return domain.SendCollectionCard{Ref: ref, CollectionID: id, OrderID: order, Amount: dec("10"),
		Reason: domain.ReasonShippingDifference}
}

// logEvents reads the whole log back, decoded.
func (e *env) logEvents() []domain.Event {
	e.t.Helper()
	var out []domain.Event
	var from uint64
	for {
		page, err := e.store.ReadAll(context.Background(), from, 1000)
		require.NoError(e.t, err)
		if len(page) == 0 {
			return out
		}
		for _, r := range page {
			ev, err := handler.Decode(r)
			require.NoError(e.t, err)
			out = append(out, ev)
			from = r.Position + 1
		}
	}
}

// timerEvents counts the events the timers' commands appended, by
// "EventType/ID" (CardExpired counts under its card's ID).
func (e *env) timerEvents() map[string]int {
	e.t.Helper()
	out := map[string]int{}
	for _, ev := range e.logEvents() {
		if ev.Actor != timers.Actor {
			continue
		}
		out[ev.Type+"/"+subjectID(ev.Data)]++
	}
	return out
}

func subjectID(p domain.Payload) string {
	switch d := p.(type) {
	case domain.CardExpired:
		return d.ID
	case domain.PayoutTopUpFailed:
		return d.PayoutID
	case domain.PayoutClosed:
		return d.PayoutID
	case domain.PayoutRefundedToMerchant:
		return d.PayoutID
	}
	return "?"
}

func (e *env) head(ref domain.Ref) uint64 {
	e.t.Helper()
	v, _, err := e.store.Head(context.Background(), ref.Stream())
	require.NoError(e.t, err)
	return v
}

// lastEvent is the newest event of the shop's stream.
func (e *env) lastEvent(ref domain.Ref) domain.Event {
	e.t.Helper()
	v := e.head(ref)
	recs, err := e.store.ReadStream(context.Background(), ref.Stream(), v, 1)
	require.NoError(e.t, err)
	require.Len(e.t, recs, 1)
	ev, err := handler.Decode(recs[0])
	require.NoError(e.t, err)
	return ev
}

// pendingOf returns the scheduler's pending timer of a kind for an ID.
func pendingOf(s *timers.Scheduler, kind timers.Kind, id string) (timers.Timer, bool) {
	for _, t := range s.Pending() {
		if t.Kind == kind && t.ID == id {
			return t, true
		}
	}
	return timers.Timer{}, false
}

// observed records Observe calls.
type observed struct {
	mu sync.Mutex
	n  map[string]int // "kind/outcome"
}

func (o *observed) add(kind, outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[kind+"/"+outcome]++
}

func (o *observed) get(kind timers.Kind, outcome string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[string(kind)+"/"+outcome]
}

func (o *observed) total(outcome string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for k, v := range o.n {
		if len(k) > len(outcome) && k[len(k)-len(outcome)-1:] == "/"+outcome {
			n += v
		}
	}
	return n
}
