package domain

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// Tests of the rules that belong to no single platform (RULES.md "Money",
// "Common model", "Duplicate compensation") and of the generic codes of
// rejection.go. Each test is named after the rule it pins; each rule has a
// case where it blocks (exact code, nothing changed: f.rejects) and a case
// at its boundary where it passes.
//
// Helpers shared by rules_common_test.go, rules_1688_test.go and
// rules_douyin_test.go carry the prefix "rc".

// rcBareShop is a registered shop of the platform and nothing else: no
// account, no enrollment, no order. mod adjusts the registration.
func rcBareShop(t *testing.T, platform PlatformID, mod func(*RegisterShop)) *fixture {
	t.Helper()
	f := &fixture{t: t, s: NewShop(ShopRef{Platform: platform, ShopID: "shop1"}), now: t0}
	reg := RegisterShop{Ref: f.ref(), Name: "bare shop", MainAccount: mainID}
	if mod != nil {
		mod(&reg)
	}
	f.must(asOperator, reg)
	return f
}

// rcPay is a valid payout of amount on an order; mods adjust it.
func rcPay(f *fixture, id, order, amount string, mods ...func(*InitiatePayout)) InitiatePayout {
	return f.payout(id, amount, func(c *InitiatePayout) {
		c.OrderID = order
		for _, m := range mods {
			m(c)
		}
	})
}

// rcType sets the payout type.
func rcType(t PayoutType) func(*InitiatePayout) {
	return func(c *InitiatePayout) { c.Type = t }
}

// rcAck acknowledges a duplicate of the same type.
func rcAck(c *InitiatePayout) { c.AcknowledgeDuplicate = true }

// rcFunding chooses the funding account.
func rcFunding(k AccountKind) func(*InitiatePayout) {
	return func(c *InitiatePayout) { c.Funding = k }
}

// rcCash sets an order's cash and other payments.
func rcCash(cash, other string) func(*RegisterOrder) {
	return func(o *RegisterOrder) { o.CashPaid, o.OtherPaid = money(cash), money(other) }
}

// rcNums asserts the numbers a rejection reports ("" skips one).
func rcNums(t *testing.T, r *Rejection, limit, used, requested string) {
	t.Helper()
	for _, x := range []struct {
		name string
		got  *decimal.Decimal
		want string
	}{{"Limit", r.Limit, limit}, {"Used", r.Used, used}, {"Requested", r.Requested, requested}} {
		if x.want == "" {
			continue
		}
		if x.got == nil {
			t.Fatalf("%s: %s is nil, want %s", r.Code, x.name, x.want)
		}
		if !x.got.Equal(money(x.want)) {
			t.Fatalf("%s: %s = %s, want %s", r.Code, x.name, x.got, x.want)
		}
	}
}

// rcFunds asserts an account's balance, held amount and availability.
func rcFunds(f *fixture, kind AccountKind, balance, held, available string) {
	f.t.Helper()
	a := f.s.Accounts[kind]
	if a == nil {
		f.t.Fatalf("no %s account", kind)
	}
	if !a.Balance.Equal(money(balance)) || !a.Held.Equal(money(held)) || !a.Available().Equal(money(available)) {
		f.t.Fatalf("%s account: balance %s held %s available %s, want %s %s %s",
			kind, a.Balance, a.Held, a.Available(), balance, held, available)
	}
}

// rcDay asserts the shop's counting totals of the local day of at.
func rcDay(f *fixture, at time.Time, count int, amount string) {
	f.t.Helper()
	day := f.s.LocalDay(at)
	got := f.s.DayTotals(day)
	if got.Count != count || !got.Amount.Equal(money(amount)) {
		f.t.Fatalf("day %s: count %d amount %s, want %d %s", day, got.Count, got.Amount, count, amount)
	}
}

// rcStatus asserts a payout's status.
func rcStatus(f *fixture, id string, want PayoutStatus) {
	f.t.Helper()
	p := f.s.Payouts[id]
	if p == nil {
		f.t.Fatalf("no payout %s", id)
	}
	if p.Status != want {
		f.t.Fatalf("payout %s is %s, want %s", id, p.Status, want)
	}
}

// rcWarnings returns the duplicate-compensation warnings among events.
func rcWarnings(evs []Payload) []DuplicateCompensationWarned {
	var out []DuplicateCompensationWarned
	for _, e := range evs {
		if w, ok := e.(DuplicateCompensationWarned); ok {
			out = append(out, w)
		}
	}
	return out
}

// rcEventTypes lists the event types, to compare a whole outcome.
func rcEventTypes(evs []Payload) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.EventType()
	}
	return out
}

