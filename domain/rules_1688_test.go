package domain

import (
	"fmt"
	"testing"
	"time"
)

// Tests of the 1688 rules (RULES.md "Alibaba 1688 wholesale", seed
// 1688-small-payout.md), one test per rule ID, each with a blocking case
// (exact code, nothing changed) and a passing case at the boundary. A 1688
// payout waits for the buyer's confirmation (1688.confirm.window), so the
// payouts here are awaiting_confirmation unless a test moves them on.

// a16Shop is an enrolled 1688 shop whose reserve account holds topUp
// (none if ""), with order O1 of 100.00 cash.
func a16Shop(t *testing.T, topUp string) *fixture {
	t.Helper()
	f := rcBareShop(t, Platform1688, nil)
	f.must(asMain, OpenFundingAccount{Ref: f.ref(), Kind: AccountReserve})
	if topUp != "" {
		f.must(asMain, TopUp{Ref: f.ref(), Kind: AccountReserve, Amount: money(topUp)})
	}
	f.must(asMain, EnrollShop{Ref: f.ref(), AcceptAgreement: true})
	f.order("O1", nil)
	return f
}

// TestRule1688EnrollAgreement pins 1688.enroll.agreement: no payout until
// the main account accepts the withholding agreement; the tool can be
// switched off, and then there is no new payout until it is enabled again.
func TestRule1688EnrollAgreement(t *testing.T) {
	f := rcBareShop(t, Platform1688, nil)
	f.must(asMain, OpenFundingAccount{Ref: f.ref(), Kind: AccountReserve})
	f.must(asMain, TopUp{Ref: f.ref(), Kind: AccountReserve, Amount: money("1000")})
	f.order("O1", nil)
	f.order("O2", nil)
	if f.s.ToolEnabled {
		t.Fatal("a 1688 shop starts with the tool enabled")
	}
	f.rejects(asMain, f.payout("P1", "10", nil), "1688.enroll.agreement")
	f.rejects(asMain, EnrollShop{Ref: f.ref(), AcceptAgreement: false}, "1688.enroll.agreement")
	f.rejects(asSub, EnrollShop{Ref: f.ref(), AcceptAgreement: true}, "1688.enroll.agreement") // main account only
	f.rejects(asMain, f.payout("P1", "10", nil), "1688.enroll.agreement")
	evs := f.must(asMain, EnrollShop{Ref: f.ref(), AcceptAgreement: true, Limits: Limits{DailyAmount: moneyp("3000")}})
	if e := evs[0].(ShopEnrolled); e.By != mainID || e.Limits.DailyAmount == nil || !e.Limits.DailyAmount.Equal(money("3000")) {
		t.Fatalf("enrolled %+v", e)
	}
	f.must(asMain, f.payout("P1", "10", nil))

	// Switched off: no new payout; the open one goes on.
	f.must(asMain, DisableTool{Ref: f.ref(), Reason: "pause"})
	f.rejects(asMain, rcPay(f, "P2", "O2", "10"), "1688.enroll.agreement")
	f.must(asOperator, ConfirmByBuyer{Ref: f.ref(), PayoutID: "P1"})
	f.must(asMain, EnrollShop{Ref: f.ref(), AcceptAgreement: true})
	f.must(asMain, rcPay(f, "P2", "O2", "10"))
	f.replayEquals()
}

