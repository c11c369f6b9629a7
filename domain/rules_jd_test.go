package domain

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// Rule tests for JD (RULES.md "JD: 小额打款 (jd)"). Each test is named after
// the rule ID it pins; every rule has a case where it blocks (the exact code,
// through f.rejects, which also checks that nothing changed) and a case at
// the boundary where it lets the command through.
//
// The helpers prefixed "pin" are shared with rules_pdd_test.go and
// rules_taobao_test.go.

// ---- shared helpers ---------------------------------------------------------

// pinFreshShop registers a second shop ("shop2") of a platform with the
// given attributes and nothing else: no account, no enrollment, no order.
// Enrollment and shop-attribute rules need shops the fixture does not build.
func pinFreshShop(t *testing.T, platform PlatformID, mod func(*RegisterShop)) *fixture {
	t.Helper()
	f := &fixture{t: t, s: NewShop(ShopRef{Platform: platform, ShopID: "shop2"}), now: t0}
	reg := RegisterShop{Ref: f.ref(), Name: "fresh shop", MainAccount: mainID}
	if mod != nil {
		mod(&reg)
	}
	f.must(asOperator, reg)
	return f
}

// pinPayoutOn is f.payout on order orderID, registering that order (eligible,
// 100.00 cash) on first use. One order per payout keeps dup.same_type and
// the per-order rules out of tests about other rules.
func pinPayoutOn(f *fixture, id, orderID, amount string, mod func(*InitiatePayout)) InitiatePayout {
	f.t.Helper()
	if f.s.Orders[orderID] == nil {
		f.order(orderID, nil)
	}
	return f.payout(id, amount, func(c *InitiatePayout) {
		c.OrderID = orderID
		if mod != nil {
			mod(c)
		}
	})
}

// pinStatus asserts a payout's status.
func pinStatus(t *testing.T, f *fixture, id string, want PayoutStatus) {
	t.Helper()
	p := f.s.Payouts[id]
	if p == nil {
		t.Fatalf("payout %s is unknown", id)
	}
	if p.Status != want {
		t.Fatalf("payout %s is %s, want %s", id, p.Status, want)
	}
}

// pinMoney asserts an amount by value.
func pinMoney(t *testing.T, what string, got decimal.Decimal, want string) {
	t.Helper()
	if !got.Equal(money(want)) {
		t.Fatalf("%s = %s, want %s", what, got, want)
	}
}

// pinNumbers asserts the numbers a rejection says it checked.
func pinNumbers(t *testing.T, r *Rejection, limit, used, requested string) {
	t.Helper()
	for _, c := range []struct {
		what string
		got  *decimal.Decimal
		want string
	}{{"limit", r.Limit, limit}, {"used", r.Used, used}, {"requested", r.Requested, requested}} {
		if c.got == nil {
			t.Fatalf("%s: the rejection carries no %s", r.Code, c.what)
		}
		pinMoney(t, r.Code+" "+c.what, *c.got, c.want)
	}
}

// pinAccount asserts a funding account's balance, held and available amounts.
func pinAccount(t *testing.T, f *fixture, kind AccountKind, balance, held, available string) {
	t.Helper()
	a := f.s.Accounts[kind]
	if a == nil {
		t.Fatalf("no %s account", kind)
	}
	pinMoney(t, string(kind)+" balance", a.Balance, balance)
	pinMoney(t, string(kind)+" held", a.Held, held)
	pinMoney(t, string(kind)+" available", a.Available(), available)
}

// pinDay asserts the shop's counting totals of a local day.
func pinDay(t *testing.T, f *fixture, day string, count int, amount string) {
	t.Helper()
	d := f.s.DayTotals(day)
	if d.Count != count {
		t.Fatalf("day %s counts %d payouts, want %d", day, d.Count, count)
	}
	pinMoney(t, "day "+day+" amount", d.Amount, amount)
}

// pinLocal is a wall-clock time in the fixture shops' zone (Asia/Shanghai).
func pinLocal(y int, m time.Month, d, h, min, s int) time.Time {
	return time.Date(y, m, d, h, min, s, 0, shanghai)
}

// pinStep is one given/when/then step of a scenario: at t0+at, actor sends
// cmd; code is the expected rejection ("" = accepted); why checks the
// rejection, then checks the outcome (evs is nil for a rejection).
type pinStep struct {
	name  string
	at    time.Duration
	actor Actor
	cmd   Command
	code  string
	why   func(t *testing.T, r *Rejection)
	then  func(t *testing.T, evs []Payload)
}

