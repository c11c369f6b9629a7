package domain

import (
	"fmt"
	"testing"
	"time"
)

// Tests of the Douyin rules (RULES.md "Douyin shop", seed
// douyin-small-payout.md), one test per rule ID, each with a blocking case
// (exact code, nothing changed) and a passing case at the boundary.

// dyTypes cycles through the payout types so that several payouts on one
// order do not trip dup.same_type unless a test means it to.
var dyTypes = []PayoutType{TypeShipping, TypePriceDifference, TypeService, TypeActivityCompensation, TypeOther}

func dyNth(i int) func(*InitiatePayout) { return rcType(dyTypes[i%len(dyTypes)]) }

// TestRuleDyOrderChannel pins dy.order.channel: only orders from the
// Douyin family of apps.
func TestRuleDyOrderChannel(t *testing.T) {
	for _, tc := range []struct {
		channel string
		want    string
	}{
		{"douyin", ""}, {"douyin_lite", ""}, {"douyin_volcano", ""}, {"douyin_search", ""},
		{"douyin_selected", ""}, {"douyin_mall", ""},
		{"toutiao", "dy.order.channel"}, {"", "dy.order.channel"}, {"Douyin", "dy.order.channel"},
	} {
		t.Run("channel="+tc.channel, func(t *testing.T) {
			f := newFixture(t, PlatformDouyin)
			f.order("O2", func(o *RegisterOrder) { o.Channel = tc.channel })
			cmd := rcPay(f, "P1", "O2", "10")
			if tc.want != "" {
				r := f.rejects(asMain, cmd, tc.want)
				if r.Details["channel"] != tc.channel {
					t.Fatalf("details %v", r.Details)
				}
			} else {
				f.must(asMain, cmd)
			}
			f.replayEquals()
		})
	}
}

// TestRuleDyOrderPaymentMode pins dy.order.payment_mode: online-paid only.
func TestRuleDyOrderPaymentMode(t *testing.T) {
	for _, tc := range []struct{ mode, want string }{
		{"online", ""}, {"cod", "dy.order.payment_mode"}, {"", "dy.order.payment_mode"},
	} {
		t.Run("mode="+tc.mode, func(t *testing.T) {
			f := newFixture(t, PlatformDouyin)
			f.order("O2", func(o *RegisterOrder) { o.PaymentMode = tc.mode })
			if tc.want != "" {
				f.rejects(asMain, rcPay(f, "P1", "O2", "10"), tc.want)
				// The order system corrects the order: then it passes.
				f.order("O2", nil)
			}
			f.must(asMain, rcPay(f, "P1", "O2", "10"))
			f.replayEquals()
		})
	}
}

// TestRuleDyOrderAge pins dy.order.age: orders placed within the last 12
// calendar months (in the shop's zone). Reading (initiate.go): an order
// exactly 12 months old is out; one second younger is in.
func TestRuleDyOrderAge(t *testing.T) {
	limit := t0.AddDate(0, -12, 0) // 2025-11-23 10:00 Shanghai
	// Across a leap day 12 calendar months are 366 days, not 365.
	leapNow := time.Date(2028, 3, 1, 10, 0, 0, 0, shanghai)
	leapLimit := time.Date(2027, 3, 1, 10, 0, 0, 0, shanghai)
	for _, tc := range []struct {
		name   string
		now    time.Time // zero: t0
		placed time.Time
		want   string
	}{
		{"leap year: exactly 12 months", leapNow, leapLimit, "dy.order.age"},
		{"leap year: one second younger (366 days)", leapNow, leapLimit.Add(time.Second), ""},
		{"exactly 12 months", time.Time{}, limit, "dy.order.age"},
		{"exactly 12 months, given in UTC", time.Time{}, limit.UTC(), "dy.order.age"},
		{"12 months and a second", time.Time{}, limit.Add(-time.Second), "dy.order.age"},
		{"one second younger", time.Time{}, limit.Add(time.Second), ""},
		{"yesterday", time.Time{}, t0.Add(-24 * time.Hour), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, PlatformDouyin)
			if !tc.now.IsZero() {
				f.at(tc.now)
			}
			f.order("O2", func(o *RegisterOrder) { o.PlacedAt = tc.placed; o.PaidAt = &tc.placed })
			cmd := rcPay(f, "P1", "O2", "10")
			if tc.want != "" {
				f.rejects(asMain, cmd, tc.want)
			} else {
				f.must(asMain, cmd)
			}
			f.replayEquals()
		})
	}
	t.Run("the same order ages out as the clock moves", func(t *testing.T) {
		f := newFixture(t, PlatformDouyin)
		placed := t0
		f.order("O2", func(o *RegisterOrder) { o.PlacedAt = placed })
		f.at(t0.AddDate(1, 0, 0).Add(-time.Second))
		f.must(asMain, rcPay(f, "P1", "O2", "10"))
		f.at(t0.AddDate(1, 0, 0))
		f.rejects(asMain, rcPay(f, "P2", "O2", "10", rcType(TypeService)), "dy.order.age")
		f.replayEquals()
	})
}

