package domain

import (
	"strconv"
	"testing"
	"time"
)

// Rule tests for Pinduoduo (RULES.md "Pinduoduo: 小额打款 (pdd)"), named
// after the rule IDs they pin. Shared "pin" helpers are in rules_jd_test.go.

var pddSub2 = Actor{ID: "S2", Role: RoleSub}

// pddTyped sets a payout's type (several payouts on one order avoid
// dup.same_type by differing in type).
func pddTyped(typ PayoutType) func(*InitiatePayout) {
	return func(c *InitiatePayout) { c.Type = typ }
}

// pddScan pays by scan-to-pay instead of the goods balance.
func pddScan(c *InitiatePayout) { c.Funding = FundingScan }

// pddApproval submits the payout for admin approval.
func pddApproval(c *InitiatePayout) { c.SubmitForApproval = true }

// pddFreshShop registers a PDD shop with the given attributes, opens and
// credits its goods balance and registers order O1.
func pddFreshShop(t *testing.T, mod func(*RegisterShop)) *fixture {
	t.Helper()
	f := pinFreshShop(t, PlatformPDD, mod)
	f.must(asMain, OpenFundingAccount{Ref: f.ref(), Kind: AccountProceeds})
	f.must(asOperator, CreditProceeds{Ref: f.ref(), Amount: money("100000")})
	f.order("O1", nil)
	return f
}

// pddFormed re-registers an order as formed at the given time.
func pddFormed(f *fixture, id string, formed time.Time) {
	f.t.Helper()
	f.order(id, func(o *RegisterOrder) {
		o.PlacedAt, o.PaidAt, o.GroupFormedAt = formed, &formed, &formed
	})
}

// pddExecHolidays is f.must with Request.Holidays set (refund due dates
// skip holidays besides weekends); the events are logged for replay.
func pddExecHolidays(f *fixture, a Actor, cmd Command, holidays map[string]bool) []Payload {
	f.t.Helper()
	req := f.req(a)
	req.Holidays = holidays
	evs, err := Execute(f.s, cmd, req)
	if err != nil {
		f.t.Fatalf("%s: unexpected rejection: %v", cmd.CommandName(), err)
	}
	f.log = append(f.log, evs...)
	return evs
}

// pddWantInitiated checks the accepted payout's route, status and whether
// it holds funds.
func pddWantInitiated(t *testing.T, evs []Payload, route Route, status PayoutStatus, holds bool) {
	t.Helper()
	e := pinEvent[PayoutInitiated](t, evs)
	if e.Route != route || e.Status != status || e.HoldsFunds != holds {
		t.Fatalf("route %s status %s holds %v, want %s %s %v", e.Route, e.Status, e.HoldsFunds, route, status, holds)
	}
}

// ---- pdd.input.required -------------------------------------------------------

// TestPDDInputRequired pins pdd.input.required: type, amount and reason are
// required (a zero amount is a missing one); the message to the buyer is
// carried.
func TestPDDInputRequired(t *testing.T) {
	const code = "pdd.input.required"
	cases := []struct {
		name string
		mod  func(*InitiatePayout)
		code string
	}{
		{"blocks a missing type", func(c *InitiatePayout) { c.Type = "" }, code},
		{"blocks a missing reason", func(c *InitiatePayout) { c.Reason = "" }, code},
		{"blocks a missing type and reason", func(c *InitiatePayout) { c.Type, c.Reason = "", "" }, code},
		{"blocks a missing (zero) amount", func(c *InitiatePayout) { c.Amount = money("0") }, code},
		{"blocks a missing reason on the scan route too", func(c *InitiatePayout) { c.Reason, c.Funding = "", FundingScan }, code},
		{"passes type, amount, reason and message", nil, ""},
		{"passes without a message (carried, not required)", func(c *InitiatePayout) { c.Message = "" }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, PlatformPDD)
			cmd := f.payout("P1", "10", tc.mod)
			if tc.code != "" {
				f.rejects(asMain, cmd, tc.code)
			} else {
				e := pinEvent[PayoutInitiated](t, f.must(asMain, cmd))
				if e.Type != cmd.Type || e.Reason != cmd.Reason || e.Message != cmd.Message {
					t.Fatalf("event carries %s/%q/%q, want %s/%q/%q", e.Type, e.Reason, e.Message, cmd.Type, cmd.Reason, cmd.Message)
				}
			}
			f.replayEquals()
		})
	}
}

// ---- pdd.order.* ----------------------------------------------------------------

// TestPDDOrderGroup pins pdd.order.group: the group order must be formed.
func TestPDDOrderGroup(t *testing.T) {
	cases := []struct {
		name   string
		formed bool
		mod    func(*InitiatePayout)
		code   string
	}{
		{"blocks an order whose group is not formed", false, nil, "pdd.order.group"},
		{"blocks it on the scan route too", false, pddScan, "pdd.order.group"},
		{"passes an order formed just now", true, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, PlatformPDD)
			f.order("O1", func(o *RegisterOrder) {
				o.GroupFormedAt = nil
				if tc.formed {
					now := f.now
					o.GroupFormedAt = &now
				}
			})
			cmd := f.payout("P1", "10", tc.mod)
			if tc.code != "" {
				f.rejects(asMain, cmd, tc.code)
			} else {
				pddWantInitiated(t, f.must(asMain, cmd), RouteDirect, StatusPending, true)
			}
			f.replayEquals()
		})
	}
}

// TestPDDOrderAge pins pdd.order.age: the group formed within one year. An
// order formed exactly 12 calendar months ago is out; one second younger is
// in (and, being 3-12 months old, goes by scan: pdd.route.scan_only).
func TestPDDOrderAge(t *testing.T) {
	year := t0.AddDate(-1, 0, 0) // 2025-11-23 10:00 Shanghai
	cases := []struct {
		name   string
		formed time.Time
		placed time.Time
		mod    func(*InitiatePayout)
		code   string
		status PayoutStatus
	}{
		{"blocks a group formed exactly 12 months ago", year, year, nil, "pdd.order.age", ""},
		{"blocks it on the scan route too", year, year, pddScan, "pdd.order.age", ""},
		{"passes a second younger, by scan", year.Add(time.Second), year, pddScan, "", StatusAwaitingTopUp},
		{"passes the age rule a second younger, then routes to scan", year.Add(time.Second), year, nil, "pdd.route.scan_only", ""},
		{"counts from group formation, not placement", t0.Add(-24 * time.Hour), year.Add(-24 * time.Hour), nil, "", StatusPending},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, PlatformPDD)
			f.order("O1", func(o *RegisterOrder) {
				formed, placed := tc.formed, tc.placed
				o.PlacedAt, o.PaidAt, o.GroupFormedAt = placed, &placed, &formed
			})
			cmd := f.payout("P1", "10", tc.mod)
			if tc.code != "" {
				f.rejects(asMain, cmd, tc.code)
			} else {
				f.must(asMain, cmd)
				pinStatus(t, f, "P1", tc.status)
			}
			f.replayEquals()
		})
	}
}