// TestRule1688OrderStatus pins 1688.order.status: only paid orders whose
// trade is not completed. Reading (profiles.go): paid, shipped and
// received are "paid, not completed".
func TestRule1688OrderStatus(t *testing.T) {
	for _, tc := range []struct {
		status OrderStatus
		want   string
	}{
		{OrderPaid, ""}, {OrderShipped, ""}, {OrderReceived, ""},
		{OrderUnpaid, "1688.order.status"}, {OrderCompleted, "1688.order.status"},
		{OrderLocked, "1688.order.status"}, {OrderCancelling, "1688.order.status"},
		{OrderCancelled, "1688.order.status"}, {OrderClosed, "1688.order.status"},
	} {
		t.Run(string(tc.status), func(t *testing.T) {
			f := newFixture(t, Platform1688)
			f.order("O2", func(o *RegisterOrder) { o.Status = tc.status })
			cmd := rcPay(f, "P1", "O2", "10")
			if tc.want != "" {
				r := f.rejects(asMain, cmd, tc.want)
				if r.Details["status"] != string(tc.status) {
					t.Fatalf("details %v", r.Details)
				}
			} else {
				f.must(asMain, cmd)
			}
			f.replayEquals()
		})
	}
	t.Run("completed after the payout", func(t *testing.T) {
		f := newFixture(t, Platform1688)
		f.must(asMain, f.payout("P1", "10", nil))
		f.order("O1", func(o *RegisterOrder) { o.Status = OrderCompleted })
		// The payout already made is kept; the buyer can still confirm it.
		f.must(asOperator, ConfirmByBuyer{Ref: f.ref(), PayoutID: "P1"})
		f.replayEquals()
	})
}

// TestRule1688OrderPaymentKind pins 1688.order.payment_kind: not for
// consignment split, deferred-term or credit orders.
func TestRule1688OrderPaymentKind(t *testing.T) {
	for _, tc := range []struct{ kind, want string }{
		{"normal", ""}, {"", ""},
		{"consignment_split", "1688.order.payment_kind"},
		{"deferred_term", "1688.order.payment_kind"},
		{"credit", "1688.order.payment_kind"},
	} {
		t.Run("kind="+tc.kind, func(t *testing.T) {
			f := newFixture(t, Platform1688)
			f.order("O2", func(o *RegisterOrder) { o.PaymentKind = tc.kind })
			cmd := rcPay(f, "P1", "O2", "10")
			if tc.want != "" {
				r := f.rejects(asMain, cmd, tc.want)
				if r.Details["payment_kind"] != tc.kind {
					t.Fatalf("details %v", r.Details)
				}
			} else {
				f.must(asMain, cmd)
			}
			f.replayEquals()
		})
	}
}

// TestRule1688OrderCount pins 1688.order.count: one payout per order,
// ever; an expired (closed) one is still the one. Reading: a payout
// rejected before creation does not count.
func TestRule1688OrderCount(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first func(f *fixture) // what becomes of P1
	}{
		{"awaiting confirmation", func(*fixture) {}},
		{"confirmed", func(f *fixture) { f.must(asOperator, ConfirmByBuyer{Ref: f.ref(), PayoutID: "P1"}) }},
		{"expired", func(f *fixture) {
			f.advance(72 * time.Hour)
			f.must(asSystem, ExpireCard{Ref: f.ref(), ID: "P1"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Platform1688)
			// Rejected before creation: does not count.
			f.rejects(asMain, f.payout("P1", "50.01", nil), "1688.payout.half_cash")
			evs := f.must(asMain, f.payout("P1", "10", nil))
			if !dyHasCheck(evs[0].(PayoutInitiated).Checks, "1688.order.count", "1", "1") {
				t.Fatalf("checks %+v", evs[0].(PayoutInitiated).Checks)
			}
			tc.first(f)
			for _, typ := range []PayoutType{TypeShipping, TypePriceDifference} {
				r := f.rejects(asMain, f.payout("P2", "10", func(c *InitiatePayout) { c.Type = typ; c.AcknowledgeDuplicate = true }), "1688.order.count")
				rcNums(t, r, "1", "1", "1")
			}
			// Another order has its own one.
			f.order("O2", nil)
			f.must(asMain, rcPay(f, "P2", "O2", "10"))
			f.replayEquals()
		})
	}
}