// TestRuleDyOrderCrossBorder pins dy.order.cross_border.
func TestRuleDyOrderCrossBorder(t *testing.T) {
	f := newFixture(t, PlatformDouyin)
	f.order("O2", func(o *RegisterOrder) { o.CrossBorder = true })
	f.rejects(asMain, rcPay(f, "P1", "O2", "10"), "dy.order.cross_border")
	f.must(asMain, rcPay(f, "P1", "O1", "10")) // a domestic order
	f.replayEquals()
}

// TestRuleDyShopStatus pins dy.shop.status: a suspended shop cannot pay
// out; back in normal operation it can.
func TestRuleDyShopStatus(t *testing.T) {
	f := newFixture(t, PlatformDouyin)
	f.must(asOperator, UpdateShopStanding{Ref: f.ref(), Status: ShopSuspended})
	f.rejects(asMain, f.payout("P1", "10", nil), "dy.shop.status")
	f.must(asOperator, UpdateShopStanding{Ref: f.ref(), Status: ShopNormal})
	f.must(asMain, f.payout("P1", "10", nil))
	f.rejects(asOperator, UpdateShopStanding{Ref: f.ref(), Status: "closed"}, CodeInputInvalid)
	f.replayEquals()
}

// dyShop is a Douyin shop registered with mod, with the proceeds account
// credited (unless noProceeds) and order O1 of 100.
func dyShop(t *testing.T, mod func(*RegisterShop), noProceeds bool) *fixture {
	t.Helper()
	f := rcBareShop(t, PlatformDouyin, mod)
	if !noProceeds {
		f.must(asMain, OpenFundingAccount{Ref: f.ref(), Kind: AccountProceeds})
		f.must(asOperator, CreditProceeds{Ref: f.ref(), Amount: money("1000")})
	}
	f.order("O1", nil)
	return f
}

// TestRuleDyShopPersonalAccount pins dy.shop.personal_account: a
// personal-qualification shop pays only from its steward (reserve)
// account; an enterprise shop may use proceeds.
func TestRuleDyShopPersonalAccount(t *testing.T) {
	personal := func(r *RegisterShop) { r.Qualification = "personal" }
	t.Run("personal shop", func(t *testing.T) {
		f := dyShop(t, personal, false)
		f.must(asMain, OpenFundingAccount{Ref: f.ref(), Kind: AccountReserve})
		f.must(asMain, TopUp{Ref: f.ref(), Kind: AccountReserve, Amount: money("50")})
		r := f.rejects(asMain, f.payout("P1", "10", nil), "dy.shop.personal_account") // default funding: proceeds
		if r.Details["funding"] != string(AccountProceeds) {
			t.Fatalf("details %v", r.Details)
		}
		f.rejects(asMain, f.payout("P1", "10", rcFunding(AccountProceeds)), "dy.shop.personal_account")
		f.must(asMain, f.payout("P1", "10", rcFunding(AccountReserve)))
		rcFunds(f, AccountReserve, "50", "10", "40")
		rcFunds(f, AccountProceeds, "1000", "0", "1000")
		f.replayEquals()
	})
	t.Run("personal shop without a reserve account", func(t *testing.T) {
		f := dyShop(t, personal, false)
		f.rejects(asMain, f.payout("P1", "10", rcFunding(AccountReserve)), "dy.funds.no_account")
		f.replayEquals()
	})
	t.Run("enterprise shop", func(t *testing.T) {
		f := dyShop(t, nil, false)
		f.must(asMain, f.payout("P1", "10", nil))
		rcFunds(f, AccountProceeds, "1000", "10", "990")
		f.replayEquals()
	})
}