func rcWantTypes(t *testing.T, evs []Payload, want ...string) {
	t.Helper()
	if got := rcEventTypes(evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

// TestRuleMoneyPrecision pins money.precision: more than two decimals is
// rejected, never rounded; the test is on the value, so "10.500" passes.
func TestRuleMoneyPrecision(t *testing.T) {
	for _, tc := range []struct {
		amount string
		want   string // "" accepted
	}{
		{"10.001", CodeMoneyPrecision},
		{"10.005", CodeMoneyPrecision}, // would round to 10.01: never rounded
		{"0.001", CodeMoneyPrecision},
		{"-0.001", CodeMoneyPrecision}, // precision is checked before sign
		{"10.500", ""},                 // value 10.50: two decimals
		{"10.50", ""},
		{"0.01", ""},
	} {
		t.Run("InitiatePayout/"+tc.amount, func(t *testing.T) {
			f := newFixture(t, PlatformDouyin)
			cmd := f.payout("P1", tc.amount, nil)
			if tc.want != "" {
				f.rejects(asMain, cmd, tc.want)
				if len(f.s.Payouts) != 0 {
					t.Fatalf("a rejected payout was recorded")
				}
			} else {
				evs := f.must(asMain, cmd)
				if got := evs[0].(PayoutInitiated).Amount; !got.Equal(money(tc.amount)) {
					t.Fatalf("amount %s recorded, want %s", got, tc.amount)
				}
				rcFunds(f, AccountProceeds, "100000", tc.amount, money("100000").Sub(money(tc.amount)).String())
			}
			f.replayEquals()
		})
	}

	// Every money field goes through the same check.
	t.Run("other commands", func(t *testing.T) {
		f := newFixture(t, Platform1688)
		f.rejects(asMain, TopUp{Ref: f.ref(), Kind: AccountReserve, Amount: money("10.001")}, CodeMoneyPrecision)
		f.must(asMain, TopUp{Ref: f.ref(), Kind: AccountReserve, Amount: money("10.500")})
		f.rejects(asMain, SetShopLimits{Ref: f.ref(), Limits: Limits{DailyAmount: moneyp("100.005")}}, CodeMoneyPrecision)
		f.must(asMain, SetShopLimits{Ref: f.ref(), Limits: Limits{DailyAmount: moneyp("100.500")}})
		f.rejects(asOperator, RegisterOrder{Ref: f.ref(), OrderID: "O2", CashPaid: money("9.999"), Status: OrderPaid, PlacedAt: t0}, CodeMoneyPrecision)
		f.rejects(asOperator, RecordOrderRefund{Ref: f.ref(), OrderID: "O1", RefundID: "R1", Amount: money("1.001")}, CodeMoneyPrecision)
		f.must(asOperator, RecordOrderRefund{Ref: f.ref(), OrderID: "O1", RefundID: "R1", Amount: money("1.000")})
		rcFunds(f, AccountReserve, "100010.5", "0", "100010.5")
		f.replayEquals()
	})

	t.Run("ParseAmount", func(t *testing.T) {
		for _, tc := range []struct{ in, code, value string }{
			{"10.001", CodeMoneyPrecision, ""},
			{"10.005", CodeMoneyPrecision, ""},
			{"10.500", "", "10.5"},
			{"12.50", "", "12.5"},
			{"0", CodeMoneyNonPositive, ""},
			{"ten", CodeInputInvalid, ""},
		} {
			d, err := ParseAmount(tc.in)
			if CodeOf(err) != tc.code {
				t.Fatalf("ParseAmount(%q): code %q, want %q", tc.in, CodeOf(err), tc.code)
			}
			if tc.code == "" && !d.Equal(money(tc.value)) {
				t.Fatalf("ParseAmount(%q) = %s, want %s", tc.in, d, tc.value)
			}
		}
	})
}

// TestRuleMoneyNonPositive pins money.non_positive: zero and negative
// amounts are rejected; the smallest positive amount passes.
func TestRuleMoneyNonPositive(t *testing.T) {
	for _, tc := range []struct {
		amount string
		want   string
	}{
		{"0", CodeMoneyNonPositive},
		{"0.00", CodeMoneyNonPositive},
		{"-0.01", CodeMoneyNonPositive},
		{"-10", CodeMoneyNonPositive},
		{"0.01", ""},
	} {
		t.Run(tc.amount, func(t *testing.T) {
			f := newFixture(t, Platform1688)
			if tc.want != "" {
				f.rejects(asMain, f.payout("P1", tc.amount, nil), tc.want)
				f.rejects(asMain, TopUp{Ref: f.ref(), Kind: AccountReserve, Amount: money(tc.amount)}, tc.want)
				f.rejects(asOperator, RecordPlatformShippingRefund{Ref: f.ref(), OrderID: "O1", RefundID: "R1", Amount: money(tc.amount)}, tc.want)
			} else {
				f.must(asMain, f.payout("P1", tc.amount, nil))
				f.must(asMain, TopUp{Ref: f.ref(), Kind: AccountReserve, Amount: money(tc.amount)})
				rcFunds(f, AccountReserve, "100000.01", "0.01", "100000")
			}
			f.replayEquals()
		})
	}
}

// TestRuleLimitsAboveCeiling pins limits.above_ceiling: a merchant limit is
// at most the platform ceiling, at enrollment or later; the ceiling itself
// is accepted and then in force.
func TestRuleLimitsAboveCeiling(t *testing.T) {
	for _, tc := range []struct {
		name      string
		platform  PlatformID
		above, at Limits
		limit     string // the ceiling the rejection reports
		requested string
	}{
		{"1688 daily_amount", Platform1688, Limits{DailyAmount: moneyp("5000.01")}, Limits{DailyAmount: moneyp("5000")}, "5000", "5000.01"},
		{"1688 per_order_max", Platform1688, Limits{PerOrderMax: moneyp("1000.01")}, Limits{PerOrderMax: moneyp("1000")}, "1000", "1000.01"},
		{"1688 daily_count", Platform1688, Limits{DailyCount: intp(1001)}, Limits{DailyCount: intp(1000)}, "1000", "1001"},
		{"1688 per_order_count", Platform1688, Limits{PerOrderCount: intp(2)}, Limits{PerOrderCount: intp(1)}, "1", "2"},
		{"douyin daily_amount", PlatformDouyin, Limits{DailyAmount: moneyp("15000.01")}, Limits{DailyAmount: moneyp("15000")}, "15000", "15000.01"},
		{"douyin per_order_count", PlatformDouyin, Limits{PerOrderCount: intp(6)}, Limits{PerOrderCount: intp(5)}, "5", "6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.platform)
			r := f.rejects(asMain, SetShopLimits{Ref: f.ref(), Limits: tc.above}, CodeLimitsAboveCeil)
			rcNums(t, r, tc.limit, "0", tc.requested)
			if !reflect.DeepEqual(f.s.Limits, Limits{}) {
				t.Fatalf("limits changed by a rejected command: %+v", f.s.Limits)
			}
			evs := f.must(asMain, SetShopLimits{Ref: f.ref(), Limits: tc.at})
			if got := evs[0].(ShopLimitsSet); !reflect.DeepEqual(got.New, tc.at) || !reflect.DeepEqual(got.Old, Limits{}) {
				t.Fatalf("event %+v", got)
			}
			if !reflect.DeepEqual(f.s.Limits, tc.at) {
				t.Fatalf("limits %+v, want %+v", f.s.Limits, tc.at)
			}
			f.replayEquals()
		})
	}

	t.Run("1688 at enrollment", func(t *testing.T) {
		f := rcBareShop(t, Platform1688, nil)
		f.rejects(asMain, EnrollShop{Ref: f.ref(), AcceptAgreement: true, Limits: Limits{DailyAmount: moneyp("5000.01")}}, CodeLimitsAboveCeil)
		if f.s.ToolEnabled {
			t.Fatal("a rejected enrollment enabled the tool")
		}
		f.must(asMain, EnrollShop{Ref: f.ref(), AcceptAgreement: true, Limits: Limits{DailyAmount: moneyp("5000")}})
		if got := f.s.EffectiveLimits().DailyAmount; got == nil || !got.Equal(money("5000")) {
			t.Fatalf("effective daily amount %v", got)
		}
		f.replayEquals()
	})
}

// TestRuleLimitsUnsupported: a merchant limit the platform does not have is
// refused, not silently stored.
func TestRuleLimitsUnsupported(t *testing.T) {
	for _, tc := range []struct {
		name     string
		platform PlatformID
		cmd      func(f *fixture) SetShopLimits
	}{
		{"1688 per_payout_max", Platform1688, func(f *fixture) SetShopLimits {
			return SetShopLimits{Ref: f.ref(), Limits: Limits{PerPayoutMax: moneyp("10")}}
		}},
		{"douyin daily_count", PlatformDouyin, func(f *fixture) SetShopLimits {
			return SetShopLimits{Ref: f.ref(), Limits: Limits{DailyCount: intp(10)}}
		}},
		{"douyin per_order_max", PlatformDouyin, func(f *fixture) SetShopLimits {
			return SetShopLimits{Ref: f.ref(), Limits: Limits{PerOrderMax: moneyp("10")}}
		}},
		{"douyin password-free threshold", PlatformDouyin, func(f *fixture) SetShopLimits {
			return SetShopLimits{Ref: f.ref(), PasswordFreeThreshold: moneyp("10")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.platform)
			f.rejects(asMain, tc.cmd(f), CodeLimitsUnsupported)
			// The limits the platform has are accepted.
			f.must(asMain, SetShopLimits{Ref: f.ref(), Limits: Limits{DailyAmount: moneyp("100")}})
			f.replayEquals()
		})
	}
}

// TestRuleStateIllegalTransition pins state.illegal_transition: a lifecycle
// step from a status that does not allow it is rejected, never ignored;
// the same step from the right status passes.
func TestRuleStateIllegalTransition(t *testing.T) {
	pay := func(f *fixture) { f.must(asMain, f.payout("P1", "10", nil)) }
	processing := func(f *fixture) { pay(f); f.must(asOperator, MarkPayoutProcessing{Ref: f.ref(), PayoutID: "P1"}) }
	succeeded := func(f *fixture) { processing(f); f.must(asOperator, MarkPayoutSucceeded{Ref: f.ref(), PayoutID: "P1"}) }
	failed := func(f *fixture) { pay(f); f.must(asOperator, MarkPayoutFailed{Ref: f.ref(), PayoutID: "P1"}) }
	expired := func(f *fixture) {
		pay(f)
		f.advance(72 * time.Hour)
		f.must(asSystem, ExpireCard{Ref: f.ref(), ID: "P1"})
	}
	confirmed := func(f *fixture) { pay(f); f.must(asOperator, ConfirmByBuyer{Ref: f.ref(), PayoutID: "P1"}) }
	ref := func(f *fixture) Ref { return f.ref() }

	for _, tc := range []struct {
		name     string
		platform PlatformID
		setup    func(*fixture)
		actor    Actor
		cmd      func(f *fixture) Command
		want     string // "" accepted
	}{
		{"failed from succeeded", PlatformDouyin, succeeded, asOperator, func(f *fixture) Command { return MarkPayoutFailed{Ref: ref(f), PayoutID: "P1"} }, CodeIllegalTransition},
		{"failed from processing", PlatformDouyin, processing, asOperator, func(f *fixture) Command { return MarkPayoutFailed{Ref: ref(f), PayoutID: "P1"} }, ""},
		{"failed from failed", PlatformDouyin, failed, asOperator, func(f *fixture) Command { return MarkPayoutFailed{Ref: ref(f), PayoutID: "P1"} }, CodeIllegalTransition},
		{"succeeded from failed", PlatformDouyin, failed, asOperator, func(f *fixture) Command { return MarkPayoutSucceeded{Ref: ref(f), PayoutID: "P1"} }, CodeIllegalTransition},
		{"succeeded from succeeded", PlatformDouyin, succeeded, asOperator, func(f *fixture) Command { return MarkPayoutSucceeded{Ref: ref(f), PayoutID: "P1"} }, CodeIllegalTransition},
		{"processing from processing", PlatformDouyin, processing, asOperator, func(f *fixture) Command { return MarkPayoutProcessing{Ref: ref(f), PayoutID: "P1"} }, CodeIllegalTransition},
		{"processing from pending", PlatformDouyin, pay, asOperator, func(f *fixture) Command { return MarkPayoutProcessing{Ref: ref(f), PayoutID: "P1"} }, ""},
		{"expire a douyin payout (no card)", PlatformDouyin, pay, asSystem, func(f *fixture) Command { return ExpireCard{Ref: ref(f), ID: "P1"} }, CodeIllegalTransition},
		{"1688 processing while awaiting confirmation", Platform1688, pay, asOperator, func(f *fixture) Command { return MarkPayoutProcessing{Ref: ref(f), PayoutID: "P1"} }, CodeIllegalTransition},
		{"1688 succeeded while awaiting confirmation", Platform1688, pay, asOperator, func(f *fixture) Command { return MarkPayoutSucceeded{Ref: ref(f), PayoutID: "P1"} }, CodeIllegalTransition},
		{"1688 confirm after expiry", Platform1688, expired, asOperator, func(f *fixture) Command { return ConfirmByBuyer{Ref: ref(f), PayoutID: "P1"} }, CodeIllegalTransition},
		{"1688 expire after confirmation", Platform1688, confirmed, asSystem, func(f *fixture) Command { return ExpireCard{Ref: ref(f), ID: "P1"} }, CodeIllegalTransition},
		{"1688 confirm twice", Platform1688, confirmed, asOperator, func(f *fixture) Command { return ConfirmByBuyer{Ref: ref(f), PayoutID: "P1"} }, CodeIllegalTransition},
		{"disable a disabled tool", Platform1688, func(f *fixture) { f.must(asMain, DisableTool{Ref: f.ref()}) }, asMain, func(f *fixture) Command { return DisableTool{Ref: ref(f)} }, CodeIllegalTransition},
		{"disable an enabled tool", Platform1688, func(*fixture) {}, asMain, func(f *fixture) Command { return DisableTool{Ref: ref(f)} }, ""},
		{"disable a disabled quota", PlatformDouyin, func(f *fixture) {
			f.must(asMain, GrantStaffQuota{Ref: f.ref(), Staff: subID})
			f.must(asMain, DisableStaffQuota{Ref: f.ref(), Staff: subID})
		}, asMain, func(f *fixture) Command { return DisableStaffQuota{Ref: ref(f), Staff: subID} }, CodeIllegalTransition},
		{"enable an enabled quota", PlatformDouyin, func(f *fixture) {
			f.must(asMain, GrantStaffQuota{Ref: f.ref(), Staff: subID})
		}, asMain, func(f *fixture) Command { return EnableStaffQuota{Ref: ref(f), Staff: subID} }, CodeIllegalTransition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.platform)
			tc.setup(f)
			if tc.want != "" {
				r := f.rejects(tc.actor, tc.cmd(f), tc.want)
				if p := f.s.Payouts["P1"]; p != nil && r.Details["status"] != string(p.Status) {
					t.Fatalf("rejection reports status %q, payout is %s", r.Details["status"], p.Status)
				}
			} else {
				f.must(tc.actor, tc.cmd(f))
			}
			f.replayEquals()
		})
	}
}