// TestRule1688PayoutHalfCash pins 1688.payout.half_cash: one payout at
// most 50% of the cash paid (seed: 100 = 90 cash + 10 red packet -> 45).
func TestRule1688PayoutHalfCash(t *testing.T) {
	for _, tc := range []struct {
		name, cash, other, max, over string
	}{
		{"90 cash + 10 red packet", "90", "10", "45", "45.01"},
		{"100 cash", "100", "0", "50", "50.01"},
		{"odd cent: 0.03 cash", "0.03", "0", "0.01", "0.02"}, // 0.015 truncated to the cent: 0.01 fits, 0.02 does not
		{"all red packet", "0", "100", "0", "0.01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Platform1688)
			f.order("O2", rcCash(tc.cash, tc.other))
			r := f.rejects(asMain, rcPay(f, "P1", "O2", tc.over), "1688.payout.half_cash")
			rcNums(t, r, "", "0", tc.over)
			// The reported limit is the largest payable amount: half the cash,
			// truncated to the cent.
			if lim := money(tc.cash).Div(money("2")).Truncate(2); !r.Limit.Equal(lim) {
				t.Fatalf("limit %s, want %s", r.Limit, lim)
			}
			if money(tc.max).IsPositive() {
				f.must(asMain, rcPay(f, "P1", "O2", tc.max))
				rcFunds(f, AccountReserve, "100000", tc.max, money("100000").Sub(money(tc.max)).String())
			}
			f.replayEquals()
		})
	}
}

// TestRule1688PayoutOrderMax pins 1688.payout.order_max: at most 1000 per
// order (system ceiling); the merchant may set it lower.
func TestRule1688PayoutOrderMax(t *testing.T) {
	t.Run("ceiling 1000", func(t *testing.T) {
		f := newFixture(t, Platform1688)
		f.order("O2", rcCash("2002", "0")) // half cash 1001: order_max binds first
		f.order("O3", rcCash("2002", "0"))
		rcNums(t, f.rejects(asMain, rcPay(f, "P1", "O2", "1000.01"), "1688.payout.order_max"), "1000", "0", "1000.01")
		f.must(asMain, rcPay(f, "P1", "O3", "1000"))
		f.replayEquals()
	})
	t.Run("merchant-set 20", func(t *testing.T) {
		f := newFixture(t, Platform1688)
		f.must(asMain, SetShopLimits{Ref: f.ref(), Limits: Limits{PerOrderMax: moneyp("20")}})
		rcNums(t, f.rejects(asMain, f.payout("P1", "20.01", nil), "1688.payout.order_max"), "20", "0", "20.01")
		f.must(asMain, f.payout("P1", "20", nil))
		f.replayEquals()
	})
}

// TestRule1688ShopDailyCount pins 1688.shop.daily_count: at most 1000
// payouts per shop per local day (ceiling), or the merchant's lower limit.
func TestRule1688ShopDailyCount(t *testing.T) {
	if got := *profile1688().Ceilings.DailyCount; got != 1000 {
		t.Fatalf("1688 daily count ceiling %d, want 1000", got)
	}
	t.Run("merchant-set 2", func(t *testing.T) {
		f := newFixture(t, Platform1688)
		f.must(asMain, SetShopLimits{Ref: f.ref(), Limits: Limits{DailyCount: intp(2)}})
		for _, id := range []string{"O2", "O3", "O4"} {
			f.order(id, nil)
		}
		f.must(asMain, rcPay(f, "P1", "O1", "10"))
		evs := f.must(asMain, rcPay(f, "P2", "O2", "10"))
		if !dyHasCheck(evs[0].(PayoutInitiated).Checks, "1688.shop.daily_count", "2", "2") {
			t.Fatalf("checks %+v", evs[0].(PayoutInitiated).Checks)
		}
		r := f.rejects(asMain, rcPay(f, "P3", "O3", "10"), "1688.shop.daily_count")
		rcNums(t, r, "2", "2", "1")
		// A confirmed payout still counts.
		f.must(asOperator, ConfirmByBuyer{Ref: f.ref(), PayoutID: "P1"})
		f.rejects(asMain, rcPay(f, "P3", "O3", "10"), "1688.shop.daily_count")
		// 23:59:59 local is the same day; local midnight is a new one.
		f.at(time.Date(2026, 11, 23, 23, 59, 59, 0, shanghai))
		f.rejects(asMain, rcPay(f, "P3", "O3", "10"), "1688.shop.daily_count")
		f.at(time.Date(2026, 11, 24, 0, 0, 0, 0, shanghai))
		f.must(asMain, rcPay(f, "P3", "O3", "10"))
		f.must(asMain, rcPay(f, "P4", "O4", "10"))
		rcDay(f, f.now, 2, "20")
		f.replayEquals()
	})
	t.Run("ceiling 1000", func(t *testing.T) {
		f := newFixture(t, Platform1688)
		for i := 1; i <= 1000; i++ {
			id := fmt.Sprintf("C%04d", i)
			f.order(id, nil)
			f.must(asMain, rcPay(f, id, id, "0.01"))
		}
		rcDay(f, t0, 1000, "10")
		r := f.rejects(asMain, f.payout("P1", "0.01", nil), "1688.shop.daily_count")
		rcNums(t, r, "1000", "1000", "1")
		// An expired card releases its place in its day (the counting rule),
		// while the order keeps its one payout.
		f.at(t0.Add(72 * time.Hour))
		f.must(asSystem, ExpireCard{Ref: f.ref(), ID: "C0001"})
		rcDay(f, t0, 999, "9.99")
		f.rejects(asMain, rcPay(f, "X", "C0001", "0.01"), "1688.order.count")
		f.replayEquals()
	})
}