// TestPDDOrderCount pins pdd.order.count: at most 3 counting payouts per
// order; a failed payout, or a scan payout whose top-up failed, releases its
// place.
func TestPDDOrderCount(t *testing.T) {
	const code = "pdd.order.count"
	count := func(t *testing.T, r *Rejection) { t.Helper(); pinNumbers(t, r, "3", "3", "1") }
	t.Run("three pass, the fourth blocks, a failed one releases", func(t *testing.T) {
		f := newFixture(t, PlatformPDD)
		pinRun(t, f, []pinStep{
			{name: "first", actor: asMain, cmd: f.payout("P1", "10", nil)},
			{name: "second", at: time.Minute, actor: asMain, cmd: f.payout("P2", "10", pddTyped(TypePriceDifference))},
			{name: "passes the third", at: 2 * time.Minute, actor: asMain, cmd: f.payout("P3", "10", pddTyped(TypeService))},
			{name: "blocks the fourth", at: 3 * time.Minute, actor: asMain, cmd: f.payout("P4", "10", pddTyped(TypeOther)), code: code, why: count},
			{name: "blocks the fourth by scan too", at: 3 * time.Minute, actor: asMain, cmd: f.payout("P4", "10", func(c *InitiatePayout) { c.Type = TypeOther; c.Funding = FundingScan }), code: code},
			{name: "P2 fails", at: 3 * time.Minute, actor: asOperator, cmd: MarkPayoutFailed{Ref: f.ref(), PayoutID: "P2"}},
			{name: "passes the fourth after the release", at: 3 * time.Minute, actor: asMain, cmd: f.payout("P4", "10", pddTyped(TypeOther))},
			{name: "blocks a fifth", at: 4 * time.Minute, actor: asMain, cmd: f.payout("P5", "10", pddTyped(TypeActivityCompensation)), code: code},
		})
	})
	t.Run("a scan payout counts until its top-up fails", func(t *testing.T) {
		f := newFixture(t, PlatformPDD)
		pinRun(t, f, []pinStep{
			{name: "first", actor: asMain, cmd: f.payout("P1", "10", nil)},
			{name: "second", at: time.Minute, actor: asMain, cmd: f.payout("P2", "10", pddTyped(TypePriceDifference))},
			{name: "third, by scan", at: 2 * time.Minute, actor: asMain, cmd: f.payout("P3", "10", func(c *InitiatePayout) { c.Type = TypeService; c.Funding = FundingScan })},
			{name: "blocks the fourth", at: 3 * time.Minute, actor: asMain, cmd: f.payout("P4", "10", pddTyped(TypeOther)), code: code, why: count},
			{name: "P3's top-up window passes", at: 62 * time.Minute, actor: asSystem, cmd: ExpireTopUp{Ref: f.ref(), PayoutID: "P3"}},
			{name: "passes the fourth after the release", at: 62 * time.Minute, actor: asMain, cmd: f.payout("P4", "10", pddTyped(TypeOther))},
		})
	})
}

// TestPDDOrderRate pins pdd.order.rate: one payout per order per minute;
// 59 seconds after the last is refused, 60 seconds after passes.
func TestPDDOrderRate(t *testing.T) {
	const code = "pdd.order.rate"
	f := newFixture(t, PlatformPDD)
	pinRun(t, f, []pinStep{
		{name: "first", actor: asMain, cmd: f.payout("P1", "10", nil)},
		{name: "blocks a second at 59 s", at: 59 * time.Second, actor: asMain, cmd: f.payout("P2", "10", pddTyped(TypePriceDifference)), code: code,
			why: func(t *testing.T, r *Rejection) {
				if r.Details["retry_after_seconds"] != "1" {
					t.Fatalf("retry after %q, want 1", r.Details["retry_after_seconds"])
				}
			}},
		{name: "blocks a scan payout at 59 s too", at: 59 * time.Second, actor: asMain, cmd: f.payout("P2", "10", func(c *InitiatePayout) { c.Type = TypePriceDifference; c.Funding = FundingScan }), code: code},
		{name: "passes another order at 59 s", at: 59 * time.Second, actor: asMain, cmd: pinPayoutOn(f, "Q1", "O2", "10", nil)},
		{name: "passes the second at 60 s", at: 60 * time.Second, actor: asMain, cmd: f.payout("P2", "10", pddTyped(TypePriceDifference))},
		{name: "blocks a third at 60 s + 59 s", at: 119 * time.Second, actor: asMain, cmd: f.payout("P3", "10", pddTyped(TypeService)), code: code},
	})
}

// ---- pdd.payout.* ---------------------------------------------------------------

// TestPDDPayoutMin pins pdd.payout.min: at least 1.00 per payout.
func TestPDDPayoutMin(t *testing.T) {
	cases := []struct {
		name, amount string
		mod          func(*InitiatePayout)
		code         string
	}{
		{"blocks 0.99", "0.99", nil, "pdd.payout.min"},
		{"blocks 0.99 by scan", "0.99", pddScan, "pdd.payout.min"},
		{"passes 1.00", "1.00", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, PlatformPDD)
			cmd := f.payout("P1", tc.amount, tc.mod)
			if tc.code != "" {
				pinNumbers(t, f.rejects(asMain, cmd, tc.code), "1", "0", tc.amount)
			} else {
				f.must(asMain, cmd)
				pinStatus(t, f, "P1", StatusPending)
			}
			f.replayEquals()
		})
	}
}

// TestPDDPayoutMax pins pdd.payout.max: at most 200 per payout, 100 on
// activity goods (profile defaults).
func TestPDDPayoutMax(t *testing.T) {
	cases := []struct {
		name     string
		activity bool
		amount   string
		code     string
		limit    string
	}{
		{"blocks 200.01 on normal goods", false, "200.01", "pdd.payout.max", "200"},
		{"passes 200 on normal goods", false, "200", "", ""},
		{"blocks 100.01 on activity goods", true, "100.01", "pdd.payout.max", "100"},
		{"passes 100 on activity goods", true, "100", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, PlatformPDD)
			f.order("O1", func(o *RegisterOrder) { o.ActivityGoods = tc.activity })
			cmd := f.payout("P1", tc.amount, nil)
			if tc.code != "" {
				pinNumbers(t, f.rejects(asMain, cmd, tc.code), tc.limit, "0", tc.amount)
			} else {
				f.must(asMain, cmd)
				pinStatus(t, f, "P1", StatusPending)
			}
			f.replayEquals()
		})
	}
}