// TestRuleDupSameType pins dup.same_type: a second payout of the same type
// on an order with a counting or succeeded payout of that type is refused
// unless acknowledged; acknowledged, it goes through with a warning. A
// different type, or a released payout, raises nothing.
func TestRuleDupSameType(t *testing.T) {
	for _, tc := range []struct {
		name      string
		setup     func(f *fixture) // P1 shipping 10 on O1 at t0 is always made first
		mods      []func(*InitiatePayout)
		want      string   // "" accepted
		wantWarn  []string // payout IDs the warning names; nil: no warning
		warnTotal string
	}{
		{name: "second shipping, not acknowledged", want: CodeDupSameType},
		{name: "second shipping, acknowledged", mods: []func(*InitiatePayout){rcAck}, wantWarn: []string{"P1"}, warnTotal: "10"},
		{name: "different type", mods: []func(*InitiatePayout){rcType(TypePriceDifference)}},
		{name: "after the first succeeded", setup: func(f *fixture) {
			f.must(asOperator, MarkPayoutProcessing{Ref: f.ref(), PayoutID: "P1"})
			f.must(asOperator, MarkPayoutSucceeded{Ref: f.ref(), PayoutID: "P1"})
		}, want: CodeDupSameType},
		{name: "after the first is processing", setup: func(f *fixture) {
			f.must(asOperator, MarkPayoutProcessing{Ref: f.ref(), PayoutID: "P1"})
		}, want: CodeDupSameType},
		{name: "after the first failed", setup: func(f *fixture) {
			f.must(asOperator, MarkPayoutFailed{Ref: f.ref(), PayoutID: "P1"})
		}},
		{name: "third shipping names both", setup: func(f *fixture) {
			f.must(asMain, rcPay(f, "P0", "O1", "5", rcAck))
			f.advance(time.Minute)
		}, mods: []func(*InitiatePayout){rcAck}, wantWarn: []string{"P1", "P0"}, warnTotal: "15"},
		{name: "same type on another order", setup: func(f *fixture) { f.order("O2", nil) },
			mods: []func(*InitiatePayout){func(c *InitiatePayout) { c.OrderID = "O2" }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, PlatformDouyin)
			f.must(asMain, f.payout("P1", "10", nil))
			f.advance(time.Minute) // past dy.order.rate
			if tc.setup != nil {
				tc.setup(f)
			}
			cmd := rcPay(f, "P2", "O1", "5", tc.mods...)
			if tc.want != "" {
				r := f.rejects(asMain, cmd, tc.want)
				if r.Details["payout_ids"] != "P1" {
					t.Fatalf("rejection names payouts %q, want P1", r.Details["payout_ids"])
				}
				// The same command, acknowledged, passes.
				cmd.AcknowledgeDuplicate = true
				f.must(asMain, cmd)
				f.replayEquals()
				return
			}
			evs := f.must(asMain, cmd)
			ws := rcWarnings(evs)
			if tc.wantWarn == nil {
				rcWantTypes(t, evs, "PayoutInitiated")
				f.replayEquals()
				return
			}
			rcWantTypes(t, evs, "PayoutInitiated", "DuplicateCompensationWarned")
			w := ws[0]
			if w.Kind != CodeDupSameType || !w.Acknowledged || w.OrderID != cmd.OrderID || w.NewPayoutID != "P2" ||
				!reflect.DeepEqual(w.PayoutIDs, tc.wantWarn) || !w.Amount.Equal(money(tc.warnTotal)) {
				t.Fatalf("warning %+v", w)
			}
			if got := f.s.Warnings[w.WarningID]; got == nil || got.Kind != CodeDupSameType {
				t.Fatalf("warning %s not in state", w.WarningID)
			}
			// Already acknowledged when the payout was confirmed.
			f.rejects(asMain, AcknowledgeDuplicateWarning{Ref: f.ref(), WarningID: w.WarningID}, CodeIllegalTransition)
			rcStatus(f, "P2", StatusPending)
			f.replayEquals()
		})
	}
}

