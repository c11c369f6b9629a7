package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// The mix is the benchmark's workload: what merchants, the platform's
// operators and the timers send to the ledger, across shops of the five
// platforms. Each client loops: pick a random shop, then
//
//	40%  the next lifecycle step of the shop's oldest open payout: JD
//	     succeeded; Douyin processing then succeeded; 1688 confirmed by
//	     the buyer (70%) or its card expired (timer); PDD processing then
//	     succeeded, or closed (timer); Taobao card paid, cancelled or
//	     expired (timer)
//	 9%  a probe: a payout refused by construction, with the code it must
//	     carry (per-payout caps, daily caps, exhausted staff quota,
//	     duplicate type, insufficient funds, per-order count and rate,
//	     collection above the order)
//	else a payout (Taobao: a collection card) the model expects accepted,
//	     on the shop's least recently paid ready order; RegisterOrder of a
//	     new order when none is ready
//
// and falls through to a payout when the shop has nothing of the kind
// drawn. Timer commands go through a second handler whose clock runs
// timerAdvance ahead (a card's 72 hours, PDD's 7 days have passed), as a
// timer process would see them. The model keeps, per shop, the orders and
// their use, the open payouts, and the day's counting totals against the
// daily caps; a payout that might cross a cap is not sent as "accepted"
// (a merchant's tool shows the cap), and a daily probe is sent only when
// the cap is certainly crossed. Any outcome other than the expected one
// (an acceptance, another code, an error) is counted as unexpected and
// fails the run.

// Shares of the mix, in percent of picks.
const (
	lifecycleShare = 40
	probeShare     = 9
)

// timerAdvance is how far ahead of the wall clock the timers' handler
// decides: past 1688's and Taobao's 72-hour cards and PDD's 7-day close.
const timerAdvance = 8 * 24 * time.Hour

// perOrderMargin covers the handler's clock reading, taken a little after
// the model decided an order was ready again (Douyin's, PDD's minute).
const perOrderMargin = 500 * time.Millisecond

// maxRegsInFlight bounds a shop's RegisterOrders in flight: enough for
// many clients on one shop, few enough not to flood it with orders.
const maxRegsInFlight = 16

// maxProbeRatio: at most this many probes per payout sent on a shop
// (the share drawn is probeShare of the picks, about 15% of the payouts).
const maxProbeRatio = 0.25

// rateProbeWithin: a rate probe reuses an order paid at most this long
// ago, well inside the minute, whatever the latency.
const rateProbeWithin = 30 * time.Second

// mixState is the model of one shop (guarded by shop.mu).
type mixState struct {
	inited bool
	ready  []*order // orders that can take another payout, least recently paid first
	regs   int      // RegisterOrders of this shop in flight
	// payouts and probes sent: probes are held to maxProbeRatio of the
	// payouts, also on a shop whose payouts wait for orders.
	payouts, probes int
	nOrders         int // orders registered (and being registered): the next ID
	seq             int // ops of this shop: payout IDs, idempotency keys
	life            []*payout
	lastPaid        *order // the order of the last accepted payout (probes)
	lastAt          time.Time
	// day totals of counting payouts on the shop's local day: committed
	// (answered) and in flight; rel: releases (expiries, closes) of
	// today's payouts in flight.
	day                string
	dayCents, dayCount int64
	inCents, inCount   int64
	relCents, relCount int64
	fillDay            string // JD: the day staffDaily's quota was spent
	fillBusy           bool
	loc                *time.Location
	probeOrder         string
}

type order struct {
	id       string
	uses     int // payouts sent on it (accepted or in flight)
	accepted int
	types    []domain.PayoutType // of its accepted payouts
	readyAt  time.Time
}

type payout struct {
	id    string
	o     *order
	cents int64
	day   string
	step  int
	busy  bool
}