// ---- pdd.shop.* -----------------------------------------------------------------

// TestPDDShopDailyAmount pins pdd.shop.daily_amount: the shop's counting
// payouts of a local day are at most 5000 (default; a merchant may set
// less, never more).
func TestPDDShopDailyAmount(t *testing.T) {
	const code = "pdd.shop.daily_amount"
	t.Run("5000 passes, 5000.01 blocks, a new day starts afresh", func(t *testing.T) {
		f := newFixture(t, PlatformPDD)
		var steps []pinStep
		for i := 1; i <= 24; i++ { // 24 x 200 = 4800, one order each
			id := "D" + strconv.Itoa(i)
			steps = append(steps, pinStep{name: "200 on " + id, actor: asMain, cmd: pinPayoutOn(f, id, id, "200", nil)})
		}
		steps = append(steps,
			pinStep{name: "199 to 4999", actor: asMain, cmd: pinPayoutOn(f, "P1", "O1", "199", nil)},
			pinStep{name: "blocks 1.01 (5000.01)", actor: asMain, cmd: pinPayoutOn(f, "P2", "O2", "1.01", nil), code: code,
				why: func(t *testing.T, r *Rejection) { pinNumbers(t, r, "5000", "4999", "1.01") }},
			pinStep{name: "blocks it by scan too", actor: asMain, cmd: pinPayoutOn(f, "P2", "O2", "1.01", pddScan), code: code},
			pinStep{name: "passes 1.00 (exactly 5000)", actor: asMain, cmd: pinPayoutOn(f, "P2", "O2", "1", nil),
				then: func(t *testing.T, _ []Payload) { pinDay(t, f, "2026-11-23", 26, "5000") }},
			pinStep{name: "blocks the minimum 1.00 more", actor: asMain, cmd: pinPayoutOn(f, "P3", "O3", "1", nil), code: code},
			pinStep{name: "blocks at 23:59:59 the same day", at: pinLocal(2026, 11, 23, 23, 59, 59).Sub(t0), actor: asMain, cmd: pinPayoutOn(f, "P3", "O3", "1", nil), code: code},
			pinStep{name: "passes at 00:00 the next day", at: pinLocal(2026, 11, 24, 0, 0, 0).Sub(t0), actor: asMain, cmd: pinPayoutOn(f, "P3", "O3", "200", nil)},
		)
		pinRun(t, f, steps)
	})
	t.Run("a merchant limit below the cap, and a failed payout releases", func(t *testing.T) {
		f := newFixture(t, PlatformPDD)
		pinRun(t, f, []pinStep{
			{name: "a limit above the 5000 cap is refused", actor: asMain, cmd: SetShopLimits{Ref: f.ref(), Limits: Limits{DailyAmount: moneyp("5000.01")}}, code: CodeLimitsAboveCeil},
			{name: "the merchant sets 300", actor: asMain, cmd: SetShopLimits{Ref: f.ref(), Limits: Limits{DailyAmount: moneyp("300")}}},
			{name: "200", actor: asMain, cmd: pinPayoutOn(f, "P1", "O1", "200", nil)},
			{name: "passes 100 to exactly 300", actor: asMain, cmd: pinPayoutOn(f, "P2", "O2", "100", nil)},
			{name: "blocks 1 more", actor: asMain, cmd: pinPayoutOn(f, "P3", "O3", "1", nil), code: code,
				why: func(t *testing.T, r *Rejection) { pinNumbers(t, r, "300", "300", "1") }},
			{name: "P2 fails", actor: asOperator, cmd: MarkPayoutFailed{Ref: f.ref(), PayoutID: "P2"}},
			{name: "passes 100 after the release", actor: asMain, cmd: pinPayoutOn(f, "P3", "O3", "100", nil)},
		})
	})
}

// TestPDDShopUnpaidBills pins pdd.shop.unpaid_bills: no payout, by any route,
// while the shop has unpaid bills.
func TestPDDShopUnpaidBills(t *testing.T) {
	const code = "pdd.shop.unpaid_bills"
	f := newFixture(t, PlatformPDD)
	pinRun(t, f, []pinStep{
		{name: "the platform reports unpaid bills", actor: asOperator, cmd: UpdateShopStanding{Ref: f.ref(), Status: ShopNormal, UnpaidBills: true}},
		{name: "blocks a balance payout", actor: asMain, cmd: f.payout("P1", "10", nil), code: code},
		{name: "blocks a scan payout", actor: asMain, cmd: f.payout("P1", "10", pddScan), code: code},
		{name: "blocks a request for approval", actor: asSub, cmd: f.payout("P1", "10", pddApproval), code: code},
		{name: "the bills are paid", actor: asOperator, cmd: UpdateShopStanding{Ref: f.ref(), Status: ShopNormal, UnpaidBills: false}},
		{name: "passes the payout", actor: asMain, cmd: f.payout("P1", "10", nil),
			then: func(t *testing.T, _ []Payload) { pinStatus(t, f, "P1", StatusPending) }},
	})
}

// ---- pdd.route.* ----------------------------------------------------------------