// TestRuleDupRefundAfterPayout pins dup.refund_after_payout: a refund is
// recorded (refunds do not check payouts, payouts are not returned), and
// when the order has payouts a warning names them. It never blocks.
func TestRuleDupRefundAfterPayout(t *testing.T) {
	for _, tc := range []struct {
		name     string
		platform PlatformID
		setup    func(f *fixture)
		wantIDs  []string // nil: no warning
		wantSum  string
	}{
		{name: "douyin, no payout", platform: PlatformDouyin, setup: func(*fixture) {}},
		{name: "douyin, pending payout", platform: PlatformDouyin, setup: func(f *fixture) {
			f.must(asMain, f.payout("P1", "10", nil))
		}, wantIDs: []string{"P1"}, wantSum: "10"},
		{name: "douyin, two payouts", platform: PlatformDouyin, setup: func(f *fixture) {
			f.must(asMain, f.payout("P1", "10", nil))
			f.advance(time.Minute)
			f.must(asMain, f.payout("P2", "2.5", func(c *InitiatePayout) { c.Type = TypeService }))
		}, wantIDs: []string{"P1", "P2"}, wantSum: "12.5"},
		{name: "douyin, succeeded payout", platform: PlatformDouyin, setup: func(f *fixture) {
			f.must(asMain, f.payout("P1", "10", nil))
			f.must(asOperator, MarkPayoutProcessing{Ref: f.ref(), PayoutID: "P1"})
			f.must(asOperator, MarkPayoutSucceeded{Ref: f.ref(), PayoutID: "P1"})
		}, wantIDs: []string{"P1"}, wantSum: "10"},
		{name: "douyin, failed payout only", platform: PlatformDouyin, setup: func(f *fixture) {
			f.must(asMain, f.payout("P1", "10", nil))
			f.must(asOperator, MarkPayoutFailed{Ref: f.ref(), PayoutID: "P1"})
		}},
		{name: "douyin, payout on another order", platform: PlatformDouyin, setup: func(f *fixture) {
			f.order("O2", nil)
			f.must(asMain, rcPay(f, "P1", "O2", "10"))
		}},
		{name: "1688, awaiting confirmation", platform: Platform1688, setup: func(f *fixture) {
			f.must(asMain, f.payout("P1", "45", nil))
		}, wantIDs: []string{"P1"}, wantSum: "45"},
		{name: "1688, no payout", platform: Platform1688, setup: func(*fixture) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.platform)
			tc.setup(f)
			before := map[string]PayoutStatus{}
			for id, p := range f.s.Payouts {
				before[id] = p.Status
			}
			accounts := map[AccountKind]Account{}
			for k, a := range f.s.Accounts {
				accounts[k] = *a
			}
			evs := f.must(asOperator, RecordOrderRefund{Ref: f.ref(), OrderID: "O1", RefundID: "R1", Amount: money("100")})
			if r, ok := evs[0].(OrderRefundRecorded); !ok || r.RefundID != "R1" || !r.Amount.Equal(money("100")) {
				t.Fatalf("first event %+v", evs[0])
			}
			ws := rcWarnings(evs)
			if tc.wantIDs == nil {
				rcWantTypes(t, evs, "OrderRefundRecorded")
			} else {
				rcWantTypes(t, evs, "OrderRefundRecorded", "DuplicateCompensationWarned")
				w := ws[0]
				if w.Kind != CodeDupRefundAfter || w.OrderID != "O1" || w.RefundID != "R1" || w.Acknowledged ||
					!reflect.DeepEqual(w.PayoutIDs, tc.wantIDs) || !w.Amount.Equal(money(tc.wantSum)) {
					t.Fatalf("warning %+v", w)
				}
				// The merchant can acknowledge it, once.
				f.must(asMain, AcknowledgeDuplicateWarning{Ref: f.ref(), WarningID: w.WarningID})
				if !f.s.Warnings[w.WarningID].Acknowledged {
					t.Fatal("acknowledgement not applied")
				}
				f.rejects(asMain, AcknowledgeDuplicateWarning{Ref: f.ref(), WarningID: w.WarningID}, CodeIllegalTransition)
			}
			// Payouts are not returned: statuses and accounts unchanged.
			for id, st := range before {
				rcStatus(f, id, st)
			}
			for k, a := range accounts {
				if got := *f.s.Accounts[k]; !got.Balance.Equal(a.Balance) || !got.Held.Equal(a.Held) {
					t.Fatalf("%s account changed by a refund: %+v -> %+v", k, a, got)
				}
			}
			if got := f.s.Orders["O1"].Refunds; !reflect.DeepEqual(got, []string{"R1"}) {
				t.Fatalf("order refunds %v", got)
			}
			f.replayEquals()
		})
	}
	t.Run("unknown order", func(t *testing.T) {
		f := newFixture(t, PlatformDouyin)
		f.rejects(asOperator, RecordOrderRefund{Ref: f.ref(), OrderID: "O404", RefundID: "R1", Amount: money("1")}, CodeOrderUnknown)
		f.replayEquals()
	})
}