// pinRun plays a scenario's steps in order on f, then checks that replaying
// the accepted events reproduces the state.
func pinRun(t *testing.T, f *fixture, steps []pinStep) {
	t.Helper()
	for i, s := range steps {
		t.Logf("step %d: %s", i+1, s.name)
		f.at(t0.Add(s.at))
		var evs []Payload
		if s.code != "" {
			r := f.rejects(s.actor, s.cmd, s.code)
			if s.why != nil {
				s.why(t, r)
			}
		} else {
			if s.why != nil {
				t.Fatalf("step %q: why is for rejections", s.name)
			}
			evs = f.must(s.actor, s.cmd)
		}
		if s.then != nil {
			s.then(t, evs)
		}
	}
	f.replayEquals()
}

// pinEvent returns the only event of type T among evs.
func pinEvent[T Payload](t *testing.T, evs []Payload) T {
	t.Helper()
	var out T
	n := 0
	for _, e := range evs {
		if v, ok := e.(T); ok {
			out = v
			n++
		}
	}
	if n != 1 {
		t.Fatalf("want exactly one %s among %d events, got %d", out.EventType(), len(evs), n)
	}
	return out
}

// ---- JD helpers -------------------------------------------------------------

var (
	jdSub  = asSub
	jdSub2 = Actor{ID: "S2", Role: RoleSub}
)

// jdFreshShop registers a JD shop that may enroll (entity enterprise, mode
// sop, self-service after-sales) adjusted by mod, opens and funds its wallet
// when wallet is set, and registers order O1. It does not enroll.
func jdFreshShop(t *testing.T, wallet bool, mod func(*RegisterShop)) *fixture {
	t.Helper()
	f := pinFreshShop(t, PlatformJD, func(r *RegisterShop) {
		r.EntityType, r.CooperationMode, r.AfterSalesSelfService = "enterprise", "sop", true
		if mod != nil {
			mod(r)
		}
	})
	if wallet {
		f.must(asMain, OpenFundingAccount{Ref: f.ref(), Kind: AccountWallet})
		f.must(asMain, TopUp{Ref: f.ref(), Kind: AccountWallet, Amount: money("1000")})
	}
	f.order("O1", nil)
	return f
}

func jdEnroll(f *fixture) EnrollShop { return EnrollShop{Ref: f.ref(), AcceptAgreement: true} }

func jdGrant(f *fixture, per, day string) GrantStaffQuota {
	g := GrantStaffQuota{Ref: f.ref(), Staff: subID}
	if per != "" {
		g.PerPayout = moneyp(per)
	}
	if day != "" {
		g.PerDay = moneyp(day)
	}
	return g
}

// ---- jd.enroll.* --------------------------------------------------------------

// TestJDEnrollShopType pins jd.enroll.shop_type: natural-person entities and
// the FBP, LOC, card-secret, SCF and FCS cooperation modes are refused at
// enrollment; the allowed entity types in POP-SOP mode enroll and pay out.
func TestJDEnrollShopType(t *testing.T) {
	const code = "jd.enroll.shop_type"
	cases := []struct {
		name, entity, mode string
		ok                 bool
	}{
		{"blocks a natural-person entity", "natural_person", "sop", false},
		{"blocks FBP mode", "enterprise", "fbp", false},
		{"blocks LOC mode", "enterprise", "loc", false},
		{"blocks card-secret mode", "enterprise", "card_secret", false},
		{"blocks SCF mode", "enterprise", "scf", false},
		{"blocks FCS mode", "enterprise", "fcs", false},
		{"blocks an allowed entity in a refused mode", "jingxi_enterprise", "fbp", false},
		{"blocks a shop with no entity type", "", "sop", false},
		{"passes jingxi enterprise", "jingxi_enterprise", "sop", true},
		{"passes jingxi individual", "jingxi_individual", "sop", true},
		{"passes small-shop individual", "small_shop_individual", "sop", true},
		{"passes an enterprise POP-SOP shop", "enterprise", "sop", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := jdFreshShop(t, true, func(r *RegisterShop) { r.EntityType, r.CooperationMode = tc.entity, tc.mode })
			if !tc.ok {
				f.rejects(asMain, jdEnroll(f), code)
				if f.s.ToolEnabled {
					t.Fatal("a refused shop has the tool enabled")
				}
				// Not enrolled, so it still cannot pay out.
				f.rejects(asMain, f.payout("P1", "10", nil), "jd.enroll.agreement")
			} else {
				evs := f.must(asMain, jdEnroll(f))
				if e := pinEvent[ShopEnrolled](t, evs); e.By != mainID {
					t.Fatalf("enrolled by %q, want %q", e.By, mainID)
				}
				f.must(asMain, f.payout("P1", "10", nil))
				pinStatus(t, f, "P1", StatusPending)
			}
			f.replayEquals()
		})
	}
}