// TestPDDRouteScanOnly pins pdd.route.scan_only: in each listed condition a
// balance payout is refused with pdd.route.scan_only, while the same payout
// by scan is accepted awaiting its top-up. From a staff account, a payout
// submitted for approval is accepted awaiting approval when the condition is
// the staff's quota (approval replaces the quota); when it is the shop's or
// the order's (zero deposit, order age, proceeds daily limit) the approved
// payout would still come from the balance, so the request is refused with
// pdd.route.scan_only too (commit 459282b's reading).
func TestPDDRouteScanOnly(t *testing.T) {
	const code = "pdd.route.scan_only"
	threeMonths := t0.AddDate(0, -3, 0) // 2026-08-23 10:00 Shanghai
	type scenario struct {
		name   string
		shop   func(t *testing.T) *fixture
		setup  func(f *fixture)
		actor  Actor
		amount string
		reason string // the rejection's Details["reason"]
		onShop bool   // a shop or order condition: approval does not lift it
	}
	std := func(t *testing.T) *fixture { return newFixture(t, PlatformPDD) }
	zeroDeposit := func(t *testing.T) *fixture {
		return pddFreshShop(t, func(r *RegisterShop) { r.ZeroDeposit = true })
	}
	grant := func(per, day string) func(f *fixture) {
		return func(f *fixture) { f.must(asMain, jdGrant(f, per, day)) }
	}
	scenarios := []scenario{
		{name: "zero-deposit shop without deposit", shop: zeroDeposit, actor: asMain, amount: "10", reason: "zero_deposit"},
		{name: "zero-deposit shop without deposit, staff account", shop: zeroDeposit, setup: grant("", ""), actor: asSub, amount: "10", reason: "zero_deposit", onShop: true},
		{name: "sub account with no quota", shop: std, actor: asSub, amount: "10", reason: "no_quota"},
		{name: "sub account with a disabled quota", shop: std, setup: func(f *fixture) {
			f.must(asMain, jdGrant(f, "", ""))
			f.must(asMain, DisableStaffQuota{Ref: f.ref(), Staff: subID})
		}, actor: asSub, amount: "10", reason: "no_quota"},
		{name: "sub account over its per-payout quota", shop: std, setup: grant("50", ""), actor: asSub, amount: "50.01", reason: "staff_per_payout"},
		{name: "sub account over its daily quota", shop: std, setup: func(f *fixture) {
			f.must(asMain, jdGrant(f, "", "100"))
			f.must(asSub, pinPayoutOn(f, "Q1", "O2", "60", nil))
			f.must(asSub, pinPayoutOn(f, "Q2", "O3", "40", nil)) // exactly 100: passes
		}, actor: asSub, amount: "1", reason: "staff_daily"},
		{name: "order formed exactly 3 months ago", shop: std, setup: func(f *fixture) { pddFormed(f, "O1", threeMonths) },
			actor: asMain, amount: "10", reason: "order_age"},
		{name: "order formed exactly 3 months ago, staff account", shop: std, setup: func(f *fixture) {
			pddFormed(f, "O1", threeMonths)
			f.must(asMain, jdGrant(f, "", ""))
		}, actor: asSub, amount: "10", reason: "order_age", onShop: true},
		{name: "the merchant's daily proceeds-balance limit reached", shop: std, setup: func(f *fixture) {
			f.must(asMain, SetShopLimits{Ref: f.ref(), Limits: Limits{ProceedsDailyAmount: moneyp("300")}})
			f.must(asMain, pinPayoutOn(f, "Q1", "O2", "200", nil))
			f.must(asMain, pinPayoutOn(f, "Q2", "O3", "100", nil)) // exactly 300: passes
		}, actor: asMain, amount: "1", reason: "proceeds_daily"},
		{name: "the merchant's daily proceeds-balance limit reached, staff account", shop: std, setup: func(f *fixture) {
			f.must(asMain, jdGrant(f, "", ""))
			f.must(asMain, SetShopLimits{Ref: f.ref(), Limits: Limits{ProceedsDailyAmount: moneyp("300")}})
			f.must(asSub, pinPayoutOn(f, "Q1", "O2", "200", nil))
			f.must(asMain, pinPayoutOn(f, "Q2", "O3", "100", nil)) // the limit is the shop's, whoever pays
		}, actor: asSub, amount: "1", reason: "proceeds_daily", onShop: true},
	}
	for _, sc := range scenarios {
		t.Run("blocks the balance: "+sc.name, func(t *testing.T) {
			f := sc.shop(t)
			if sc.setup != nil {
				sc.setup(f)
			}
			r := f.rejects(sc.actor, f.payout("P1", sc.amount, nil), code)
			if r.Details["reason"] != sc.reason {
				t.Fatalf("reason %q, want %q", r.Details["reason"], sc.reason)
			}
			f.replayEquals()
		})
		t.Run("passes by scan: "+sc.name, func(t *testing.T) {
			f := sc.shop(t)
			if sc.setup != nil {
				sc.setup(f)
			}
			before := f.s.Accounts[AccountProceeds].Available()
			evs := f.must(sc.actor, f.payout("P1", sc.amount, pddScan))
			pddWantInitiated(t, evs, RouteScan, StatusAwaitingTopUp, false)
			if e := pinEvent[PayoutInitiated](t, evs); e.Funding != FundingScan || e.DeadlineAt == nil || !e.DeadlineAt.Equal(f.now.Add(time.Hour)) {
				t.Fatalf("funding %s deadline %v, want scan and now+1h", e.Funding, e.DeadlineAt)
			}
			pinMoney(t, "goods balance available", f.s.Accounts[AccountProceeds].Available(), before.String())
			f.replayEquals()
		})
		if sc.actor.Role == RoleSub && !sc.onShop {
			t.Run("passes submitted for approval: "+sc.name, func(t *testing.T) {
				f := sc.shop(t)
				if sc.setup != nil {
					sc.setup(f)
				}
				pddWantInitiated(t, f.must(sc.actor, f.payout("P1", sc.amount, pddApproval)), RouteApproval, StatusAwaitingApproval, false)
				f.replayEquals()
			})
		}
		if sc.actor.Role == RoleSub && sc.onShop {
			t.Run("blocks approval too: "+sc.name, func(t *testing.T) {
				f := sc.shop(t)
				if sc.setup != nil {
					sc.setup(f)
				}
				r := f.rejects(sc.actor, f.payout("P1", sc.amount, pddApproval), code)
				if r.Details["reason"] != sc.reason {
					t.Fatalf("reason %q, want %q", r.Details["reason"], sc.reason)
				}
				f.replayEquals()
			})
		}
	}

	// The boundaries on the balance side of each condition.
	boundaries := []scenario{
		{name: "zero-deposit shop that paid its deposit", shop: func(t *testing.T) *fixture {
			f := zeroDeposit(t)
			f.must(asOperator, UpdateShopStanding{Ref: f.ref(), Status: ShopNormal, DepositPaid: true})
			return f
		}, actor: asMain, amount: "10"},
		{name: "sub account exactly at its per-payout quota", shop: std, setup: grant("50", ""), actor: asSub, amount: "50"},
		{name: "sub account reaching exactly its daily quota", shop: std, setup: func(f *fixture) {
			f.must(asMain, jdGrant(f, "", "100"))
			f.must(asSub, pinPayoutOn(f, "Q1", "O2", "60", nil))
		}, actor: asSub, amount: "40"},
		{name: "order formed 3 months minus a second ago", shop: std, setup: func(f *fixture) { pddFormed(f, "O1", threeMonths.Add(time.Second)) },
			actor: asMain, amount: "10"},
		{name: "daily proceeds-balance payouts reaching exactly the limit", shop: std, setup: func(f *fixture) {
			f.must(asMain, SetShopLimits{Ref: f.ref(), Limits: Limits{ProceedsDailyAmount: moneyp("300")}})
			f.must(asMain, pinPayoutOn(f, "Q1", "O2", "200", nil))
			f.must(asMain, pinPayoutOn(f, "Q2", "O3", "50", pddScan)) // scan payouts do not use the balance limit
		}, actor: asMain, amount: "100"},
	}
	for _, sc := range boundaries {
		t.Run("passes the balance: "+sc.name, func(t *testing.T) {
			f := sc.shop(t)
			if sc.setup != nil {
				sc.setup(f)
			}
			pddWantInitiated(t, f.must(sc.actor, f.payout("P1", sc.amount, nil)), RouteDirect, StatusPending, true)
			f.replayEquals()
		})
	}
}