// op is one command the mix chose, what it expects, and what to book when
// it is answered.
type op struct {
	s      *shop
	what   string // "payout", "register", "lifecycle", "probe.<kind>", "fill"
	actor  domain.Actor
	cmd    domain.Command
	key    string
	timer  bool     // through the timers' handler
	accept bool     // acceptance expected
	codes  []string // else (or also, when accept is set) these codes
	o      *order
	p      *payout
	cents  int64
	day    string
	// release: the step ends a counting payout (expiry, close, cancel):
	// its amount leaves the day's totals.
	release bool
	final   bool // the payout's last lifecycle step
}

// initMix fills a shop's model after its setup: orders 0..n-1, all ready.
func (s *shop) initMix(orders int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inited {
		return
	}
	s.inited = true
	s.loc, _ = time.LoadLocation("Asia/Shanghai") // RegisterShop's default zone
	for i := range orders {
		s.ready = append(s.ready, &order{id: orderID(i)})
	}
	s.nOrders = orders
	if s.plat.id == domain.PlatformDouyin || s.plat.id == domain.PlatformPDD || s.plat.id == domain.Platform1688 {
		s.probeOrder = probeOrderID
	}
}

// pickOp chooses the next command on one of shops (tries a few random
// shops when one has nothing to send, e.g. every order waiting out its
// minute).
//
// The share is drawn once per pick, before the shops are tried: a shop
// with nothing to send does not bias the mix towards what is always
// possible (probes).
//
// With initiateOnly (-mix initiate) every pick is a payout expected
// accepted (or the RegisterOrder of a shop out of ready orders).
func pickOp(rng *rand.Rand, now time.Time, shops []*shop, initiateOnly bool) (op, bool) {
	r := rng.IntN(100)
	if initiateOnly {
		r = 99
	}
	for range 8 {
		s := shops[rng.IntN(len(shops))]
		s.mu.Lock()
		o, ok := s.choose(rng, now, r)
		s.mu.Unlock()
		if ok {
			return o, true
		}
	}
	return op{}, false
}

// sharedOrders: the platform has no per-order count or rate (JD, Taobao):
// an order may take several payouts at once.
func (s *shop) sharedOrders() bool { return s.plat.perOrderMax == 0 && s.plat.perOrderEvery == 0 }

func (s *shop) localDay(t time.Time) string { return t.In(s.loc).Format("2006-01-02") }

// choose picks by r (0..99) what to send on s: s.mu held.
func (s *shop) choose(rng *rand.Rand, now time.Time, r int) (op, bool) {
	if day := s.localDay(now); day != s.day {
		// A new local day: caps start again. What is in flight was booked
		// on the old day and is not carried over.
		s.day, s.dayCents, s.dayCount, s.inCents, s.inCount, s.relCents, s.relCount = day, 0, 0, 0, 0, 0, 0
	}
	switch {
	case r < lifecycleShare:
		if o, ok := s.lifecycle(rng); ok {
			return o, true
		}
	case r < lifecycleShare+probeShare:
		return s.probe(rng, now)
	}
	return s.initiate(rng, now)
}

func (s *shop) next(what string, actor domain.Actor, cmd domain.Command) op {
	s.seq++
	return op{s: s, what: what, actor: actor, cmd: cmd, key: fmt.Sprintf("mix-%s-%d", s.ref.ShopID, s.seq), day: s.day}
}

func cents(c int64) decimal.Decimal { return decimal.New(c, -2) }

// fits: a payout of c cents stays within the daily caps even if every
// payout in flight is accepted.
func (s *shop) fits(c int64) bool {
	p := s.plat
	if p.dailyCents > 0 && s.dayCents+s.inCents+c > p.dailyCents {
		return false
	}
	return p.dailyCount == 0 || s.dayCount+s.inCount+1 <= p.dailyCount
}