// TestJDEnrollAfterSales pins jd.enroll.after_sales: self-service after-sales
// must be enabled before the tool.
func TestJDEnrollAfterSales(t *testing.T) {
	cases := []struct {
		name       string
		afterSales bool
		code       string
	}{
		{"blocks without self-service after-sales", false, "jd.enroll.after_sales"},
		{"passes with self-service after-sales", true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := jdFreshShop(t, true, func(r *RegisterShop) { r.AfterSalesSelfService = tc.afterSales })
			if tc.code != "" {
				f.rejects(asMain, jdEnroll(f), tc.code)
			} else {
				f.must(asMain, jdEnroll(f))
				if !f.s.ToolEnabled {
					t.Fatal("enrolled but the tool is not enabled")
				}
			}
			f.replayEquals()
		})
	}
}

// TestJDEnrollWallet pins jd.enroll.wallet: the enterprise wallet must be
// opened before enrollment.
func TestJDEnrollWallet(t *testing.T) {
	f := jdFreshShop(t, false, nil)
	pinRun(t, f, []pinStep{
		{name: "blocks: enroll before the wallet is opened", actor: asMain, cmd: jdEnroll(f), code: "jd.enroll.wallet"},
		{name: "open the wallet", actor: asMain, cmd: OpenFundingAccount{Ref: f.ref(), Kind: AccountWallet}},
		{name: "passes: enroll once the wallet is opened", actor: asMain, cmd: jdEnroll(f),
			then: func(t *testing.T, _ []Payload) {
				if !f.s.ToolEnabled {
					t.Fatal("the tool is not enabled")
				}
			}},
	})
}

// TestJDEnrollAgreement pins jd.enroll.agreement: the agreement is accepted,
// by the main account only; until then (or after the tool is switched off)
// no payout.
func TestJDEnrollAgreement(t *testing.T) {
	t.Run("blocks without accepting the agreement", func(t *testing.T) {
		f := jdFreshShop(t, true, nil)
		f.rejects(asMain, EnrollShop{Ref: f.ref(), AcceptAgreement: false}, "jd.enroll.agreement")
		f.replayEquals()
	})
	t.Run("blocks acceptance by a sub account", func(t *testing.T) {
		f := jdFreshShop(t, true, nil)
		f.rejects(jdSub, jdEnroll(f), "jd.enroll.agreement")
		f.replayEquals()
	})
	t.Run("blocks a payout before enrollment", func(t *testing.T) {
		f := jdFreshShop(t, true, nil)
		f.rejects(asMain, f.payout("P1", "10", nil), "jd.enroll.agreement")
		f.replayEquals()
	})
	t.Run("blocks a payout after the tool is switched off", func(t *testing.T) {
		f := newFixture(t, PlatformJD)
		f.must(asMain, DisableTool{Ref: f.ref(), Reason: "paused"})
		f.rejects(asMain, f.payout("P1", "10", nil), "jd.enroll.agreement")
		f.must(asMain, jdEnroll(f))
		f.must(asMain, f.payout("P1", "10", nil))
		f.replayEquals()
	})
	t.Run("passes: the main account accepts, then pays out", func(t *testing.T) {
		f := jdFreshShop(t, true, nil)
		f.must(asMain, jdEnroll(f))
		f.must(asMain, f.payout("P1", "10", nil))
		pinStatus(t, f, "P1", StatusPending)
		f.replayEquals()
	})
}

// ---- jd.staff.* ---------------------------------------------------------------