// TestRule1688ShopDailyAmount pins 1688.shop.daily_amount: at most 5000 a
// local day per shop (ceiling), or the merchant's lower limit.
func TestRule1688ShopDailyAmount(t *testing.T) {
	t.Run("ceiling 5000", func(t *testing.T) {
		f := newFixture(t, Platform1688)
		for i := 1; i <= 5; i++ {
			id := fmt.Sprintf("B%d", i)
			f.order(id, rcCash("2000", "0"))
			f.must(asMain, rcPay(f, id, id, "1000"))
		}
		f.order("B6", rcCash("2000", "0"))
		r := f.rejects(asMain, rcPay(f, "B6", "B6", "0.01"), "1688.shop.daily_amount")
		rcNums(t, r, "5000", "5000", "0.01")
		rcFunds(f, AccountReserve, "100000", "5000", "95000")
		// Confirmed payouts still count; the money left the reserve.
		f.must(asOperator, ConfirmByBuyer{Ref: f.ref(), PayoutID: "B1"})
		rcFunds(f, AccountReserve, "99000", "4000", "95000")
		f.rejects(asMain, rcPay(f, "B6", "B6", "0.01"), "1688.shop.daily_amount")
		f.at(time.Date(2026, 11, 24, 0, 0, 0, 0, shanghai))
		f.must(asMain, rcPay(f, "B6", "B6", "1000"))
		f.replayEquals()
	})
	t.Run("merchant-set 100", func(t *testing.T) {
		f := newFixture(t, Platform1688)
		f.must(asMain, SetShopLimits{Ref: f.ref(), Limits: Limits{DailyAmount: moneyp("100")}})
		f.order("O2", rcCash("200", "0")) // half cash 100: the daily amount binds first
		f.order("O3", rcCash("200", "0"))
		f.must(asMain, rcPay(f, "P1", "O1", "50"))
		rcNums(t, f.rejects(asMain, rcPay(f, "P2", "O2", "50.01"), "1688.shop.daily_amount"), "100", "50", "50.01")
		f.must(asMain, rcPay(f, "P2", "O2", "50"))
		rcNums(t, f.rejects(asMain, rcPay(f, "P3", "O3", "0.01"), "1688.shop.daily_amount"), "100", "100", "0.01")
		f.replayEquals()
	})
}