// TestPDDRouteApproval pins pdd.route.approval: a staff account may submit a
// payout for admin approval; the main account pays directly and is the one
// that approves (funds held, pending) or rejects (everything released).
func TestPDDRouteApproval(t *testing.T) {
	const code = "pdd.route.approval"
	t.Run("blocks the main account submitting for approval", func(t *testing.T) {
		f := newFixture(t, PlatformPDD)
		f.rejects(asMain, f.payout("P1", "10", pddApproval), code)
		f.replayEquals()
	})
	t.Run("approve: sub refused, main approves and the funds are held", func(t *testing.T) {
		f := newFixture(t, PlatformPDD)
		pinRun(t, f, []pinStep{
			{name: "a sub with no quota submits", actor: asSub, cmd: f.payout("P1", "150", pddApproval),
				then: func(t *testing.T, evs []Payload) {
					pddWantInitiated(t, evs, RouteApproval, StatusAwaitingApproval, false)
					pinAccount(t, f, AccountProceeds, "100000", "0", "100000")
					pinDay(t, f, "2026-11-23", 1, "150")
				}},
			{name: "blocks approval by a sub", at: time.Minute, actor: asSub, cmd: ApprovePayout{Ref: f.ref(), PayoutID: "P1"}, code: code},
			{name: "blocks approval by another sub", at: time.Minute, actor: pddSub2, cmd: ApprovePayout{Ref: f.ref(), PayoutID: "P1"}, code: code},
			{name: "blocks rejection by a sub", at: time.Minute, actor: asSub, cmd: RejectPayout{Ref: f.ref(), PayoutID: "P1"}, code: code},
			{name: "passes approval by the main account", at: time.Minute, actor: asMain, cmd: ApprovePayout{Ref: f.ref(), PayoutID: "P1"},
				then: func(t *testing.T, evs []Payload) {
					if e := pinEvent[PayoutApproved](t, evs); e.By != mainID {
						t.Fatalf("approved by %q", e.By)
					}
					pinStatus(t, f, "P1", StatusPending)
					pinAccount(t, f, AccountProceeds, "100000", "150", "99850")
				}},
			{name: "approving twice is illegal", at: time.Minute, actor: asMain, cmd: ApprovePayout{Ref: f.ref(), PayoutID: "P1"}, code: CodeIllegalTransition},
		})
	})
	t.Run("reject: the main account rejects and everything is released", func(t *testing.T) {
		f := newFixture(t, PlatformPDD)
		pinRun(t, f, []pinStep{
			{name: "a sub submits", actor: asSub, cmd: f.payout("P1", "150", pddApproval)},
			{name: "passes rejection by the main account", at: time.Minute, actor: asMain, cmd: RejectPayout{Ref: f.ref(), PayoutID: "P1", Reason: "no"},
				then: func(t *testing.T, _ []Payload) {
					pinStatus(t, f, "P1", StatusRejected)
					pinAccount(t, f, AccountProceeds, "100000", "0", "100000")
					pinDay(t, f, "2026-11-23", 0, "0")
				}},
			{name: "approving a rejected payout is illegal", at: time.Minute, actor: asMain, cmd: ApprovePayout{Ref: f.ref(), PayoutID: "P1"}, code: CodeIllegalTransition},
			{name: "the order's place is free again", at: 2 * time.Minute, actor: asSub, cmd: f.payout("P2", "150", pddApproval)},
		})
	})
}

// ---- pdd.topup.window -----------------------------------------------------------

// TestPDDTopUpWindow pins pdd.topup.window: a scan payout waits one hour for
// its top-up; a top-up at 1h-1s completes it, at 1h it is refused; the
// expiry is refused before 1h and at 1h ends the payout for good.
func TestPDDTopUpWindow(t *testing.T) {
	const code = "pdd.topup.window"
	hour := time.Hour
	t.Run("top-up at 1h-1s passes", func(t *testing.T) {
		f := newFixture(t, PlatformPDD)
		pinRun(t, f, []pinStep{
			{name: "scan payout", actor: asMain, cmd: f.payout("P1", "10", pddScan)},
			{name: "blocks the expiry at 1h-1s", at: hour - time.Second, actor: asSystem, cmd: ExpireTopUp{Ref: f.ref(), PayoutID: "P1"}, code: code},
			{name: "passes the top-up at 1h-1s", at: hour - time.Second, actor: asOperator, cmd: CompleteTopUp{Ref: f.ref(), PayoutID: "P1"},
				then: func(t *testing.T, evs []Payload) {
					pinEvent[PayoutToppedUp](t, evs)
					pinStatus(t, f, "P1", StatusPending)
				}},
			{name: "no expiry after the top-up", at: hour, actor: asSystem, cmd: ExpireTopUp{Ref: f.ref(), PayoutID: "P1"}, code: CodeIllegalTransition},
		})
	})
	t.Run("top-up at 1h blocks; expiry at 1h fails it for good", func(t *testing.T) {
		f := newFixture(t, PlatformPDD)
		pinRun(t, f, []pinStep{
			{name: "scan payout", actor: asMain, cmd: f.payout("P1", "10", pddScan)},
			{name: "blocks the top-up at 1h", at: hour, actor: asOperator, cmd: CompleteTopUp{Ref: f.ref(), PayoutID: "P1"}, code: code},
			{name: "passes the expiry at 1h", at: hour, actor: asSystem, cmd: ExpireTopUp{Ref: f.ref(), PayoutID: "P1"},
				then: func(t *testing.T, evs []Payload) {
					if e := pinEvent[PayoutTopUpFailed](t, evs); e.PayoutID != "P1" {
						t.Fatalf("top-up failed for %q", e.PayoutID)
					}
					pinStatus(t, f, "P1", StatusTopUpFailed)
					pinDay(t, f, "2026-11-23", 0, "0")
				}},
			{name: "a top-up after that is illegal", at: hour + time.Second, actor: asOperator, cmd: CompleteTopUp{Ref: f.ref(), PayoutID: "P1"}, code: CodeIllegalTransition},
			{name: "a second expiry is illegal", at: hour + time.Second, actor: asSystem, cmd: ExpireTopUp{Ref: f.ref(), PayoutID: "P1"}, code: CodeIllegalTransition},
			{name: "re-initiating is the way on", at: hour + time.Second, actor: asMain, cmd: f.payout("P2", "10", pddScan)},
		})
	})
}