// TestJDStaffPermission pins jd.staff.permission: a sub account pays out only
// with an enabled quota, and only the main account manages quotas.
func TestJDStaffPermission(t *testing.T) {
	const code = "jd.staff.permission"
	cases := []struct {
		name  string
		setup func(f *fixture)
		actor Actor
		cmd   func(f *fixture) Command
		code  string
	}{
		{name: "blocks a sub with no quota", actor: jdSub,
			cmd: func(f *fixture) Command { return f.payout("P1", "10", nil) }, code: code},
		{name: "blocks a sub whose quota is disabled", actor: jdSub,
			setup: func(f *fixture) {
				f.must(asMain, jdGrant(f, "", ""))
				f.must(asMain, DisableStaffQuota{Ref: f.ref(), Staff: subID})
			},
			cmd: func(f *fixture) Command { return f.payout("P1", "10", nil) }, code: code},
		{name: "blocks a sub whose quota was deleted", actor: jdSub,
			setup: func(f *fixture) {
				f.must(asMain, jdGrant(f, "", ""))
				f.must(asMain, DeleteStaffQuota{Ref: f.ref(), Staff: subID})
			},
			cmd: func(f *fixture) Command { return f.payout("P1", "10", nil) }, code: code},
		{name: "blocks another sub than the one granted", actor: jdSub2,
			setup: func(f *fixture) { f.must(asMain, jdGrant(f, "", "")) },
			cmd:   func(f *fixture) Command { return f.payout("P1", "10", nil) }, code: code},
		{name: "blocks quota creation by a sub", actor: jdSub,
			cmd: func(f *fixture) Command { return jdGrant(f, "50", "100") }, code: code},
		{name: "blocks quota change by a sub", actor: jdSub,
			setup: func(f *fixture) { f.must(asMain, jdGrant(f, "50", "100")) },
			cmd: func(f *fixture) Command {
				return ChangeStaffQuota{Ref: f.ref(), Staff: subID, PerPayout: moneyp("500")}
			}, code: code},
		{name: "blocks quota disabling by a sub", actor: jdSub,
			setup: func(f *fixture) { f.must(asMain, jdGrant(f, "50", "100")) },
			cmd:   func(f *fixture) Command { return DisableStaffQuota{Ref: f.ref(), Staff: subID} }, code: code},
		{name: "blocks quota enabling by a sub", actor: jdSub,
			setup: func(f *fixture) {
				f.must(asMain, jdGrant(f, "50", "100"))
				f.must(asMain, DisableStaffQuota{Ref: f.ref(), Staff: subID})
			},
			cmd: func(f *fixture) Command { return EnableStaffQuota{Ref: f.ref(), Staff: subID} }, code: code},
		{name: "blocks quota deletion by a sub", actor: jdSub,
			setup: func(f *fixture) { f.must(asMain, jdGrant(f, "50", "100")) },
			cmd:   func(f *fixture) Command { return DeleteStaffQuota{Ref: f.ref(), Staff: subID} }, code: code},
		{name: "passes a sub with an enabled quota", actor: jdSub,
			setup: func(f *fixture) { f.must(asMain, jdGrant(f, "", "")) },
			cmd:   func(f *fixture) Command { return f.payout("P1", "10", nil) }},
		{name: "passes a sub whose quota was enabled again", actor: jdSub,
			setup: func(f *fixture) {
				f.must(asMain, jdGrant(f, "", ""))
				f.must(asMain, DisableStaffQuota{Ref: f.ref(), Staff: subID})
				f.must(asMain, EnableStaffQuota{Ref: f.ref(), Staff: subID})
			},
			cmd: func(f *fixture) Command { return f.payout("P1", "10", nil) }},
		{name: "passes the main account without a quota", actor: asMain,
			cmd: func(f *fixture) Command { return f.payout("P1", "10", nil) }},
		{name: "passes quota creation by the main account", actor: asMain,
			cmd: func(f *fixture) Command { return jdGrant(f, "50", "100") }},
		{name: "passes quota change, disable, enable and delete by the main account", actor: asMain,
			setup: func(f *fixture) {
				f.must(asMain, jdGrant(f, "50", "100"))
				f.must(asMain, ChangeStaffQuota{Ref: f.ref(), Staff: subID, PerPayout: moneyp("60")})
				f.must(asMain, DisableStaffQuota{Ref: f.ref(), Staff: subID})
				f.must(asMain, EnableStaffQuota{Ref: f.ref(), Staff: subID})
			},
			cmd: func(f *fixture) Command { return DeleteStaffQuota{Ref: f.ref(), Staff: subID} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, PlatformJD)
			if tc.setup != nil {
				tc.setup(f)
			}
			if tc.code != "" {
				f.rejects(tc.actor, tc.cmd(f), tc.code)
			} else {
				f.must(tc.actor, tc.cmd(f))
			}
			f.replayEquals()
		})
	}
}