// TestRuleDyOrderCap pins dy.order.cap, the per-order cumulative cap by
// order amount: <= 20 -> 20 (Reading: even above the amount paid);
// 20 < amount <= 500 -> the order amount; > 500 -> 500.
func TestRuleDyOrderCap(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cash, other string
		cap         string
		under       string // an amount below the cap, paid first (0: none)
	}{
		{"order 20 -> 20", "20", "0", "20", ""},
		{"order 15 -> 20 (reading)", "15", "0", "20", ""},
		{"order 0.01 -> 20 (reading)", "0.01", "0", "20", ""},
		{"order 20.01 -> 20.01", "20.01", "0", "20.01", ""},
		{"order 100 -> 100", "100", "0", "100", ""},
		{"order 500 -> 500", "500", "0", "500", ""},
		{"order 500.01 -> 500", "500.01", "0", "500", ""},
		{"order 800 -> 500", "800", "0", "500", ""},
		{"order amount counts other payments: 10 + 10 -> 20", "10", "10", "20", ""},
		{"order amount counts other payments: 300 + 100 -> 400", "300", "100", "400", ""},
		{"cumulative: order 15, 15 then 5", "15", "0", "20", "15"},
		{"cumulative: order 100, 60 then 40", "100", "0", "100", "60"},
		{"cumulative: order 800, 499.99 then 0.01", "800", "0", "500", "499.99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, PlatformDouyin)
			f.order("O2", rcCash(tc.cash, tc.other))
			used := money("0")
			if tc.under != "" {
				f.must(asMain, rcPay(f, "P0", "O2", tc.under, dyNth(1)))
				used = money(tc.under)
				f.advance(time.Minute)
			}
			rest := money(tc.cap).Sub(used)
			over := rest.Add(money("0.01"))
			r := f.rejects(asMain, rcPay(f, "P1", "O2", over.String()), "dy.order.cap")
			rcNums(t, r, tc.cap, used.String(), over.String())
			evs := f.must(asMain, rcPay(f, "P1", "O2", rest.String()))
			if got := evs[0].(PayoutInitiated).Checks; !dyHasCheck(got, "dy.order.cap", tc.cap, tc.cap) {
				t.Fatalf("checks %+v lack dy.order.cap at %s", got, tc.cap)
			}
			// Full: even a cent more, a minute later, is refused.
			f.advance(time.Minute)
			rcNums(t, f.rejects(asMain, rcPay(f, "P2", "O2", "0.01", dyNth(2)), "dy.order.cap"), tc.cap, tc.cap, "0.01")
			f.replayEquals()
		})
	}
	t.Run("a failed payout releases its share of the cap", func(t *testing.T) {
		f := newFixture(t, PlatformDouyin) // O1: 100
		f.must(asMain, f.payout("P1", "60", nil))
		f.advance(time.Minute)
		f.must(asMain, f.payout("P2", "40", dyNth(1)))
		f.advance(time.Minute)
		f.rejects(asMain, f.payout("P3", "0.01", dyNth(2)), "dy.order.cap")
		f.must(asOperator, MarkPayoutProcessing{Ref: f.ref(), PayoutID: "P1"})
		f.must(asOperator, MarkPayoutSucceeded{Ref: f.ref(), PayoutID: "P1"})
		f.rejects(asMain, f.payout("P3", "0.01", dyNth(2)), "dy.order.cap") // succeeded still counts
		f.must(asOperator, MarkPayoutFailed{Ref: f.ref(), PayoutID: "P2"})
		f.rejects(asMain, f.payout("P3", "40.01", dyNth(2)), "dy.order.cap")
		f.must(asMain, f.payout("P3", "40", dyNth(2)))
		f.replayEquals()
	})
}

func dyHasCheck(cs []Check, rule, limit, usedAfter string) bool {
	for _, c := range cs {
		if c.Rule == rule && c.Limit.Equal(money(limit)) && c.UsedAfter.Equal(money(usedAfter)) {
			return true
		}
	}
	return false
}