// TestRuleDupPlatformShippingRefund pins dup.platform_shipping_refund: the
// platform refunded shipping and a merchant shipping payout exists, in
// either order. Other payout types raise nothing. It never blocks.
func TestRuleDupPlatformShippingRefund(t *testing.T) {
	refund := func(f *fixture) []Payload {
		return f.must(asOperator, RecordPlatformShippingRefund{Ref: f.ref(), OrderID: "O1", RefundID: "R1", Amount: money("8")})
	}
	t.Run("refund after a shipping payout", func(t *testing.T) {
		f := newFixture(t, PlatformDouyin)
		f.must(asMain, f.payout("P1", "10", nil))
		evs := refund(f)
		rcWantTypes(t, evs, "PlatformShippingRefundRecorded", "DuplicateCompensationWarned")
		w := rcWarnings(evs)[0]
		if w.Kind != CodeDupPlatformShip || w.OrderID != "O1" || w.RefundID != "R1" ||
			!reflect.DeepEqual(w.PayoutIDs, []string{"P1"}) || !w.Amount.Equal(money("10")) {
			t.Fatalf("warning %+v", w)
		}
		if !f.s.Orders["O1"].PlatformShippingRefunded {
			t.Fatal("refund not recorded on the order")
		}
		f.replayEquals()
	})
	t.Run("refund with only a price-difference payout", func(t *testing.T) {
		f := newFixture(t, PlatformDouyin)
		f.must(asMain, f.payout("P1", "10", rcType(TypePriceDifference)))
		rcWantTypes(t, refund(f), "PlatformShippingRefundRecorded")
		f.replayEquals()
	})
	t.Run("refund with a failed shipping payout", func(t *testing.T) {
		f := newFixture(t, PlatformDouyin)
		f.must(asMain, f.payout("P1", "10", nil))
		f.must(asOperator, MarkPayoutFailed{Ref: f.ref(), PayoutID: "P1"})
		rcWantTypes(t, refund(f), "PlatformShippingRefundRecorded")
		f.replayEquals()
	})
	t.Run("refund without payout", func(t *testing.T) {
		f := newFixture(t, Platform1688)
		rcWantTypes(t, refund(f), "PlatformShippingRefundRecorded")
		f.replayEquals()
	})
	t.Run("shipping payout after the refund", func(t *testing.T) {
		f := newFixture(t, PlatformDouyin)
		refund(f)
		evs := f.must(asMain, f.payout("P1", "10", nil))
		rcWantTypes(t, evs, "PayoutInitiated", "DuplicateCompensationWarned")
		w := rcWarnings(evs)[0]
		if w.Kind != CodeDupPlatformShip || w.NewPayoutID != "P1" || len(w.PayoutIDs) != 0 || !w.Amount.Equal(money("10")) || w.Acknowledged {
			t.Fatalf("warning %+v", w)
		}
		f.replayEquals()
	})
	t.Run("price-difference payout after the refund", func(t *testing.T) {
		f := newFixture(t, PlatformDouyin)
		refund(f)
		rcWantTypes(t, f.must(asMain, f.payout("P1", "10", rcType(TypePriceDifference))), "PayoutInitiated")
		f.replayEquals()
	})
	t.Run("second shipping payout after the refund raises both", func(t *testing.T) {
		f := newFixture(t, PlatformDouyin)
		f.must(asMain, f.payout("P1", "10", nil))
		refund(f) // W1
		f.advance(time.Minute)
		f.rejects(asMain, f.payout("P2", "5", nil), CodeDupSameType)
		evs := f.must(asMain, f.payout("P2", "5", rcAck))
		rcWantTypes(t, evs, "PayoutInitiated", "DuplicateCompensationWarned", "DuplicateCompensationWarned")
		ws := rcWarnings(evs)
		if ws[0].Kind != CodeDupSameType || ws[1].Kind != CodeDupPlatformShip || !ws[1].Amount.Equal(money("15")) {
			t.Fatalf("warnings %+v", ws)
		}
		ids := map[string]bool{"W1": true, ws[0].WarningID: true, ws[1].WarningID: true}
		if len(ids) != 3 || len(f.s.Warnings) != 3 {
			t.Fatalf("warning IDs collide: %s %s (state has %d)", ws[0].WarningID, ws[1].WarningID, len(f.s.Warnings))
		}
		f.replayEquals()
	})
}

