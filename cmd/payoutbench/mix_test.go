package main

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// simLedger decides the mix's commands with the real domain, one shop
// state each, as the handler would (the timers' commands on the clock
// ahead): the mix's expectations are checked against the rules
// themselves, without a store.
type simLedger struct {
	states map[string]*domain.Shop
	seq    int
}

func newSimLedger(t *testing.T, w *workload, now time.Time) *simLedger {
	t.Helper()
	l := &simLedger{states: map[string]*domain.Shop{}}
	for _, s := range w.shops {
		st := domain.NewShop(s.ref.ShopRef)
		for i, stp := range shopSetup(s, w.ordersOf(s), now) {
			req := domain.Request{Now: now, Actor: stp.actor, IdempotencyKey: setupKey(s, i), CommandDigest: handler.Digest(stp.cmd)}
			if _, err := domain.Execute(st, stp.cmd, req); err != nil {
				t.Fatalf("setup %s %s: %v", s.ref.Stream(), stp.cmd.CommandName(), err)
			}
		}
		l.states[s.ref.Stream()] = st
		s.initMix(w.ordersOf(s))
	}
	return l
}

func (l *simLedger) handle(o op, now time.Time) (handler.Result, error) {
	if o.timer {
		now = now.Add(timerAdvance)
	}
	l.seq++
	pl, err := domain.Execute(l.states[o.s.ref.Stream()], o.cmd, domain.Request{Now: now, Actor: o.actor, IdempotencyKey: o.key})
	if err != nil {
		return handler.Result{}, err
	}
	return handler.Result{Events: domain.NewEvents(o.s.ref.Stream(), o.cmd.CommandName(), domain.Request{Now: now}, domain.NewV7, pl)}, nil
}

// TestMixOutcomesMatchTheRules: thousands of the mix's commands on shops
// of the five platforms, decided by the domain on a clock that moves
// 50 ms per command (several minutes: Douyin's and PDD's per-order
// minute, 1688's daily cap come into play), one at a time and also with
// several in flight: every command is answered as the model expected,
// every probe carries its code, and every command type and probe kind of
// the mix occurs.
func TestMixOutcomesMatchTheRules(t *testing.T) {
	for _, inflight := range []int{1, 4} {
		now := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC) // 10:00 in Shanghai: no day turns
		plats, err := parsePlatforms(allPlatforms)
		if err != nil {
			t.Fatal(err)
		}
		w := newWorkload(10, 4, plats, "T")
		l := newSimLedger(t, w, now)
		rng := rand.New(rand.NewPCG(1, uint64(inflight)))
		commands, probes, codes := map[string]int{}, map[string]int{}, map[string]int{}
		var pending []op
		answer := func(o op) {
			res, err := l.handle(o, now)
			out := o.judge(res, err, now)
			o.done(out, now)
			if out.unexpected != "" {
				t.Fatalf("inflight %d: %s", inflight, out.unexpected)
			}
			commands[o.cmd.CommandName()]++
			if strings.HasPrefix(o.what, "probe.") {
				probes[o.what]++
				codes[out.code]++
			}
		}
		for range 12_000 {
			now = now.Add(50 * time.Millisecond)
			o, ok := pickOp(rng, now, w.shops, false)
			if !ok {
				continue
			}
			// Several picked before any is answered: the model's
			// in-flight bookkeeping is what keeps them right.
			pending = append(pending, o)
			if len(pending) >= inflight {
				k := rng.IntN(len(pending))
				answer(pending[k])
				pending = append(pending[:k], pending[k+1:]...)
			}
		}
		for _, o := range pending {
			answer(o)
		}
		for _, c := range []string{"InitiatePayout", "RegisterOrder", "SendCollectionCard", "MarkPayoutProcessing", "MarkPayoutSucceeded",
			"ConfirmByBuyer", "ExpireCard", "ClosePayout", "PayCollection", "CancelCard"} {
			if commands[c] == 0 {
				t.Errorf("inflight %d: no %s in %v", inflight, c, commands)
			}
		}
		for _, p := range []string{"probe.quota_exhausted", "probe.duplicate_type", "probe.order_rate", "probe.staff_per_payout",
			"probe.insufficient_funds", "probe.daily_cap", "probe.order_count", "probe.per_payout_cap", "probe.above_order"} {
			if probes[p] == 0 {
				t.Errorf("inflight %d: no %s in %v", inflight, p, probes)
			}
		}
		// Refusals are a minority of the payouts.
		total := commands["InitiatePayout"] + commands["SendCollectionCard"]
		refused := 0
		for _, n := range probes {
			refused += n
		}
		if refused*100 > total*25 {
			t.Errorf("inflight %d: %d of %d payouts refused", inflight, refused, total)
		}
	}
}