// TestRuleDyOrderCount pins dy.order.count: at most 5 counting payouts per
// order; a failed one is released and allows another; succeeded ones
// count.
func TestRuleDyOrderCount(t *testing.T) {
	f := newFixture(t, PlatformDouyin) // O1: 100, cap 100
	for i := 1; i <= 5; i++ {
		f.must(asMain, f.payout(fmt.Sprintf("P%d", i), "1", dyNth(i)))
		f.advance(time.Minute)
	}
	r := f.rejects(asMain, f.payout("P6", "1", dyNth(6)), "dy.order.count")
	rcNums(t, r, "5", "5", "1")
	if r.Unit != "count" {
		t.Fatalf("unit %q", r.Unit)
	}
	// Processing and succeeded payouts still count.
	f.must(asOperator, MarkPayoutProcessing{Ref: f.ref(), PayoutID: "P1"})
	f.must(asOperator, MarkPayoutSucceeded{Ref: f.ref(), PayoutID: "P1"})
	f.must(asOperator, MarkPayoutProcessing{Ref: f.ref(), PayoutID: "P2"})
	f.rejects(asMain, f.payout("P6", "1", dyNth(6)), "dy.order.count")
	// A failed one is released.
	f.must(asOperator, MarkPayoutFailed{Ref: f.ref(), PayoutID: "P2"})
	evs := f.must(asMain, f.payout("P6", "1", dyNth(2)))
	if !dyHasCheck(evs[0].(PayoutInitiated).Checks, "dy.order.count", "5", "5") {
		t.Fatalf("checks %+v", evs[0].(PayoutInitiated).Checks)
	}
	f.advance(time.Minute)
	rcNums(t, f.rejects(asMain, f.payout("P7", "1", dyNth(7)), "dy.order.count"), "5", "5", "1")
	// The count is per order.
	f.order("O2", nil)
	f.must(asMain, rcPay(f, "P7", "O2", "1"))
	f.replayEquals()

	t.Run("merchant-set lower count", func(t *testing.T) {
		f := newFixture(t, PlatformDouyin)
		f.must(asMain, SetShopLimits{Ref: f.ref(), Limits: Limits{PerOrderCount: intp(2)}})
		f.must(asMain, f.payout("P1", "1", dyNth(1)))
		f.advance(time.Minute)
		f.must(asMain, f.payout("P2", "1", dyNth(2)))
		f.advance(time.Minute)
		rcNums(t, f.rejects(asMain, f.payout("P3", "1", dyNth(3)), "dy.order.count"), "2", "2", "1")
		f.replayEquals()
	})
}

// TestRuleDyOrderRate pins dy.order.rate: at most one payout per order per
// minute; the 59th second is refused, the 60th accepted.
func TestRuleDyOrderRate(t *testing.T) {
	for _, tc := range []struct {
		after      time.Duration
		want       string
		retryAfter string
	}{
		{0, "dy.order.rate", "60"},
		{time.Second, "dy.order.rate", "59"},
		{59 * time.Second, "dy.order.rate", "1"},
		{time.Minute - time.Millisecond, "dy.order.rate", "1"},
		{time.Minute, "", ""},
		{time.Minute + time.Second, "", ""},
	} {
		t.Run(tc.after.String(), func(t *testing.T) {
			f := newFixture(t, PlatformDouyin)
			f.must(asMain, f.payout("P1", "10", nil))
			f.advance(tc.after)
			cmd := f.payout("P2", "10", dyNth(1))
			if tc.want != "" {
				r := f.rejects(asMain, cmd, tc.want)
				if r.Details["retry_after_seconds"] != tc.retryAfter {
					t.Fatalf("retry after %q, want %s", r.Details["retry_after_seconds"], tc.retryAfter)
				}
			} else {
				f.must(asMain, cmd)
			}
			f.replayEquals()
		})
	}
	t.Run("per order, against the latest payout", func(t *testing.T) {
		f := newFixture(t, PlatformDouyin)
		f.order("O2", nil)
		f.must(asMain, f.payout("P1", "10", nil))
		f.advance(time.Second)
		f.must(asMain, rcPay(f, "Q1", "O2", "10")) // another order is not limited
		f.advance(59 * time.Second)
		f.must(asMain, f.payout("P2", "10", dyNth(1))) // t0+60s
		f.advance(59 * time.Second)
		f.rejects(asMain, f.payout("P3", "10", dyNth(2)), "dy.order.rate") // 59 s after P2
		f.advance(time.Second)
		f.must(asMain, f.payout("P3", "10", dyNth(2)))
		f.replayEquals()
	})
	t.Run("a failed payout does not hold the minute", func(t *testing.T) {
		f := newFixture(t, PlatformDouyin)
		f.must(asMain, f.payout("P1", "10", nil))
		f.advance(10 * time.Second)
		f.must(asOperator, MarkPayoutFailed{Ref: f.ref(), PayoutID: "P1"})
		f.must(asMain, f.payout("P2", "10", nil))
		f.replayEquals()
	})
}

// dyFillDay pays 15000.00 in one local day from 30 orders of 500 (the
// per-order cap keeps each at 500): D01..D29 500 each, D30 499.99, X1 0.01.
func dyFillDay(f *fixture) {
	f.t.Helper()
	for i := 1; i <= 30; i++ {
		id := fmt.Sprintf("D%02d", i)
		f.order(id, rcCash("500", "0"))
		amt := "500"
		if i == 30 {
			amt = "499.99"
		}
		f.must(asMain, rcPay(f, id, id, amt))
	}
	f.order("X1", nil)
	evs := f.must(asMain, rcPay(f, "X1", "X1", "0.01")) // 15000.00 exactly
	if !dyHasCheck(evs[0].(PayoutInitiated).Checks, "dy.shop.daily_amount", "15000", "15000") {
		f.t.Fatalf("checks %+v", evs[0].(PayoutInitiated).Checks)
	}
}