// ---- pdd.fail.* -----------------------------------------------------------------

// TestPDDFailAccountCard pins pdd.fail.account_card: a payout failed for the
// buyer's account waits for the buyer's account with a card valid 72 hours;
// a submitted account retries at once; the card expires at 72h; the merchant
// resends only an expired card; failing again sends a new card.
func TestPDDFailAccountCard(t *testing.T) {
	const code = "pdd.fail.account_card"
	day3 := 72 * time.Hour
	failAt := time.Hour // the card is sent at t0+1h, valid until t0+73h
	t.Run("submitted at 72h-1s retries; failing again sends a new card", func(t *testing.T) {
		f := newFixture(t, PlatformPDD)
		pinRun(t, f, []pinStep{
			{name: "payout", actor: asMain, cmd: f.payout("P1", "10", nil)},
			{name: "processing", actor: asOperator, cmd: MarkPayoutProcessing{Ref: f.ref(), PayoutID: "P1"}},
			{name: "fails for the buyer's account", at: failAt, actor: asOperator, cmd: MarkPayoutFailed{Ref: f.ref(), PayoutID: "P1", BuyerAccount: true, Reason: "account"},
				then: func(t *testing.T, evs []Payload) {
					e := pinEvent[PayoutFailedForBuyerAccount](t, evs)
					if !e.CardExpiresAt.Equal(t0.Add(failAt + day3)) {
						t.Fatalf("card expires %v, want %v", e.CardExpiresAt, t0.Add(failAt+day3))
					}
					pinStatus(t, f, "P1", StatusAwaitingBuyerAccount)
					pinAccount(t, f, AccountProceeds, "100000", "10", "99990") // still held
					pinDay(t, f, "2026-11-23", 1, "10")                        // still counts
				}},
			{name: "blocks a resend while the card is valid", at: failAt + day3 - time.Second, actor: asMain, cmd: ResendAccountCard{Ref: f.ref(), PayoutID: "P1"}, code: code},
			{name: "blocks the expiry at 72h-1s", at: failAt + day3 - time.Second, actor: asSystem, cmd: ExpireCard{Ref: f.ref(), ID: "P1"}, code: code},
			{name: "passes the buyer's account at 72h-1s: retry", at: failAt + day3 - time.Second, actor: asOperator, cmd: SubmitBuyerAccount{Ref: f.ref(), PayoutID: "P1"},
				then: func(t *testing.T, evs []Payload) {
					pinEvent[BuyerAccountSubmitted](t, evs)
					pinStatus(t, f, "P1", StatusProcessing)
				}},
			{name: "the retry fails for the account again: a new card", at: failAt + day3, actor: asOperator, cmd: MarkPayoutFailed{Ref: f.ref(), PayoutID: "P1", BuyerAccount: true},
				then: func(t *testing.T, evs []Payload) {
					e := pinEvent[PayoutFailedForBuyerAccount](t, evs)
					want := t0.Add(failAt + 2*day3)
					if !e.CardExpiresAt.Equal(want) || !f.s.Payouts["P1"].CardExpiresAt.Equal(want) {
						t.Fatalf("new card expires %v, want %v", e.CardExpiresAt, want)
					}
					pinStatus(t, f, "P1", StatusAwaitingBuyerAccount)
				}},
			{name: "passes the account on the new card", at: failAt + day3 + time.Hour, actor: asOperator, cmd: SubmitBuyerAccount{Ref: f.ref(), PayoutID: "P1"}},
			{name: "succeeds", at: failAt + day3 + time.Hour, actor: asOperator, cmd: MarkPayoutSucceeded{Ref: f.ref(), PayoutID: "P1"},
				then: func(t *testing.T, _ []Payload) {
					pinStatus(t, f, "P1", StatusSucceeded)
					pinAccount(t, f, AccountProceeds, "99990", "0", "99990")
				}},
		})
	})
	t.Run("at 72h the account is refused, the card expires and may be resent", func(t *testing.T) {
		f := newFixture(t, PlatformPDD)
		pinRun(t, f, []pinStep{
			{name: "payout", actor: asMain, cmd: f.payout("P1", "10", nil)},
			{name: "fails for the buyer's account", at: failAt, actor: asOperator, cmd: MarkPayoutFailed{Ref: f.ref(), PayoutID: "P1", BuyerAccount: true}},
			{name: "blocks the buyer's account at 72h", at: failAt + day3, actor: asOperator, cmd: SubmitBuyerAccount{Ref: f.ref(), PayoutID: "P1"}, code: code},
			{name: "passes the expiry at 72h", at: failAt + day3, actor: asSystem, cmd: ExpireCard{Ref: f.ref(), ID: "P1"},
				then: func(t *testing.T, evs []Payload) {
					if e := pinEvent[CardExpired](t, evs); e.Card != "account" || e.ID != "P1" {
						t.Fatalf("expired %+v", e)
					}
					if p := f.s.Payouts["P1"]; !p.CardExpired || p.Status != StatusAwaitingBuyerAccount {
						t.Fatalf("card expired %v status %s", p.CardExpired, p.Status)
					}
				}},
			{name: "a second expiry is illegal", at: failAt + day3, actor: asSystem, cmd: ExpireCard{Ref: f.ref(), ID: "P1"}, code: CodeIllegalTransition},
			{name: "blocks the buyer's account on the expired card", at: failAt + day3 + time.Minute, actor: asOperator, cmd: SubmitBuyerAccount{Ref: f.ref(), PayoutID: "P1"}, code: code},
			{name: "passes the merchant's resend of the expired card", at: failAt + day3 + time.Hour, actor: asSub, cmd: ResendAccountCard{Ref: f.ref(), PayoutID: "P1"},
				then: func(t *testing.T, evs []Payload) {
					want := t0.Add(failAt + day3 + time.Hour + day3)
					if e := pinEvent[AccountCardSent](t, evs); !e.CardExpiresAt.Equal(want) {
						t.Fatalf("resent card expires %v, want %v", e.CardExpiresAt, want)
					}
					if p := f.s.Payouts["P1"]; p.CardExpired || !p.CardExpiresAt.Equal(want) {
						t.Fatalf("card expired %v until %v", p.CardExpired, p.CardExpiresAt)
					}
				}},
			{name: "blocks a second resend while the new card is valid", at: failAt + day3 + 2*time.Hour, actor: asMain, cmd: ResendAccountCard{Ref: f.ref(), PayoutID: "P1"}, code: code},
			{name: "passes the buyer's account on the resent card", at: failAt + day3 + 2*time.Hour, actor: asOperator, cmd: SubmitBuyerAccount{Ref: f.ref(), PayoutID: "P1"},
				then: func(t *testing.T, _ []Payload) { pinStatus(t, f, "P1", StatusProcessing) }},
		})
	})
	t.Run("passes a resend at 72h without an expiry event", func(t *testing.T) {
		f := newFixture(t, PlatformPDD)
		pinRun(t, f, []pinStep{
			{name: "payout", actor: asMain, cmd: f.payout("P1", "10", nil)},
			{name: "fails for the buyer's account", actor: asOperator, cmd: MarkPayoutFailed{Ref: f.ref(), PayoutID: "P1", BuyerAccount: true}},
			{name: "blocks a resend at 72h-1s", at: day3 - time.Second, actor: asMain, cmd: ResendAccountCard{Ref: f.ref(), PayoutID: "P1"}, code: code},
			{name: "passes a resend at 72h", at: day3, actor: asMain, cmd: ResendAccountCard{Ref: f.ref(), PayoutID: "P1"}},
		})
	})
}