// TestInitiateMixIsOneEventPayouts: -mix initiate sends InitiatePayout
// alone, each accepted with one event (a fresh order or payout type each
// time, no duplicate warning), as long as the shops' orders last, the one
// shop with orders of its own; then RegisterOrders keep it going.
func TestInitiateMixIsOneEventPayouts(t *testing.T) {
	now := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	w := newWorkload(4, 3, []*platform{platforms["jd"]}, "I")
	w.giveOneShopOrders(20)
	if got := w.oneShopOrders(); got != 20 || w.ordersOf(w.shops[1]) != 3 {
		t.Fatalf("one shop's orders %d, another's %d", got, w.ordersOf(w.shops[1]))
	}
	l := newSimLedger(t, w, now)
	rng := rand.New(rand.NewPCG(2, 3))
	// Orders at setup: 20 + 3*3, five payout types each.
	budget := (20 + 3*3) * len(payoutTypes)
	commands := map[string]int{}
	sent := map[*shop]int{} // payouts picked per shop
	var pending []op
	for i := 0; i < budget+200; i++ {
		now = now.Add(time.Millisecond)
		shops := w.shops
		if i%2 == 0 {
			shops = []*shop{oneShop(w.shops)}
		}
		o, ok := pickOp(rng, now, shops, true)
		if !ok {
			continue
		}
		if _, reg := o.cmd.(domain.RegisterOrder); reg && sent[o.s] < w.ordersOf(o.s)*len(payoutTypes) {
			t.Fatalf("a RegisterOrder on %s after %d of the %d payouts its orders allow", o.s.ref.Stream(), sent[o.s], w.ordersOf(o.s)*len(payoutTypes))
		}
		if _, pay := o.cmd.(domain.InitiatePayout); pay {
			sent[o.s]++
		}
		pending = append(pending, o)
		if len(pending) < 3 {
			continue
		}
		o, pending = pending[0], pending[1:]
		res, err := l.handle(o, now)
		out := o.judge(res, err, now)
		o.done(out, now)
		if out.unexpected != "" {
			t.Fatal(out.unexpected)
		}
		name := o.cmd.CommandName()
		commands[name]++
		if name == "InitiatePayout" && len(res.Events) != 1 {
			t.Fatalf("%s %s: %d events", name, o.key, len(res.Events))
		}
	}
	if commands["InitiatePayout"] < budget || commands["RegisterOrder"] == 0 || len(commands) != 2 {
		t.Fatalf("commands %v (setup orders allow %d payouts)", commands, budget)
	}
}

// TestJudge: what counts as unexpected.
func TestJudge(t *testing.T) {
	now := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	s := newWorkload(1, 1, []*platform{platforms["jd"]}, "J").shops[0]
	s.initMix(1)
	s.day = s.localDay(now)
	accepted := handler.Result{Events: []domain.Event{{Type: "PayoutInitiated"}}}
	refused := &domain.Rejection{Code: "jd.staff.daily"}
	for _, tc := range []struct {
		name    string
		accept  bool
		codes   []string
		res     handler.Result
		err     error
		at      time.Time
		wantBad bool
	}{
		{"accepted as expected", true, nil, accepted, nil, now, false},
		{"refused with the expected code", false, []string{"jd.staff.daily"}, handler.Result{}, refused, now, false},
		{"accepted, a refusal expected", false, []string{"jd.staff.daily"}, accepted, nil, now, true},
		{"refused, acceptance expected", true, nil, handler.Result{}, refused, now, true},
		{"refused with another code", false, []string{"dup.same_type"}, handler.Result{}, refused, now, true},
		{"an error", true, nil, handler.Result{}, errors.New("store down"), now, true},
		{"accepted with no event", true, nil, handler.Result{}, nil, now, true},
		{"refused across midnight in Shanghai: not judged", true, nil, handler.Result{}, refused, now.Add(24 * time.Hour), false},
	} {
		o := op{s: s, what: "payout", cmd: domain.InitiatePayout{Ref: s.ref}, day: s.day, accept: tc.accept, codes: tc.codes}
		if got := o.judge(tc.res, tc.err, tc.at).unexpected != ""; got != tc.wantBad {
			t.Errorf("%s: unexpected=%v", tc.name, got)
		}
	}
}