// TestRuleGenericCodes pins the generic codes of rejection.go that the
// rules above do not: each blocks in one case and the corrected command
// passes.
func TestRuleGenericCodes(t *testing.T) {
	type step struct {
		actor Actor
		cmd   func(f *fixture) Command
		want  string // "" accepted
	}
	pay := func(mod func(*InitiatePayout)) func(f *fixture) Command {
		return func(f *fixture) Command { return f.payout("P1", "10", mod) }
	}
	for _, tc := range []struct {
		name     string
		platform PlatformID
		steps    []step
	}{
		{"input.invalid payout ID", PlatformDouyin, []step{
			{asMain, pay(func(c *InitiatePayout) { c.PayoutID = "P 1" }), CodeInputInvalid},
			{asMain, pay(func(c *InitiatePayout) { c.PayoutID = strings.Repeat("p", 65) }), CodeInputInvalid},
			{asMain, pay(func(c *InitiatePayout) { c.PayoutID = strings.Repeat("p", 64) }), ""},
		}},
		{"input.invalid payout type", PlatformDouyin, []step{
			{asMain, pay(func(c *InitiatePayout) { c.Type = "gift" }), CodeInputInvalid},
			{asMain, pay(func(c *InitiatePayout) { c.Type = TypeOther }), ""},
		}},
		{"input.invalid reason length", PlatformDouyin, []step{
			{asMain, pay(func(c *InitiatePayout) { c.Reason = strings.Repeat("运", maxReasonRunes+1) }), CodeInputInvalid},
			{asMain, pay(func(c *InitiatePayout) { c.Reason = strings.Repeat("运", maxReasonRunes) }), ""},
		}},
		// PostgreSQL's text holds neither; a payout accepted with one
		// would stall the read models (control characters are kept).
		{"input.invalid free text with NUL or invalid UTF-8", PlatformDouyin, []step{
			{asMain, pay(func(c *InitiatePayout) { c.Message = "a\x00b" }), CodeInputInvalid},
			{asMain, pay(func(c *InitiatePayout) { c.Reason = "运\xff" }), CodeInputInvalid},
			{asMain, pay(func(c *InitiatePayout) { c.Remark = "\x00" }), CodeInputInvalid},
			{asMain, pay(func(c *InitiatePayout) { c.GoodsID = "g\xc0" }), CodeInputInvalid},
			{asMain, func(f *fixture) Command { return DisableTool{Ref: f.ref(), Reason: "x\x00"} }, CodeInputInvalid},
			{asOperator, func(f *fixture) Command {
				return RegisterOrder{Ref: f.ref(), OrderID: "O2", Buyer: "b\x00", CashPaid: money("1"), Status: OrderPaid, PlacedAt: t0}
			}, CodeInputInvalid},
			{asMain, pay(func(c *InitiatePayout) { c.Message = "tab\t bell\a 中文 \u2028" }), ""},
		}},
		{"input.invalid actor without ID", PlatformDouyin, []step{
			{Actor{Role: RoleMain}, pay(nil), CodeInputInvalid},
			{asMain, pay(nil), ""},
		}},
		{"input.invalid command for another shop", PlatformDouyin, []step{
			{asMain, pay(func(c *InitiatePayout) { c.Ref.ShopID = "shop2" }), CodeInputInvalid},
			{asMain, pay(nil), ""},
		}},
		{"input.invalid order registration", PlatformDouyin, []step{
			{asOperator, func(f *fixture) Command {
				return RegisterOrder{Ref: f.ref(), OrderID: "O/2", CashPaid: money("1"), Status: OrderPaid, PlacedAt: t0}
			}, CodeInputInvalid},
			{asOperator, func(f *fixture) Command {
				return RegisterOrder{Ref: f.ref(), OrderID: "O2", CashPaid: money("1"), Status: OrderPaid}
			}, CodeInputInvalid},
			{asOperator, func(f *fixture) Command {
				return RegisterOrder{Ref: f.ref(), OrderID: "O2", CashPaid: money("1"), Status: "lost"}
			}, CodeInputInvalid},
			{asOperator, func(f *fixture) Command {
				return RegisterOrder{Ref: f.ref(), OrderID: "O2", CashPaid: money("1"), Status: OrderPaid, PlacedAt: t0}
			}, ""},
		}},
		{"shop.exists", PlatformDouyin, []step{
			{asOperator, func(f *fixture) Command { return RegisterShop{Ref: f.ref(), Name: "again", MainAccount: mainID} }, CodeShopExists},
		}},
		{"order.unknown", PlatformDouyin, []step{
			{asMain, pay(func(c *InitiatePayout) { c.OrderID = "O404" }), CodeOrderUnknown},
			{asOperator, func(f *fixture) Command {
				return RecordPlatformShippingRefund{Ref: f.ref(), OrderID: "O404", RefundID: "R1", Amount: money("1")}
			}, CodeOrderUnknown},
			{asMain, pay(nil), ""},
		}},
		{"payout.unknown", PlatformDouyin, []step{
			{asOperator, func(f *fixture) Command { return MarkPayoutProcessing{Ref: f.ref(), PayoutID: "P1"} }, CodePayoutUnknown},
			{asSystem, func(f *fixture) Command { return ExpireCard{Ref: f.ref(), ID: "P1"} }, CodePayoutUnknown},
			{asMain, pay(nil), ""},
			{asOperator, func(f *fixture) Command { return MarkPayoutProcessing{Ref: f.ref(), PayoutID: "P1"} }, ""},
		}},
		{"payout.exists", PlatformDouyin, []step{
			{asMain, pay(nil), ""},
			{asMain, pay(nil), CodePayoutExists},
			{asOperator, func(f *fixture) Command { return MarkPayoutFailed{Ref: f.ref(), PayoutID: "P1"} }, ""},
			{asMain, pay(nil), CodePayoutExists}, // a failed payout's ID stays used
			{asMain, func(f *fixture) Command { return f.payout("P2", "10", nil) }, ""},
		}},
		{"auth.forbidden", PlatformDouyin, []step{
			{asOperator, pay(nil), CodeAuthForbidden},
			{asSystem, pay(nil), CodeAuthForbidden},
			{asMain, func(f *fixture) Command {
				return RegisterOrder{Ref: f.ref(), OrderID: "O2", CashPaid: money("1"), Status: OrderPaid, PlacedAt: t0}
			}, CodeAuthForbidden},
			{asSub, func(f *fixture) Command { return TopUp{Ref: f.ref(), Kind: AccountReserve, Amount: money("1")} }, CodeAuthForbidden},
			{asMain, pay(nil), ""},
			{asMain, func(f *fixture) Command { return MarkPayoutProcessing{Ref: f.ref(), PayoutID: "P1"} }, CodeAuthForbidden},
			{asOperator, func(f *fixture) Command { return MarkPayoutProcessing{Ref: f.ref(), PayoutID: "P1"} }, ""},
		}},
		{"funds.kind_not_allowed 1688", Platform1688, []step{
			{asMain, func(f *fixture) Command { return OpenFundingAccount{Ref: f.ref(), Kind: AccountProceeds} }, CodeFundsKind},
			{asMain, func(f *fixture) Command { return OpenFundingAccount{Ref: f.ref(), Kind: AccountWallet} }, CodeFundsKind},
			{asMain, pay(func(c *InitiatePayout) { c.Funding = AccountProceeds }), CodeFundsKind},
			{asMain, pay(func(c *InitiatePayout) { c.Funding = AccountReserve }), ""},
		}},
		{"funds.kind_not_allowed douyin", PlatformDouyin, []step{
			{asMain, func(f *fixture) Command { return TopUp{Ref: f.ref(), Kind: AccountProceeds, Amount: money("1")} }, CodeFundsKind},
			{asMain, pay(func(c *InitiatePayout) { c.Funding = AccountWallet }), CodeFundsKind},
			{asMain, func(f *fixture) Command { return TopUp{Ref: f.ref(), Kind: AccountReserve, Amount: money("1")} }, ""},
			{asMain, pay(func(c *InitiatePayout) { c.Funding = AccountReserve }), ""},
		}},
		{"funds.account_exists", Platform1688, []step{
			{asMain, func(f *fixture) Command { return OpenFundingAccount{Ref: f.ref(), Kind: AccountReserve} }, CodeFundsExists},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.platform)
			for i, st := range tc.steps {
				cmd := st.cmd(f)
				if st.want != "" {
					r := f.rejects(st.actor, cmd, st.want)
					if st.want == CodeAuthForbidden && r.Details["role"] != string(st.actor.Role) {
						t.Fatalf("step %d: role detail %q", i, r.Details["role"])
					}
				} else {
					f.must(st.actor, cmd)
				}
			}
			f.replayEquals()
		})
	}

	t.Run("shop.unknown", func(t *testing.T) {
		f := &fixture{t: t, s: NewShop(ShopRef{Platform: PlatformDouyin, ShopID: "shop1"}), now: t0}
		f.rejects(asMain, OpenFundingAccount{Ref: f.ref(), Kind: AccountProceeds}, CodeShopUnknown)
		f.rejects(asMain, f.payout("P1", "10", nil), CodeShopUnknown)
		f.must(asOperator, RegisterShop{Ref: f.ref(), Name: "n", MainAccount: mainID})
		f.must(asMain, OpenFundingAccount{Ref: f.ref(), Kind: AccountProceeds})
		f.replayEquals()
	})
}