// TestJDStaffPerPayout pins jd.staff.per_payout: a sub account's payout is
// at most its per-payout quota.
func TestJDStaffPerPayout(t *testing.T) {
	cases := []struct {
		name, perPayout, amount, code string
	}{
		{"blocks one cent above the quota", "50", "50.01", "jd.staff.per_payout"},
		{"passes exactly the quota", "50", "50", ""},
		{"passes no per-payout limit", "", "5000", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, PlatformJD)
			f.must(asMain, jdGrant(f, tc.perPayout, ""))
			cmd := f.payout("P1", tc.amount, nil)
			if tc.code != "" {
				r := f.rejects(jdSub, cmd, tc.code)
				pinNumbers(t, r, tc.perPayout, "0", tc.amount)
				// The main account raises the quota: the same payout passes.
				f.must(asMain, ChangeStaffQuota{Ref: f.ref(), Staff: subID, PerPayout: moneyp(tc.amount)})
			}
			f.must(jdSub, cmd)
			pinStatus(t, f, "P1", StatusPending)
			f.replayEquals()
		})
	}
}

// TestJDStaffDaily pins jd.staff.daily: a sub account's payouts of a local
// day are at most its per-day quota; used+amount == quota passes, one cent
// more is refused; a failed payout releases its usage; a new day starts
// afresh.
func TestJDStaffDaily(t *testing.T) {
	const code = "jd.staff.daily"
	f := newFixture(t, PlatformJD)
	f.must(asMain, jdGrant(f, "", "100"))
	used := func(want string) func(*testing.T, []Payload) {
		return func(t *testing.T, _ []Payload) {
			t.Helper()
			pinMoney(t, "staff usage", f.s.StaffDayTotals(subID, "2026-11-23").Amount, want)
		}
	}
	beforeMidnight := pinLocal(2026, 11, 23, 23, 59, 59).Sub(t0)
	midnight := pinLocal(2026, 11, 24, 0, 0, 0).Sub(t0)
	pinRun(t, f, []pinStep{
		{name: "60 of 100", actor: jdSub, cmd: pinPayoutOn(f, "P1", "O1", "60", nil), then: used("60")},
		{name: "passes: 40 more reaches exactly 100", actor: jdSub, cmd: pinPayoutOn(f, "P2", "O2", "40", nil), then: used("100")},
		{name: "blocks: one cent above the day's quota", actor: jdSub, cmd: pinPayoutOn(f, "P3", "O3", "0.01", nil), code: code,
			why: func(t *testing.T, r *Rejection) { pinNumbers(t, r, "100", "100", "0.01") }},
		{name: "the main account is not bound by the sub's quota", actor: asMain, cmd: pinPayoutOn(f, "P4", "O4", "500", nil), then: used("100")},
		{name: "P2 fails and releases its usage", actor: asOperator, cmd: MarkPayoutFailed{Ref: f.ref(), PayoutID: "P2", Reason: "bank"}, then: used("60")},
		{name: "passes: 40 again after the release", actor: jdSub, cmd: pinPayoutOn(f, "P5", "O3", "40", nil), then: used("100")},
		{name: "blocks: still the same local day at 23:59:59", at: beforeMidnight, actor: jdSub, cmd: pinPayoutOn(f, "P6", "O5", "1", nil), code: code},
		{name: "passes: a new local day at 00:00", at: midnight, actor: jdSub, cmd: pinPayoutOn(f, "P6", "O5", "100", nil),
			then: func(t *testing.T, _ []Payload) {
				pinMoney(t, "next day usage", f.s.StaffDayTotals(subID, "2026-11-24").Amount, "100")
			}},
	})
}

// ---- jd.verify.sms ------------------------------------------------------------

// TestJDVerifySMS pins jd.verify.sms: a payout above the main account's
// password-free threshold needs an SMS verification; at or below it does
// not; the default threshold 0 means every payout is verified.
func TestJDVerifySMS(t *testing.T) {
	const code = "jd.verify.sms"
	cases := []struct {
		name      string
		threshold string // "" = the default (0)
		actor     Actor
		amount    string
		sms       bool
		code      string
	}{
		{"blocks the smallest payout without SMS at the default threshold 0", "", asMain, "0.01", false, code},
		{"passes the smallest payout with SMS at the default threshold", "", asMain, "0.01", true, ""},
		{"blocks one cent above the threshold without SMS", "50", asMain, "50.01", false, code},
		{"passes exactly the threshold without SMS", "50", asMain, "50", false, ""},
		{"passes below the threshold without SMS", "50", asMain, "10", false, ""},
		{"passes above the threshold with SMS", "50", asMain, "50.01", true, ""},
		{"blocks a sub account above the threshold without SMS", "50", jdSub, "50.01", false, code},
		{"passes a sub account at the threshold without SMS", "50", jdSub, "50", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, PlatformJD)
			f.must(asMain, jdGrant(f, "", ""))
			threshold := "0"
			if tc.threshold != "" {
				threshold = tc.threshold
				f.must(asMain, SetShopLimits{Ref: f.ref(), PasswordFreeThreshold: moneyp(tc.threshold)})
			}
			pinMoney(t, "password-free threshold", f.s.PasswordFree, threshold)
			cmd := f.payout("P1", tc.amount, func(c *InitiatePayout) { c.SMSVerified = tc.sms })
			if tc.code != "" {
				r := f.rejects(tc.actor, cmd, tc.code)
				pinNumbers(t, r, threshold, "0", tc.amount)
			} else {
				evs := f.must(tc.actor, cmd)
				if e := pinEvent[PayoutInitiated](t, evs); e.Route != RouteSMS || e.Status != StatusPending {
					t.Fatalf("route %s status %s, want %s %s", e.Route, e.Status, RouteSMS, StatusPending)
				}
			}
			f.replayEquals()
		})
	}
}