// TestRuleDyShopDailyAmount pins dy.shop.daily_amount: the shop's counting
// payouts (pending, processing, succeeded) of one local day in
// Asia/Shanghai total at most 15000.00; a failed payout releases its
// amount; the next local day starts afresh at local midnight.
func TestRuleDyShopDailyAmount(t *testing.T) {
	f := newFixture(t, PlatformDouyin)
	dyFillDay(f)
	rcDay(f, t0, 31, "15000")
	f.order("X2", nil)
	r := f.rejects(asMain, rcPay(f, "X2", "X2", "0.01"), "dy.shop.daily_amount")
	rcNums(t, r, "15000", "15000", "0.01")
	if r.Details["day"] != "2026-11-23" {
		t.Fatalf("day %q", r.Details["day"])
	}
	rcFunds(f, AccountProceeds, "100000", "15000", "85000")

	// Processing and succeeded payouts keep counting.
	f.must(asOperator, MarkPayoutProcessing{Ref: f.ref(), PayoutID: "D01"})
	f.must(asOperator, MarkPayoutSucceeded{Ref: f.ref(), PayoutID: "D01"})
	f.must(asOperator, MarkPayoutProcessing{Ref: f.ref(), PayoutID: "D02"})
	f.rejects(asMain, rcPay(f, "X2", "X2", "0.01"), "dy.shop.daily_amount")
	rcDay(f, t0, 31, "15000")
	rcFunds(f, AccountProceeds, "99500", "14500", "85000")

	// A failed payout releases its amount (the counting rule): 500 free.
	f.must(asOperator, MarkPayoutFailed{Ref: f.ref(), PayoutID: "D02"})
	rcDay(f, t0, 30, "14500")
	f.order("X3", rcCash("500", "0"))
	f.must(asMain, rcPay(f, "X3", "X3", "499.99"))
	rcNums(t, f.rejects(asMain, rcPay(f, "X2", "X2", "0.02"), "dy.shop.daily_amount"), "15000", "14999.99", "0.02")
	f.order("X4", nil)
	f.must(asMain, rcPay(f, "X4", "X4", "0.01")) // 15000.00 again
	rcNums(t, f.rejects(asMain, rcPay(f, "X2", "X2", "0.01"), "dy.shop.daily_amount"), "15000", "15000", "0.01")
	rcDay(f, t0, 32, "15000")

	// 23:59:59 local (15:59:59 UTC) is still the same day.
	f.at(time.Date(2026, 11, 23, 15, 59, 59, 0, time.UTC))
	f.rejects(asMain, rcPay(f, "X2", "X2", "0.01"), "dy.shop.daily_amount")
	// Local midnight (16:00 UTC, still the 23rd in UTC) starts a new day.
	f.at(time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC))
	evs := f.must(asMain, rcPay(f, "X2", "X2", "0.01"))
	if got := evs[0].(PayoutInitiated).Day; got != "2026-11-24" {
		t.Fatalf("payout day %s, want 2026-11-24", got)
	}
	rcDay(f, f.now, 1, "0.01")
	rcDay(f, t0, 32, "15000")
	// A payout of the old day failing now releases the old day, not today.
	f.must(asOperator, MarkPayoutFailed{Ref: f.ref(), PayoutID: "D03"})
	rcDay(f, t0, 31, "14500")
	rcDay(f, f.now, 1, "0.01")
	f.replayEquals()

	t.Run("merchant-set lower daily amount", func(t *testing.T) {
		f := newFixture(t, PlatformDouyin)
		f.must(asMain, SetShopLimits{Ref: f.ref(), Limits: Limits{DailyAmount: moneyp("100")}})
		f.order("O2", nil)
		f.must(asMain, f.payout("P1", "60", nil))
		rcNums(t, f.rejects(asMain, rcPay(f, "P2", "O2", "40.01"), "dy.shop.daily_amount"), "100", "60", "40.01")
		f.must(asMain, rcPay(f, "P2", "O2", "40"))
		f.replayEquals()
	})
	t.Run("reserve and proceeds share the daily amount", func(t *testing.T) {
		f := newFixture(t, PlatformDouyin)
		f.must(asMain, SetShopLimits{Ref: f.ref(), Limits: Limits{DailyAmount: moneyp("100")}})
		f.order("O2", nil)
		f.must(asMain, f.payout("P1", "60", rcFunding(AccountReserve)))
		f.rejects(asMain, rcPay(f, "P2", "O2", "40.01"), "dy.shop.daily_amount")
		f.must(asMain, rcPay(f, "P2", "O2", "40"))
		f.replayEquals()
	})
}