// TestRejectionMatching: the rule code is what callers match on, through
// wrapping (errors.Is / errors.As / CodeOf), and the message carries the
// numbers checked.
func TestRejectionMatching(t *testing.T) {
	f := newFixture(t, PlatformDouyin)
	f.must(asMain, f.payout("P1", "100", nil))
	f.order("O2", nil)
	f.advance(time.Minute)
	_, err := f.do(asMain, f.payout("P2", "0.01", rcType(TypeService)))
	if err == nil {
		t.Fatal("payout above dy.order.cap accepted")
	}
	wrapped := fmt.Errorf("adapter: %w", err)
	for _, e := range []error{err, wrapped} {
		if !errors.Is(e, &Rejection{Code: "dy.order.cap"}) {
			t.Fatalf("errors.Is(%v, dy.order.cap) = false", e)
		}
		if errors.Is(e, &Rejection{Code: "dy.order.count"}) {
			t.Fatalf("errors.Is(%v, dy.order.count) = true", e)
		}
		if CodeOf(e) != "dy.order.cap" {
			t.Fatalf("CodeOf = %q", CodeOf(e))
		}
		var r *Rejection
		if !errors.As(e, &r) {
			t.Fatal("errors.As failed")
		}
		rcNums(t, r, "100", "100", "0.01")
		if r.Unit != "CNY" || r.Details["order_amount"] != "100.00" {
			t.Fatalf("unit %q details %v", r.Unit, r.Details)
		}
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "dy.order.cap: ") || !strings.Contains(msg, "limit 100, used 100, requested 0.01 CNY") {
		t.Fatalf("message %q", msg)
	}
	if CodeOf(errors.New("plain")) != "" || CodeOf(nil) != "" {
		t.Fatal("CodeOf of a non-rejection is not empty")
	}
	// The same payout on another order passes.
	f.must(asMain, rcPay(f, "P2", "O2", "0.01", rcType(TypeService)))
	f.replayEquals()
}