// TestPDDFailClose pins pdd.fail.close: 7 days after initiation a payout not
// yet succeeded closes (limits released, money still held); the money is
// due back 3 business days later (latest 5), skipping weekends and
// holidays; RefundToMerchant is refused before that and releases the money
// from then on.
func TestPDDFailClose(t *testing.T) {
	const code = "pdd.fail.close"
	week := 7 * 24 * time.Hour
	close := func(f *fixture) ClosePayout { return ClosePayout{Ref: f.ref(), PayoutID: "P1"} }
	refund := func(f *fixture) RefundToMerchant { return RefundToMerchant{Ref: f.ref(), PayoutID: "P1"} }
	wantClosed := func(t *testing.T, f *fixture, evs []Payload, due, latest time.Time) {
		t.Helper()
		e := pinEvent[PayoutClosed](t, evs)
		if e.RefundDueAt == nil || e.RefundLatestAt == nil || !e.RefundDueAt.Equal(due) || !e.RefundLatestAt.Equal(latest) {
			t.Fatalf("refund due %v latest %v, want %v and %v", e.RefundDueAt, e.RefundLatestAt, due, latest)
		}
		pinStatus(t, f, "P1", StatusClosed)
		pinDay(t, f, "2026-11-23", 0, "0")                         // limits released
		pinAccount(t, f, AccountProceeds, "100000", "10", "99990") // money still held
	}
	wantRefunded := func(f *fixture) func(*testing.T, []Payload) {
		return func(t *testing.T, evs []Payload) {
			if e := pinEvent[PayoutRefundedToMerchant](t, evs); !e.Amount.Equal(money("10")) || e.Funding != AccountProceeds {
				t.Fatalf("refunded %s to %s", e.Amount, e.Funding)
			}
			pinStatus(t, f, "P1", StatusRefunded)
			pinAccount(t, f, AccountProceeds, "100000", "0", "100000")
		}
	}

	t.Run("closes at exactly 7 days; refund due Thursday, latest next Monday", func(t *testing.T) {
		f := newFixture(t, PlatformPDD)
		due := pinLocal(2026, 12, 3, 10, 0, 0)    // Mon 30 Nov + Tue, Wed, Thu
		latest := pinLocal(2026, 12, 7, 10, 0, 0) // + Fri, (Sat, Sun), Mon
		pinRun(t, f, []pinStep{
			{name: "payout", actor: asMain, cmd: f.payout("P1", "10", nil)},
			{name: "processing", actor: asOperator, cmd: MarkPayoutProcessing{Ref: f.ref(), PayoutID: "P1"}},
			{name: "blocks the close at 7d-1s", at: week - time.Second, actor: asSystem, cmd: close(f), code: code},
			{name: "blocks a refund before the close", at: week - time.Second, actor: asSystem, cmd: refund(f), code: CodeIllegalTransition},
			{name: "passes the close at 7d", at: week, actor: asSystem, cmd: close(f),
				then: func(t *testing.T, evs []Payload) { wantClosed(t, f, evs, due, latest) }},
			{name: "a closed payout cannot succeed", at: week, actor: asOperator, cmd: MarkPayoutSucceeded{Ref: f.ref(), PayoutID: "P1"}, code: CodeIllegalTransition},
			{name: "blocks the refund a second before due", at: due.Add(-time.Second).Sub(t0), actor: asSystem, cmd: refund(f), code: code},
			{name: "passes the refund when due", at: due.Sub(t0), actor: asSystem, cmd: refund(f), then: wantRefunded(f)},
			{name: "refunding twice is illegal", at: due.Sub(t0), actor: asSystem, cmd: refund(f), code: CodeIllegalTransition},
		})
	})

	t.Run("a holiday moves the refund dates", func(t *testing.T) {
		f := newFixture(t, PlatformPDD)
		holidays := map[string]bool{"2026-12-02": true}
		due := pinLocal(2026, 12, 4, 10, 0, 0)    // Tue, (Wed holiday), Thu, Fri
		latest := pinLocal(2026, 12, 8, 10, 0, 0) // + Mon, Tue
		f.must(asMain, f.payout("P1", "10", nil))
		f.at(t0.Add(week - time.Second))
		f.rejects(asSystem, close(f), code)
		f.at(t0.Add(week))
		wantClosed(t, f, pddExecHolidays(f, asSystem, close(f), holidays), due, latest)
		f.at(pinLocal(2026, 12, 3, 10, 0, 0)) // due without the holiday
		f.rejects(asSystem, refund(f), code)
		f.at(due.Add(-time.Second))
		f.rejects(asSystem, refund(f), code)
		f.at(due)
		wantRefunded(f)(t, f.must(asSystem, refund(f)))
		f.replayEquals()
	})

	t.Run("closed mid-week: the refund due date skips the weekend", func(t *testing.T) {
		f := newFixture(t, PlatformPDD)
		closedAt := pinLocal(2026, 12, 2, 10, 0, 0) // Wednesday, 9 days after t0
		due := pinLocal(2026, 12, 7, 10, 0, 0)      // Thu, Fri, (Sat, Sun), Mon
		latest := pinLocal(2026, 12, 9, 10, 0, 0)   // + Tue, Wed
		pinRun(t, f, []pinStep{
			{name: "payout", actor: asMain, cmd: f.payout("P1", "10", nil)},
			{name: "passes the close", at: closedAt.Sub(t0), actor: asSystem, cmd: close(f),
				then: func(t *testing.T, evs []Payload) { wantClosed(t, f, evs, due, latest) }},
			{name: "blocks the refund on Saturday", at: pinLocal(2026, 12, 5, 10, 0, 0).Sub(t0), actor: asSystem, cmd: refund(f), code: code},
			{name: "blocks the refund on Monday 09:59:59", at: due.Add(-time.Second).Sub(t0), actor: asSystem, cmd: refund(f), code: code},
			{name: "passes the refund after the latest date too", at: latest.Add(time.Hour).Sub(t0), actor: asSystem, cmd: refund(f), then: wantRefunded(f)},
		})
	})

	t.Run("a payout awaiting the buyer's account closes too", func(t *testing.T) {
		f := newFixture(t, PlatformPDD)
		pinRun(t, f, []pinStep{
			{name: "payout", actor: asMain, cmd: f.payout("P1", "10", nil)},
			{name: "fails for the buyer's account", at: time.Hour, actor: asOperator, cmd: MarkPayoutFailed{Ref: f.ref(), PayoutID: "P1", BuyerAccount: true}},
			{name: "blocks the close at 7d-1s", at: week - time.Second, actor: asSystem, cmd: close(f), code: code},
			{name: "passes the close at 7d", at: week, actor: asSystem, cmd: close(f),
				then: func(t *testing.T, evs []Payload) {
					wantClosed(t, f, evs, pinLocal(2026, 12, 3, 10, 0, 0), pinLocal(2026, 12, 7, 10, 0, 0))
				}},
			{name: "the buyer's account comes too late", at: week, actor: asOperator, cmd: SubmitBuyerAccount{Ref: f.ref(), PayoutID: "P1"}, code: CodeIllegalTransition},
			{name: "a new payout on the order may be initiated", at: week, actor: asMain, cmd: f.payout("P2", "10", nil)},
		})
	})

	t.Run("a request still awaiting approval closes with nothing to refund", func(t *testing.T) {
		f := newFixture(t, PlatformPDD)
		pinRun(t, f, []pinStep{
			{name: "a sub submits", actor: asSub, cmd: f.payout("P1", "10", pddApproval)},
			{name: "blocks the close at 7d-1s", at: week - time.Second, actor: asSystem, cmd: close(f), code: code},
			{name: "passes the close at 7d", at: week, actor: asSystem, cmd: close(f),
				then: func(t *testing.T, evs []Payload) {
					if e := pinEvent[PayoutClosed](t, evs); e.RefundDueAt != nil || e.RefundLatestAt != nil {
						t.Fatalf("refund dates %v %v on a payout that held no money", e.RefundDueAt, e.RefundLatestAt)
					}
					pinStatus(t, f, "P1", StatusClosed)
					pinDay(t, f, "2026-11-23", 0, "0")
					pinAccount(t, f, AccountProceeds, "100000", "0", "100000")
				}},
			{name: "too late to approve", at: week, actor: asMain, cmd: ApprovePayout{Ref: f.ref(), PayoutID: "P1"}, code: CodeIllegalTransition},
			{name: "nothing to refund", at: 30 * 24 * time.Hour, actor: asSystem, cmd: refund(f), code: CodeIllegalTransition},
		})
	})

	t.Run("a succeeded payout never closes", func(t *testing.T) {
		f := newFixture(t, PlatformPDD)
		pinRun(t, f, []pinStep{
			{name: "payout", actor: asMain, cmd: f.payout("P1", "10", nil)},
			{name: "succeeds", actor: asOperator, cmd: MarkPayoutSucceeded{Ref: f.ref(), PayoutID: "P1"}},
			{name: "close is illegal", at: week, actor: asSystem, cmd: close(f), code: CodeIllegalTransition},
		})
	})
}