// dyGrant grants the sub-account a quota (nil: unlimited).
func dyGrant(f *fixture, perPayout, perDay string) {
	f.t.Helper()
	g := GrantStaffQuota{Ref: f.ref(), Staff: subID}
	if perPayout != "" {
		g.PerPayout = moneyp(perPayout)
	}
	if perDay != "" {
		g.PerDay = moneyp(perDay)
	}
	f.must(asMain, g)
}

// TestRuleDyStaffPermission pins dy.staff.permission: only the main
// account, or a sub-account with a granted and enabled quota, pays out;
// only the main account manages quotas.
func TestRuleDyStaffPermission(t *testing.T) {
	f := newFixture(t, PlatformDouyin)
	for i := 1; i <= 4; i++ {
		f.order(fmt.Sprintf("O%d", i+1), nil)
	}
	r := f.rejects(asSub, f.payout("P1", "10", nil), "dy.staff.permission")
	if r.Details["reason"] != "no_quota" {
		t.Fatalf("details %v", r.Details)
	}
	f.must(asMain, f.payout("P1", "10", nil)) // the main account needs no quota

	// A sub-account cannot grant itself anything.
	f.rejects(asSub, GrantStaffQuota{Ref: f.ref(), Staff: subID}, "dy.staff.permission")
	dyGrant(f, "", "")
	f.must(asSub, rcPay(f, "P2", "O2", "10"))
	f.rejects(Actor{ID: "S2", Role: RoleSub}, rcPay(f, "P3", "O3", "10"), "dy.staff.permission") // another sub

	f.rejects(asSub, DisableStaffQuota{Ref: f.ref(), Staff: subID}, "dy.staff.permission")
	f.must(asMain, DisableStaffQuota{Ref: f.ref(), Staff: subID})
	f.rejects(asSub, rcPay(f, "P3", "O3", "10"), "dy.staff.permission")
	f.rejects(asSub, EnableStaffQuota{Ref: f.ref(), Staff: subID}, "dy.staff.permission")
	f.must(asMain, EnableStaffQuota{Ref: f.ref(), Staff: subID})
	f.must(asSub, rcPay(f, "P3", "O3", "10"))

	f.rejects(asSub, DeleteStaffQuota{Ref: f.ref(), Staff: subID}, "dy.staff.permission")
	f.must(asMain, DeleteStaffQuota{Ref: f.ref(), Staff: subID})
	f.rejects(asSub, rcPay(f, "P4", "O4", "10"), "dy.staff.permission")
	f.rejects(asMain, DeleteStaffQuota{Ref: f.ref(), Staff: subID}, CodeStaffUnknown)
	f.replayEquals()
}

// TestRuleDyStaffPerPayout pins dy.staff.per_payout: a sub-account's single
// payout is at most its per-payout quota.
func TestRuleDyStaffPerPayout(t *testing.T) {
	f := newFixture(t, PlatformDouyin)
	f.order("O2", nil)
	f.order("O3", nil)
	dyGrant(f, "50", "")
	r := f.rejects(asSub, f.payout("P1", "50.01", nil), "dy.staff.per_payout")
	rcNums(t, r, "50", "0", "50.01")
	f.must(asSub, f.payout("P1", "50", nil))
	f.must(asMain, rcPay(f, "P2", "O2", "80")) // the main account has no quota
	f.rejects(asSub, ChangeStaffQuota{Ref: f.ref(), Staff: subID, PerPayout: moneyp("60")}, "dy.staff.permission")
	f.must(asMain, ChangeStaffQuota{Ref: f.ref(), Staff: subID, PerPayout: moneyp("60")})
	f.must(asSub, rcPay(f, "P3", "O3", "50.01"))
	f.replayEquals()
}