// initiate sends a payout (or a collection card) expected accepted, or
// registers an order when none is ready.
func (s *shop) initiate(rng *rand.Rand, now time.Time) (op, bool) {
	p := s.plat
	if len(s.ready) == 0 || s.ready[0].readyAt.After(now) {
		if s.regs >= maxRegsInFlight {
			return op{}, false
		}
		s.regs++
		i := s.nOrders
		s.nOrders++
		o := s.next("register", operator, p.order(s.ref, i, now))
		o.accept = true
		return o, true
	}
	c := int64(100 + rng.IntN(900)) // 1.00 .. 9.99
	actor, what := admin, "payout"
	if p.id == domain.PlatformJD && s.fillDay != s.day && !s.fillBusy {
		// Spend staffDaily's whole day once a day: its later payouts are
		// the quota-exhausted probe.
		actor, what, c = staffDaily, "fill", 2000
	} else if p.id == domain.PlatformDouyin && rng.IntN(5) == 0 {
		actor = staffQuota
	}
	if !s.fits(c) {
		return op{}, false
	}
	ord := s.ready[0]
	s.ready = s.ready[1:]
	if s.sharedOrders() && ord.uses+1 < p.mixUses {
		// No per-order rule to wait for: the order goes round again at
		// once, other payouts may be in flight on it (of other types).
		s.ready = append(s.ready, ord)
	}
	s.seq++
	id := fmt.Sprintf("P%d", s.seq)
	var cmd domain.Command
	if p.collection {
		cmd = domain.SendCollectionCard{Ref: s.ref, CollectionID: id, OrderID: ord.id, Amount: cents(c),
			Reason: domain.ReasonShippingDifference}
	} else {
		typ := payoutTypes[ord.uses%len(payoutTypes)]
		cmd = domain.InitiatePayout{Ref: s.ref, PayoutID: id, OrderID: ord.id, Amount: cents(c), Type: typ,
			Reason: "bench " + string(typ), SMSVerified: true}
	}
	ord.uses++
	s.payouts++
	if what == "fill" {
		s.fillBusy = true
	}
	s.inCents += c
	s.inCount++
	o := op{s: s, what: what, actor: actor, cmd: cmd, key: fmt.Sprintf("mix-%s-%s", s.ref.ShopID, id), day: s.day,
		accept: true, o: ord, p: &payout{id: id, o: ord, cents: c, day: s.day}, cents: c}
	return o, true
}

// lifecycle sends the next step of the shop's oldest open payout.
func (s *shop) lifecycle(rng *rand.Rand) (op, bool) {
	if len(s.life) == 0 || s.life[0].busy {
		return op{}, false
	}
	p := s.life[0]
	ref, id := s.ref, p.id
	var o op
	roll := rng.IntN(100)
	switch s.plat.id {
	case domain.PlatformJD:
		o = s.next("lifecycle", operator, domain.MarkPayoutSucceeded{Ref: ref, PayoutID: id})
		o.final = true
	case domain.PlatformDouyin:
		if p.step == 0 {
			o = s.next("lifecycle", operator, domain.MarkPayoutProcessing{Ref: ref, PayoutID: id})
		} else {
			o = s.next("lifecycle", operator, domain.MarkPayoutSucceeded{Ref: ref, PayoutID: id})
			o.final = true
		}
	case domain.Platform1688:
		if roll < 30 {
			o = s.next("lifecycle", timer, domain.ExpireCard{Ref: ref, ID: id})
			o.timer, o.release = true, true
		} else {
			o = s.next("lifecycle", operator, domain.ConfirmByBuyer{Ref: ref, PayoutID: id})
		}
		o.final = true
	case domain.PlatformPDD:
		switch {
		case roll < 15:
			o = s.next("lifecycle", timer, domain.ClosePayout{Ref: ref, PayoutID: id})
			o.timer, o.release, o.final = true, true, true
		case p.step == 0:
			o = s.next("lifecycle", operator, domain.MarkPayoutProcessing{Ref: ref, PayoutID: id})
		default:
			o = s.next("lifecycle", operator, domain.MarkPayoutSucceeded{Ref: ref, PayoutID: id})
			o.final = true
		}
	case domain.PlatformTaobao:
		switch {
		case roll < 15:
			o = s.next("lifecycle", timer, domain.ExpireCard{Ref: ref, ID: id})
			o.timer = true
		case roll < 30:
			o = s.next("lifecycle", admin, domain.CancelCard{Ref: ref, CollectionID: id})
		default:
			o = s.next("lifecycle", operator, domain.PayCollection{Ref: ref, CollectionID: id})
		}
		o.final = true
	default:
		return op{}, false
	}
	p.busy = true
	o.p, o.accept = p, true
	if o.release && p.day == s.day {
		s.relCents += p.cents
		s.relCount++
	}
	return o, true
}