// ---- jd.order.status ------------------------------------------------------------

// TestJDOrderStatus pins jd.order.status: any order status except unpaid,
// locked, cancelling and cancelled.
func TestJDOrderStatus(t *testing.T) {
	cases := []struct {
		status OrderStatus
		code   string
	}{
		{OrderUnpaid, "jd.order.status"},
		{OrderLocked, "jd.order.status"},
		{OrderCancelling, "jd.order.status"},
		{OrderCancelled, "jd.order.status"},
		{OrderPaid, ""},
		{OrderShipped, ""},
		{OrderReceived, ""},
		{OrderCompleted, ""},
		{OrderClosed, ""},
	}
	for _, tc := range cases {
		verb := "passes"
		if tc.code != "" {
			verb = "blocks"
		}
		t.Run(verb+" "+string(tc.status), func(t *testing.T) {
			f := newFixture(t, PlatformJD)
			f.order("O1", func(o *RegisterOrder) { o.Status = tc.status })
			cmd := f.payout("P1", "10", nil)
			if tc.code != "" {
				r := f.rejects(asMain, cmd, tc.code)
				if r.Details["status"] != string(tc.status) {
					t.Fatalf("details %v, want status %s", r.Details, tc.status)
				}
				// The order moves on (e.g. unlocked, shipped): now it passes.
				f.order("O1", func(o *RegisterOrder) { o.Status = OrderShipped })
			}
			f.must(asMain, cmd)
			pinStatus(t, f, "P1", StatusPending)
			f.replayEquals()
		})
	}
}

// ---- jd.limits ------------------------------------------------------------------