// TestRuleDyStaffDaily pins dy.staff.daily: a sub-account's counting
// payouts of one local day total at most its daily quota; a failed payout
// releases its share; the next local day starts afresh.
func TestRuleDyStaffDaily(t *testing.T) {
	f := newFixture(t, PlatformDouyin)
	for i := 2; i <= 5; i++ {
		f.order(fmt.Sprintf("O%d", i), nil)
	}
	dyGrant(f, "", "100")
	f.must(asSub, rcPay(f, "P1", "O1", "60"))
	f.must(asMain, rcPay(f, "M1", "O5", "90")) // the main account's payouts are not the sub's
	r := f.rejects(asSub, rcPay(f, "P2", "O2", "40.01"), "dy.staff.daily")
	rcNums(t, r, "100", "60", "40.01")
	evs := f.must(asSub, rcPay(f, "P2", "O2", "40"))
	if !dyHasCheck(evs[0].(PayoutInitiated).Checks, "dy.staff.daily", "100", "100") {
		t.Fatalf("checks %+v", evs[0].(PayoutInitiated).Checks)
	}
	rcNums(t, f.rejects(asSub, rcPay(f, "P3", "O3", "0.01"), "dy.staff.daily"), "100", "100", "0.01")
	if got := f.s.StaffDayTotals(subID, "2026-11-23"); got.Count != 2 || !got.Amount.Equal(money("100")) {
		t.Fatalf("staff day %+v", got)
	}
	// A failed payout releases the quota.
	f.must(asOperator, MarkPayoutProcessing{Ref: f.ref(), PayoutID: "P2"})
	f.must(asOperator, MarkPayoutFailed{Ref: f.ref(), PayoutID: "P2"})
	f.rejects(asSub, rcPay(f, "P3", "O3", "40.01"), "dy.staff.daily")
	f.must(asSub, rcPay(f, "P3", "O3", "40"))
	// The next local day.
	f.at(time.Date(2026, 11, 24, 0, 0, 0, 0, shanghai))
	f.must(asSub, rcPay(f, "P4", "O4", "100"))
	f.replayEquals()
}

// TestRuleDyFundsInsufficient pins dy.funds.insufficient: the funding
// account's available balance (frozen funds and pending payouts excluded)
// covers the payout.
func TestRuleDyFundsInsufficient(t *testing.T) {
	f := newFixture(t, PlatformDouyin)
	f.order("O2", nil)
	f.order("O3", nil)
	// Seed FAQ 2: enough balance, but frozen.
	f.rejects(asOperator, FreezeFunds{Ref: f.ref(), Kind: AccountProceeds, Amount: money("100000.01")}, "dy.funds.insufficient")
	f.must(asOperator, FreezeFunds{Ref: f.ref(), Kind: AccountProceeds, Amount: money("99990")})
	rcFunds(f, AccountProceeds, "100000", "0", "10")
	r := f.rejects(asMain, f.payout("P1", "10.01", nil), "dy.funds.insufficient")
	rcNums(t, r, "10", "0", "10.01")
	if r.Details["funding"] != string(AccountProceeds) {
		t.Fatalf("details %v", r.Details)
	}
	f.must(asMain, f.payout("P1", "10", nil))
	rcFunds(f, AccountProceeds, "100000", "10", "0")
	// Held by the pending payout.
	rcNums(t, f.rejects(asMain, rcPay(f, "P2", "O2", "0.01"), "dy.funds.insufficient"), "0", "0", "0.01")
	// The reserve account is separate.
	f.must(asMain, rcPay(f, "P2", "O2", "0.01", rcFunding(AccountReserve)))
	rcFunds(f, AccountReserve, "1000", "0.01", "999.99")
	// A failure releases the hold.
	f.must(asOperator, MarkPayoutFailed{Ref: f.ref(), PayoutID: "P1"})
	rcFunds(f, AccountProceeds, "100000", "0", "10")
	// Unfrozen, it is available again.
	f.must(asOperator, UnfreezeFunds{Ref: f.ref(), Kind: AccountProceeds, Amount: money("99990")})
	f.must(asMain, rcPay(f, "P3", "O3", "100"))
	rcFunds(f, AccountProceeds, "100000", "100", "99900")
	f.replayEquals()

	t.Run("reserve: a top-up covers the payout", func(t *testing.T) {
		f := dyShop(t, nil, false)
		f.must(asMain, OpenFundingAccount{Ref: f.ref(), Kind: AccountReserve})
		f.must(asMain, TopUp{Ref: f.ref(), Kind: AccountReserve, Amount: money("5")})
		rcNums(t, f.rejects(asMain, f.payout("P1", "5.01", rcFunding(AccountReserve)), "dy.funds.insufficient"), "5", "0", "5.01")
		f.must(asMain, TopUp{Ref: f.ref(), Kind: AccountReserve, Amount: money("0.01")})
		f.must(asMain, f.payout("P1", "5.01", rcFunding(AccountReserve)))
		rcFunds(f, AccountReserve, "5.01", "5.01", "0")
		f.replayEquals()
	})
}