// probe sends a command refused by construction, with its code.
func (s *shop) probe(rng *rand.Rand, now time.Time) (op, bool) {
	if float64(s.probes) > maxProbeRatio*float64(s.payouts+4) {
		return op{}, false
	}
	ref := s.ref
	s.seq++
	id := fmt.Sprintf("X%d", s.seq)
	pay := func(actor domain.Actor, orderID string, c int64, funding domain.AccountKind) domain.InitiatePayout {
		return domain.InitiatePayout{Ref: ref, PayoutID: id, OrderID: orderID, Amount: cents(c), Type: domain.TypeOther,
			Reason: "bench probe", Funding: funding, SMSVerified: true}
	}
	mk := func(kind string, actor domain.Actor, cmd domain.Command, code string) (op, bool) {
		s.probes++
		return op{s: s, what: "probe." + kind, actor: actor, cmd: cmd, key: fmt.Sprintf("mix-%s-%s", ref.ShopID, id),
			day: s.day, codes: []string{code}}, true
	}
	switch s.plat.id {
	case domain.PlatformJD:
		if s.fillDay == s.day && !s.fillBusy && rng.IntN(2) == 0 {
			return mk("quota_exhausted", staffDaily, pay(staffDaily, orderID(0), 100, ""), "jd.staff.daily")
		}
		if o := s.lastPaid; o != nil && len(o.types) > 0 {
			c := pay(admin, o.id, 100, "")
			c.Type = o.types[0] // a counting payout of that type is on the order: no acknowledgement, refused
			return mk("duplicate_type", admin, c, domain.CodeDupSameType)
		}
	case domain.PlatformDouyin:
		switch rng.IntN(3) {
		case 0:
			// The last paid order, with nothing in flight on it: at its
			// count, or paid within the minute.
			if o := s.lastPaid; o != nil && o.uses == o.accepted {
				if o.accepted >= s.plat.perOrderMax {
					return mk("order_count", admin, pay(admin, o.id, 100, ""), "dy.order.count")
				}
				if now.Sub(s.lastAt) < rateProbeWithin {
					return mk("order_rate", admin, pay(admin, o.id, 100, ""), "dy.order.rate")
				}
			}
		case 1:
			// The shop's day must certainly pass first: those checks
			// come before the quota's.
			if s.fits(6000) {
				return mk("staff_per_payout", staffQuota, pay(staffQuota, s.probeOrder, 6000, ""), "dy.staff.per_payout")
			}
		default:
			if c := int64(200 + rng.IntN(800)); s.fits(c) {
				return mk("insufficient_funds", admin, pay(admin, s.probeOrder, c, domain.AccountReserve), "dy.funds.insufficient")
			}
		}
	case domain.Platform1688:
		// Above the merchant's daily amount: sent only once the day's
		// committed total (less what is being released) makes 1,000 CNY
		// certainly too much, and the daily count certainly fits.
		if p := s.plat; s.dayCents-s.relCents+100_000 > p.dailyCents && s.dayCount+s.inCount+1 <= p.dailyCount {
			return mk("daily_cap", admin, pay(admin, s.probeOrder, 100_000, ""), "1688.shop.daily_amount")
		}
		if o := s.lastPaid; o != nil {
			return mk("order_count", admin, pay(admin, o.id, 100, ""), "1688.order.count")
		}
	case domain.PlatformPDD:
		return mk("per_payout_cap", admin, pay(admin, s.probeOrder, 25_000, ""), "pdd.payout.max")
	case domain.PlatformTaobao:
		c := domain.SendCollectionCard{Ref: ref, CollectionID: id, OrderID: orderID(0), Amount: cents(50_001),
			Reason: domain.ReasonShippingDifference}
		return mk("above_order", admin, c, "tb.collect.order_total")
	}
	return op{}, false
}