// TestJDLimits pins jd.limits: merchant-set per-payout, per-order and daily
// limits, all reported as jd.limits; by default (the guide gives no number)
// everything is unlimited.
func TestJDLimits(t *testing.T) {
	const code = "jd.limits"
	setLimits := func(f *fixture, l Limits) pinStep {
		return pinStep{name: "the merchant sets limits", actor: asMain, cmd: SetShopLimits{Ref: f.ref(), Limits: l}}
	}
	typed := func(typ PayoutType) func(*InitiatePayout) {
		return func(c *InitiatePayout) { c.Type = typ }
	}
	cases := []struct {
		name  string
		steps func(f *fixture) []pinStep
	}{
		{"passes a large payout and many on one order with no limits set", func(f *fixture) []pinStep {
			steps := []pinStep{{name: "50000 passes", actor: asMain, cmd: f.payout("P1", "50000", nil)}}
			for i, typ := range []PayoutType{TypePriceDifference, TypeService, TypeActivityCompensation, TypeOther} {
				steps = append(steps, pinStep{name: "another payout on O1: " + string(typ), actor: asMain,
					cmd: f.payout("Q"+string(rune('1'+i)), "1000", typed(typ))})
			}
			return steps
		}},
		{"per-payout: blocks 50.01, passes 50", func(f *fixture) []pinStep {
			return []pinStep{
				setLimits(f, Limits{PerPayoutMax: moneyp("50")}),
				{name: "blocks 50.01", actor: asMain, cmd: f.payout("P1", "50.01", nil), code: code},
				{name: "passes 50", actor: asMain, cmd: f.payout("P1", "50", nil)},
			}
		}},
		{"per-order count: blocks the third on an order of two, a failed one releases", func(f *fixture) []pinStep {
			return []pinStep{
				setLimits(f, Limits{PerOrderCount: intp(2)}),
				{name: "first", actor: asMain, cmd: f.payout("P1", "10", nil)},
				{name: "passes the second", actor: asMain, cmd: f.payout("P2", "10", typed(TypePriceDifference))},
				{name: "blocks the third", actor: asMain, cmd: f.payout("P3", "10", typed(TypeService)), code: code},
				{name: "P1 fails", actor: asOperator, cmd: MarkPayoutFailed{Ref: f.ref(), PayoutID: "P1"}},
				{name: "passes the third after the release", actor: asMain, cmd: f.payout("P3", "10", typed(TypeService))},
			}
		}},
		{"per-order amount: 60 + 40 of 100 passes, 0.01 more blocks", func(f *fixture) []pinStep {
			return []pinStep{
				setLimits(f, Limits{PerOrderMax: moneyp("100")}),
				{name: "60", actor: asMain, cmd: f.payout("P1", "60", nil)},
				{name: "passes 40 to exactly 100", actor: asMain, cmd: f.payout("P2", "40", typed(TypePriceDifference))},
				{name: "blocks 0.01 more", actor: asMain, cmd: f.payout("P3", "0.01", typed(TypeService)), code: code},
			}
		}},
		{"daily count: blocks the third of two a day, passes the next day", func(f *fixture) []pinStep {
			return []pinStep{
				setLimits(f, Limits{DailyCount: intp(2)}),
				{name: "first", actor: asMain, cmd: pinPayoutOn(f, "P1", "O1", "10", nil)},
				{name: "passes the second", actor: asMain, cmd: pinPayoutOn(f, "P2", "O2", "10", nil)},
				{name: "blocks the third", actor: asMain, cmd: pinPayoutOn(f, "P3", "O3", "10", nil), code: code},
				{name: "passes the next day", at: 24 * time.Hour, actor: asMain, cmd: pinPayoutOn(f, "P3", "O3", "10", nil)},
			}
		}},
		{"daily amount: 60 + 40 of 100 passes, 0.01 more blocks, a failed one releases", func(f *fixture) []pinStep {
			return []pinStep{
				setLimits(f, Limits{DailyAmount: moneyp("100")}),
				{name: "60", actor: asMain, cmd: pinPayoutOn(f, "P1", "O1", "60", nil)},
				{name: "passes 40 to exactly 100", actor: asMain, cmd: pinPayoutOn(f, "P2", "O2", "40", nil)},
				{name: "blocks 0.01 more", actor: asMain, cmd: pinPayoutOn(f, "P3", "O3", "0.01", nil), code: code},
				{name: "P2 fails", actor: asOperator, cmd: MarkPayoutFailed{Ref: f.ref(), PayoutID: "P2"}},
				{name: "passes 40 again", actor: asMain, cmd: pinPayoutOn(f, "P3", "O3", "40", nil)},
			}
		}},
		{"limits set at enrollment apply too", func(f *fixture) []pinStep {
			return []pinStep{
				{name: "re-enroll with a per-payout limit", actor: asMain, cmd: EnrollShop{Ref: f.ref(), AcceptAgreement: true, Limits: Limits{PerPayoutMax: moneyp("20")}}},
				{name: "blocks 20.01", actor: asMain, cmd: f.payout("P1", "20.01", nil), code: code},
				{name: "passes 20", actor: asMain, cmd: f.payout("P1", "20", nil)},
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, PlatformJD)
			pinRun(t, f, tc.steps(f))
		})
	}
}

// ---- jd.funds.* -------------------------------------------------------------------