// TestRuleDyFundsNoAccount pins dy.funds.no_account: the chosen funding
// account must be opened.
func TestRuleDyFundsNoAccount(t *testing.T) {
	t.Run("no steward account", func(t *testing.T) {
		f := dyShop(t, nil, false)
		r := f.rejects(asMain, f.payout("P1", "10", rcFunding(AccountReserve)), "dy.funds.no_account")
		if r.Details["kind"] != string(AccountReserve) {
			t.Fatalf("details %v", r.Details)
		}
		f.rejects(asMain, TopUp{Ref: f.ref(), Kind: AccountReserve, Amount: money("10")}, "dy.funds.no_account")
		f.must(asMain, OpenFundingAccount{Ref: f.ref(), Kind: AccountReserve})
		f.must(asMain, TopUp{Ref: f.ref(), Kind: AccountReserve, Amount: money("10")})
		f.must(asMain, f.payout("P1", "10", rcFunding(AccountReserve)))
		f.replayEquals()
	})
	t.Run("no aggregate account", func(t *testing.T) {
		f := dyShop(t, nil, true)
		f.rejects(asMain, f.payout("P1", "10", nil), "dy.funds.no_account")
		f.rejects(asOperator, CreditProceeds{Ref: f.ref(), Amount: money("10")}, "dy.funds.no_account")
		f.must(asMain, OpenFundingAccount{Ref: f.ref(), Kind: AccountProceeds})
		f.must(asOperator, CreditProceeds{Ref: f.ref(), Amount: money("10")})
		f.must(asMain, f.payout("P1", "10", nil))
		f.replayEquals()
	})
}

// TestRuleDyLifecycle pins dy.lifecycle: pending -> processing ->
// succeeded or failed; a pending payout cannot succeed directly; a failed
// payout is initiated again as a new payout on the same order.
func TestRuleDyLifecycle(t *testing.T) {
	f := newFixture(t, PlatformDouyin)
	evs := f.must(asMain, f.payout("P1", "10", nil))
	if e := evs[0].(PayoutInitiated); e.Status != StatusPending || e.Route != RouteDirect || !e.HoldsFunds {
		t.Fatalf("initiated %+v", e)
	}
	rcFunds(f, AccountProceeds, "100000", "10", "99990")
	f.rejects(asOperator, MarkPayoutSucceeded{Ref: f.ref(), PayoutID: "P1"}, "dy.lifecycle")
	rcStatus(f, "P1", StatusPending)
	f.must(asOperator, MarkPayoutProcessing{Ref: f.ref(), PayoutID: "P1"})
	rcFunds(f, AccountProceeds, "100000", "10", "99990")
	f.must(asOperator, MarkPayoutSucceeded{Ref: f.ref(), PayoutID: "P1"})
	rcStatus(f, "P1", StatusSucceeded)
	rcFunds(f, AccountProceeds, "99990", "0", "99990") // the money left
	rcDay(f, t0, 1, "10")                              // and still counts

	// Failure from pending and from processing releases the hold.
	f.advance(time.Minute)
	f.must(asMain, f.payout("P2", "20", dyNth(1)))
	rcFunds(f, AccountProceeds, "99990", "20", "99970")
	f.must(asOperator, MarkPayoutFailed{Ref: f.ref(), PayoutID: "P2", Reason: "bank"})
	rcStatus(f, "P2", StatusFailed)
	rcFunds(f, AccountProceeds, "99990", "0", "99990")
	rcDay(f, t0, 1, "10")

	// Seed FAQ 4: initiate again, as a new payout (new ID) on the order.
	f.rejects(asMain, f.payout("P2", "20", dyNth(1)), CodePayoutExists)
	f.must(asMain, f.payout("P3", "20", dyNth(1)))
	f.must(asOperator, MarkPayoutProcessing{Ref: f.ref(), PayoutID: "P3"})
	f.must(asOperator, MarkPayoutFailed{Ref: f.ref(), PayoutID: "P3"})
	rcFunds(f, AccountProceeds, "99990", "0", "99990")
	f.rejects(asOperator, MarkPayoutProcessing{Ref: f.ref(), PayoutID: "P3"}, CodeIllegalTransition)
	f.must(asMain, f.payout("P4", "20", dyNth(1)))
	if got := f.s.Orders["O1"].Payouts; len(got) != 4 {
		t.Fatalf("order payouts %v", got)
	}
	rcDay(f, t0, 2, "30")
	f.replayEquals()
}