// outcome is how an answered op compares with what the model expected.
type outcome struct {
	accepted   bool
	code       string // the rejection's
	err        error  // neither accepted nor a rejection
	unexpected string // "" when as expected
}

// judge compares the answer with the op's expectation. An op picked on
// one local day and answered on the next may have been decided on either:
// its daily outcome is not judged.
func (o *op) judge(res handler.Result, err error, at time.Time) outcome {
	var out outcome
	var rej *domain.Rejection
	switch {
	case err == nil:
		out.accepted = true
	case errors.As(err, &rej):
		out.code = rej.Code
	default:
		out.err = err
	}
	dayTurned := o.s.localDay(at) != o.day
	switch {
	case out.err != nil:
		out.unexpected = fmt.Sprintf("%s %s on %s (%s): error: %v", o.what, o.cmd.CommandName(), o.s.ref.Stream(), o.key, err)
	case out.accepted && !o.accept && !dayTurned:
		out.unexpected = fmt.Sprintf("%s %s on %s (%s): accepted, expected %v", o.what, o.cmd.CommandName(), o.s.ref.Stream(), o.key, o.codes)
	case !out.accepted && !slices.Contains(o.codes, out.code) && !dayTurned:
		exp := "acceptance"
		if !o.accept {
			exp = fmt.Sprint(o.codes)
		}
		out.unexpected = fmt.Sprintf("%s %s on %s (%s): refused %s, expected %s: %v", o.what, o.cmd.CommandName(), o.s.ref.Stream(), o.key, out.code, exp, err)
	}
	if out.accepted && len(res.Events) == 0 {
		out.unexpected = fmt.Sprintf("%s %s on %s (%s): accepted with no event", o.what, o.cmd.CommandName(), o.s.ref.Stream(), o.key)
	}
	return out
}

// done books an answered op in its shop's model.
func (o *op) done(out outcome, at time.Time) {
	s := o.s
	s.mu.Lock()
	defer s.mu.Unlock()
	sameDay := o.day == s.day
	switch o.what {
	case "register":
		s.regs--
		if out.accepted {
			s.ready = append(s.ready, &order{id: o.cmd.(domain.RegisterOrder).OrderID})
		}
	case "payout", "fill":
		if sameDay {
			s.inCents -= o.cents
			s.inCount--
		}
		if o.what == "fill" {
			s.fillBusy = false
			if out.accepted {
				s.fillDay = o.day
			}
		}
		ord := o.o
		if out.accepted {
			ord.accepted++
			if ip, ok := o.cmd.(domain.InitiatePayout); ok {
				ord.types = append(ord.types, ip.Type)
			}
			if sameDay {
				s.dayCents += o.cents
				s.dayCount++
			}
			s.life = append(s.life, o.p)
			s.lastPaid, s.lastAt = ord, at
		}
		if !s.sharedOrders() && ord.uses < s.plat.mixUses {
			ord.readyAt = at
			if s.plat.perOrderEvery > 0 {
				ord.readyAt = at.Add(s.plat.perOrderEvery + perOrderMargin)
			}
			s.ready = append(s.ready, ord)
		}
	case "lifecycle":
		p := o.p
		p.busy = false
		if o.release && p.day == s.day {
			s.relCents -= p.cents
			s.relCount--
			if out.accepted {
				s.dayCents -= p.cents
				s.dayCount--
			}
		}
		p.step++
		// A refused step (counted as unexpected) ends the payout too:
		// the model no longer knows where it is.
		if o.final || !out.accepted {
			if i := slices.Index(s.life, p); i >= 0 {
				s.life = slices.Delete(s.life, i, i+1)
			}
		}
	}
}