// TestJDFundsInsufficient pins jd.funds.insufficient: the wallet's available
// balance (frozen funds and pending payouts excluded) covers the payout.
func TestJDFundsInsufficient(t *testing.T) {
	const code = "jd.funds.insufficient"
	t.Run("passes the exact balance, blocks one cent more", func(t *testing.T) {
		f := newFixture(t, PlatformJD)
		pinRun(t, f, []pinStep{
			{name: "passes the whole balance", actor: asMain, cmd: pinPayoutOn(f, "P1", "O1", "100000", nil),
				then: func(t *testing.T, _ []Payload) { pinAccount(t, f, AccountWallet, "100000", "100000", "0") }},
			{name: "blocks one cent more", actor: asMain, cmd: pinPayoutOn(f, "P2", "O2", "0.01", nil), code: code,
				why: func(t *testing.T, r *Rejection) { pinNumbers(t, r, "0", "0", "0.01") }},
			{name: "P1 fails and releases its hold", actor: asOperator, cmd: MarkPayoutFailed{Ref: f.ref(), PayoutID: "P1"},
				then: func(t *testing.T, _ []Payload) { pinAccount(t, f, AccountWallet, "100000", "0", "100000") }},
			{name: "passes again", actor: asMain, cmd: pinPayoutOn(f, "P2", "O2", "100000", nil)},
		})
	})
	t.Run("frozen funds are excluded", func(t *testing.T) {
		f := newFixture(t, PlatformJD)
		pinRun(t, f, []pinStep{
			{name: "freeze all but 100", actor: asOperator, cmd: FreezeFunds{Ref: f.ref(), Kind: AccountWallet, Amount: money("99900")}},
			{name: "blocks 100.01", actor: asMain, cmd: pinPayoutOn(f, "P1", "O1", "100.01", nil), code: code},
			{name: "passes exactly 100", actor: asMain, cmd: pinPayoutOn(f, "P1", "O1", "100", nil),
				then: func(t *testing.T, _ []Payload) { pinAccount(t, f, AccountWallet, "100000", "100", "0") }},
			{name: "blocks 0.01 more", actor: asMain, cmd: pinPayoutOn(f, "P2", "O2", "0.01", nil), code: code},
			{name: "unfreeze 0.01", actor: asOperator, cmd: UnfreezeFunds{Ref: f.ref(), Kind: AccountWallet, Amount: money("0.01")}},
			{name: "passes 0.01", actor: asMain, cmd: pinPayoutOn(f, "P2", "O2", "0.01", nil)},
		})
	})
	t.Run("a succeeded payout leaves the balance", func(t *testing.T) {
		f := newFixture(t, PlatformJD)
		pinRun(t, f, []pinStep{
			{name: "60000", actor: asMain, cmd: pinPayoutOn(f, "P1", "O1", "60000", nil)},
			{name: "processing", actor: asOperator, cmd: MarkPayoutProcessing{Ref: f.ref(), PayoutID: "P1"}},
			{name: "succeeded", actor: asOperator, cmd: MarkPayoutSucceeded{Ref: f.ref(), PayoutID: "P1"},
				then: func(t *testing.T, _ []Payload) { pinAccount(t, f, AccountWallet, "40000", "0", "40000") }},
			{name: "blocks 40000.01", actor: asMain, cmd: pinPayoutOn(f, "P2", "O2", "40000.01", nil), code: code},
			{name: "passes 40000", actor: asMain, cmd: pinPayoutOn(f, "P2", "O2", "40000", nil)},
		})
	})
}

// TestJDFundsArrears pins jd.funds.arrears: no payout while the merchant
// account has arrears.
func TestJDFundsArrears(t *testing.T) {
	f := newFixture(t, PlatformJD)
	pinRun(t, f, []pinStep{
		{name: "arrears of one cent", actor: asOperator, cmd: SetArrears{Ref: f.ref(), Kind: AccountWallet, Amount: money("0.01")}},
		{name: "blocks a payout", actor: asMain, cmd: f.payout("P1", "10", nil), code: "jd.funds.arrears"},
		{name: "arrears cleared", actor: asOperator, cmd: SetArrears{Ref: f.ref(), Kind: AccountWallet, Amount: decimal.Zero}},
		{name: "passes the same payout", actor: asMain, cmd: f.payout("P1", "10", nil),
			then: func(t *testing.T, _ []Payload) { pinStatus(t, f, "P1", StatusPending) }},
	})
}

// ---- jd.records.export ----------------------------------------------------------

// TestJDRecordsExport pins jd.records.export: records are searched by payout
// ID, order ID and a well-formed time range; a bad query is refused with the
// JD code.
func TestJDRecordsExport(t *testing.T) {
	p, ok := LookupProfile(PlatformJD)
	if !ok {
		t.Fatal("no JD profile")
	}
	cases := []struct {
		name string
		q    RecordsQuery
		code string
	}{
		{"blocks from after to", RecordsQuery{From: t0.Add(time.Hour), To: t0}, "jd.records.export"},
		{"blocks an empty range (from == to)", RecordsQuery{From: t0, To: t0}, "jd.records.export"},
		{"blocks a malformed payout ID", RecordsQuery{PayoutID: "P 1"}, "jd.records.export"},
		{"blocks a page above the bound", RecordsQuery{Limit: MaxRecordsPage + 1}, "jd.records.export"},
		{"passes a one-second range", RecordsQuery{From: t0, To: t0.Add(time.Second)}, ""},
		{"passes a day's range", RecordsQuery{From: t0, To: t0.Add(24 * time.Hour), Limit: MaxRecordsPage}, ""},
		{"passes by payout ID", RecordsQuery{PayoutID: "P1"}, ""},
		{"passes by order ID over a range", RecordsQuery{OrderID: "O1", From: t0.Add(-30 * 24 * time.Hour), To: t0}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateRecordsQuery(p, tc.q)
			if got := CodeOf(err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
			if tc.code == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
		})
	}
}