// TestRule1688FundsInsufficient pins 1688.funds.insufficient: the reserve
// balance (less what open payouts hold) covers the payout; the merchant
// tops up. Without a reserve account the same code applies.
func TestRule1688FundsInsufficient(t *testing.T) {
	t.Run("top up", func(t *testing.T) {
		f := a16Shop(t, "50")
		f.order("O1", rcCash("90", "10"))
		f.order("O2", nil)
		f.order("O3", nil)
		f.must(asMain, f.payout("P1", "45", nil))
		rcFunds(f, AccountReserve, "50", "45", "5")
		r := f.rejects(asMain, rcPay(f, "P2", "O2", "5.01"), "1688.funds.insufficient")
		rcNums(t, r, "5", "0", "5.01")
		if r.Details["funding"] != string(AccountReserve) {
			t.Fatalf("details %v", r.Details)
		}
		f.must(asMain, rcPay(f, "P2", "O2", "5"))
		rcFunds(f, AccountReserve, "50", "50", "0")
		rcNums(t, f.rejects(asMain, rcPay(f, "P3", "O3", "0.01"), "1688.funds.insufficient"), "0", "0", "0.01")
		f.must(asMain, TopUp{Ref: f.ref(), Kind: AccountReserve, Amount: money("0.01")})
		f.must(asMain, rcPay(f, "P3", "O3", "0.01"))
		rcFunds(f, AccountReserve, "50.01", "50.01", "0")
		f.replayEquals()
	})
	t.Run("an expired card gives the hold back", func(t *testing.T) {
		f := a16Shop(t, "45")
		f.order("O1", rcCash("90", "10"))
		f.order("O2", nil)
		f.must(asMain, f.payout("P1", "45", nil))
		f.rejects(asMain, rcPay(f, "P2", "O2", "0.01"), "1688.funds.insufficient")
		f.advance(72 * time.Hour)
		f.must(asSystem, ExpireCard{Ref: f.ref(), ID: "P1"})
		rcFunds(f, AccountReserve, "45", "0", "45")
		f.must(asMain, rcPay(f, "P2", "O2", "45"))
		f.replayEquals()
	})
	t.Run("frozen funds are not available", func(t *testing.T) {
		f := a16Shop(t, "100")
		f.must(asOperator, FreezeFunds{Ref: f.ref(), Kind: AccountReserve, Amount: money("90")})
		rcNums(t, f.rejects(asMain, f.payout("P1", "10.01", nil), "1688.funds.insufficient"), "10", "0", "10.01")
		f.must(asMain, f.payout("P1", "10", nil))
		f.replayEquals()
	})
	t.Run("no reserve account", func(t *testing.T) {
		f := rcBareShop(t, Platform1688, nil)
		f.must(asMain, EnrollShop{Ref: f.ref(), AcceptAgreement: true})
		f.order("O1", nil)
		f.rejects(asMain, f.payout("P1", "10", nil), "1688.funds.insufficient")
		f.must(asMain, OpenFundingAccount{Ref: f.ref(), Kind: AccountReserve})
		f.rejects(asMain, f.payout("P1", "10", nil), "1688.funds.insufficient") // opened, empty
		f.must(asMain, TopUp{Ref: f.ref(), Kind: AccountReserve, Amount: money("10")})
		f.must(asMain, f.payout("P1", "10", nil))
		f.replayEquals()
	})
}