// ---- pdd.refund.not_returned ----------------------------------------------------

// TestPDDRefundNotReturned pins pdd.refund.not_returned: an order refund
// after a payout does not return the payout; it raises a
// dup.refund_after_payout warning carrying the rule. The rule never blocks
// (a refund is a fact from the order system): its boundary is an order with
// no counting payout, where no warning is raised.
func TestPDDRefundNotReturned(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(f *fixture)
		status  PayoutStatus // P1's status before and after ("" = no payout)
		warn    bool
		balance string
		held    string
	}{
		{"warns on a pending payout, which stays pending", func(f *fixture) {
			f.must(asMain, f.payout("P1", "10", nil))
		}, StatusPending, true, "100000", "10"},
		{"warns on a succeeded payout, which is not returned", func(f *fixture) {
			f.must(asMain, f.payout("P1", "10", nil))
			f.must(asOperator, MarkPayoutSucceeded{Ref: f.ref(), PayoutID: "P1"})
		}, StatusSucceeded, true, "99990", "0"},
		{"no warning on an order without payouts", nil, "", false, "100000", "0"},
		{"no warning when the only payout failed", func(f *fixture) {
			f.must(asMain, f.payout("P1", "10", nil))
			f.must(asOperator, MarkPayoutFailed{Ref: f.ref(), PayoutID: "P1"})
		}, StatusFailed, false, "100000", "0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, PlatformPDD)
			if tc.setup != nil {
				tc.setup(f)
			}
			var before Payout
			if tc.status != "" {
				before = *f.s.Payouts["P1"]
			}
			f.advance(time.Hour)
			evs := f.must(asOperator, RecordOrderRefund{Ref: f.ref(), OrderID: "O1", RefundID: "R1", Amount: money("100")})
			pinEvent[OrderRefundRecorded](t, evs)
			if tc.warn {
				w := pinEvent[DuplicateCompensationWarned](t, evs)
				if w.Kind != CodeDupRefundAfter || w.Rule != "pdd.refund.not_returned" || w.OrderID != "O1" ||
					w.RefundID != "R1" || len(w.PayoutIDs) != 1 || w.PayoutIDs[0] != "P1" || !w.Amount.Equal(money("10")) {
					t.Fatalf("warning %+v", w)
				}
				if f.s.Warnings[w.WarningID] == nil {
					t.Fatalf("warning %s not recorded", w.WarningID)
				}
			} else {
				if len(evs) != 1 || len(f.s.Warnings) != 0 {
					t.Fatalf("want no warning, got %d events and %d warnings", len(evs), len(f.s.Warnings))
				}
			}
			if tc.status != "" {
				after := *f.s.Payouts["P1"]
				if after.Status != tc.status || after.Status != before.Status || !after.Amount.Equal(before.Amount) || after.FundsHeld != before.FundsHeld {
					t.Fatalf("payout moved: %s/%s held %v, was %s/%s held %v", after.Status, after.Amount, after.FundsHeld, before.Status, before.Amount, before.FundsHeld)
				}
			}
			pinAccount(t, f, AccountProceeds, tc.balance, tc.held, money(tc.balance).Sub(money(tc.held)).String())
			f.replayEquals()
		})
	}
}