// TestRule1688ConfirmWindow pins 1688.confirm.window: the buyer confirms
// within 3 days (72 h, strictly before); at 72 h the card expires
// (ExpireCard), closing the payout and releasing its hold and daily
// totals, while 1688.order.count still counts it.
func TestRule1688ConfirmWindow(t *testing.T) {
	const window = 72 * time.Hour
	for _, tc := range []struct {
		name  string
		at    time.Duration
		actor Actor
		cmd   func(f *fixture) Command
		want  string
	}{
		{"confirm at 72h-1s", window - time.Second, asOperator, func(f *fixture) Command { return ConfirmByBuyer{Ref: f.ref(), PayoutID: "P1"} }, ""},
		{"confirm at 72h", window, asOperator, func(f *fixture) Command { return ConfirmByBuyer{Ref: f.ref(), PayoutID: "P1"} }, "1688.confirm.window"},
		{"confirm at 73h", window + time.Hour, asOperator, func(f *fixture) Command { return ConfirmByBuyer{Ref: f.ref(), PayoutID: "P1"} }, "1688.confirm.window"},
		{"expire at 72h-1s", window - time.Second, asSystem, func(f *fixture) Command { return ExpireCard{Ref: f.ref(), ID: "P1"} }, "1688.confirm.window"},
		{"expire at once", 0, asSystem, func(f *fixture) Command { return ExpireCard{Ref: f.ref(), ID: "P1"} }, "1688.confirm.window"},
		{"expire at 72h", window, asSystem, func(f *fixture) Command { return ExpireCard{Ref: f.ref(), ID: "P1"} }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Platform1688)
			evs := f.must(asMain, f.payout("P1", "45", nil))
			e := evs[0].(PayoutInitiated)
			if e.Status != StatusAwaitingConfirmation || e.Route != RouteConfirmation || e.DeadlineAt == nil || !e.DeadlineAt.Equal(t0.Add(window)) {
				t.Fatalf("initiated %+v", e)
			}
			rcFunds(f, AccountReserve, "100000", "45", "99955")
			rcDay(f, t0, 1, "45")
			f.advance(tc.at)
			if tc.want != "" {
				f.rejects(tc.actor, tc.cmd(f), tc.want)
				rcStatus(f, "P1", StatusAwaitingConfirmation)
				rcFunds(f, AccountReserve, "100000", "45", "99955")
				f.replayEquals()
				return
			}
			f.must(tc.actor, tc.cmd(f))
			switch tc.cmd(f).(type) {
			case ConfirmByBuyer:
				rcStatus(f, "P1", StatusSucceeded)
				rcFunds(f, AccountReserve, "99955", "0", "99955") // paid out
				rcDay(f, t0, 1, "45")                             // still counts
				f.rejects(asSystem, ExpireCard{Ref: f.ref(), ID: "P1"}, CodeIllegalTransition)
			case ExpireCard:
				rcStatus(f, "P1", StatusExpired)
				rcFunds(f, AccountReserve, "100000", "0", "100000") // hold released
				rcDay(f, t0, 0, "0")                                // daily totals released
				f.rejects(asOperator, ConfirmByBuyer{Ref: f.ref(), PayoutID: "P1"}, CodeIllegalTransition)
				// "One payout per order, ever": the expired one is still the one.
				rcNums(t, f.rejects(asMain, f.payout("P2", "45", nil), "1688.order.count"), "1", "1", "1")
			}
			f.replayEquals()
		})
	}
}

// TestRule1688StaffPermission pins 1688.staff.permission: a sub-account
// pays out only with the permission granted by the main account (no
// per-payout password: no SMS flag needed); only the main account grants.
func TestRule1688StaffPermission(t *testing.T) {
	f := newFixture(t, Platform1688)
	f.order("O2", nil)
	f.order("O3", nil)
	noSMS := func(c *InitiatePayout) { c.SMSVerified = false }
	r := f.rejects(asSub, f.payout("P1", "10", noSMS), "1688.staff.permission")
	if r.Details["reason"] != "no_quota" {
		t.Fatalf("details %v", r.Details)
	}
	f.rejects(asSub, GrantStaffQuota{Ref: f.ref(), Staff: subID}, "1688.staff.permission")
	f.must(asMain, GrantStaffQuota{Ref: f.ref(), Staff: subID})
	evs := f.must(asSub, f.payout("P1", "10", noSMS))
	if e := evs[0].(PayoutInitiated); e.Staff != subID || e.StaffRole != RoleSub {
		t.Fatalf("initiated %+v", e)
	}
	f.rejects(asSub, DisableStaffQuota{Ref: f.ref(), Staff: subID}, "1688.staff.permission")
	f.must(asMain, DisableStaffQuota{Ref: f.ref(), Staff: subID})
	f.rejects(asSub, rcPay(f, "P2", "O2", "10", noSMS), "1688.staff.permission")
	f.must(asMain, EnableStaffQuota{Ref: f.ref(), Staff: subID})
	f.must(asSub, rcPay(f, "P2", "O2", "10", noSMS))
	f.must(asMain, DeleteStaffQuota{Ref: f.ref(), Staff: subID})
	f.rejects(asSub, rcPay(f, "P3", "O3", "10", noSMS), "1688.staff.permission")
	f.must(asMain, rcPay(f, "P3", "O3", "10", noSMS)) // the main account needs no grant
	f.replayEquals()
}
