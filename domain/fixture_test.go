package domain

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// The fixture: one shop per platform, ready to pay out, on an injected
// clock. Tests move the clock with f.at / f.advance; nothing sleeps.

var shanghai = loadZone("Asia/Shanghai")

// t0 is a Monday, 10:00 in Shanghai.
var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)

const (
	mainID = "M1"
	subID  = "S1"
	opID   = "OP"
)

var (
	asMain     = Actor{ID: mainID, Role: RoleMain}
	asSub      = Actor{ID: subID, Role: RoleSub}
	asOperator = Actor{ID: opID, Role: RoleOperator}
	asSystem   = Actor{ID: "timer", Role: RoleSystem}
)

type fixture struct {
	t   *testing.T
	s   *Shop
	now time.Time
	log []Payload // every accepted event, for replay checks
}

func money(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func moneyp(s string) *decimal.Decimal { d := money(s); return &d }

// newFixture registers a shop of the platform, enrolls it, opens and funds
// its account and registers an eligible order "O1" of 100.00 cash.
func newFixture(t *testing.T, platform PlatformID) *fixture {
	t.Helper()
	f := &fixture{t: t, s: NewShop(ShopRef{Platform: platform, ShopID: "shop1"}), now: t0}
	reg := RegisterShop{Ref: f.ref(), Name: "test shop", MainAccount: mainID}
	if platform == PlatformJD {
		reg.EntityType, reg.CooperationMode, reg.AfterSalesSelfService = "enterprise", "sop", true
	}
	f.must(asOperator, reg)
	switch platform {
	case Platform1688:
		f.must(asMain, OpenFundingAccount{Ref: f.ref(), Kind: AccountReserve})
		f.must(asMain, TopUp{Ref: f.ref(), Kind: AccountReserve, Amount: money("100000")})
	case PlatformDouyin:
		f.must(asMain, OpenFundingAccount{Ref: f.ref(), Kind: AccountProceeds})
		f.must(asOperator, CreditProceeds{Ref: f.ref(), Amount: money("100000")})
		f.must(asMain, OpenFundingAccount{Ref: f.ref(), Kind: AccountReserve})
		f.must(asMain, TopUp{Ref: f.ref(), Kind: AccountReserve, Amount: money("1000")})
	case PlatformJD:
		f.must(asMain, OpenFundingAccount{Ref: f.ref(), Kind: AccountWallet})
		f.must(asMain, TopUp{Ref: f.ref(), Kind: AccountWallet, Amount: money("100000")})
	case PlatformPDD:
		f.must(asMain, OpenFundingAccount{Ref: f.ref(), Kind: AccountProceeds})
		f.must(asOperator, CreditProceeds{Ref: f.ref(), Amount: money("100000")})
	}
	if p := f.s.Profile(); p.Agreement != nil {
		f.must(asMain, EnrollShop{Ref: f.ref(), AcceptAgreement: true})
	}
	f.order("O1", nil)
	return f
}

func (f *fixture) ref() Ref { return Ref{ShopRef: f.s.Ref} }

func (f *fixture) req(a Actor) Request { return Request{Now: f.now, Actor: a} }

// do executes a command at the fixture's clock; accepted events are applied
// and logged.
func (f *fixture) do(a Actor, cmd Command) ([]Payload, error) {
	f.t.Helper()
	before := f.s.Version
	evs, err := Execute(f.s, cmd, f.req(a))
	if err != nil {
		if f.s.Version != before {
			f.t.Fatalf("%s rejected but the state moved", cmd.CommandName())
		}
		return nil, err
	}
	f.log = append(f.log, evs...)
	return evs, nil
}

func (f *fixture) must(a Actor, cmd Command) []Payload {
	f.t.Helper()
	evs, err := f.do(a, cmd)
	if err != nil {
		f.t.Fatalf("%s: unexpected rejection: %v", cmd.CommandName(), err)
	}
	return evs
}

// rejects asserts the exact rule code and that nothing changed.
func (f *fixture) rejects(a Actor, cmd Command, code string) *Rejection {
	f.t.Helper()
	_, err := f.do(a, cmd)
	if err == nil {
		f.t.Fatalf("%s: accepted, want rejection %s", cmd.CommandName(), code)
	}
	r, ok := err.(*Rejection)
	if !ok {
		f.t.Fatalf("%s: error %T %v is not a *Rejection", cmd.CommandName(), err, err)
	}
	if r.Code != code {
		f.t.Fatalf("%s: rejected with %s (%v), want %s", cmd.CommandName(), r.Code, r, code)
	}
	return r
}

func (f *fixture) at(t time.Time)          { f.now = t }
func (f *fixture) advance(d time.Duration) { f.now = f.now.Add(d) }

// order registers (or re-registers) an eligible order of 100.00 cash for
// the fixture's platform; mod adjusts it.
func (f *fixture) order(id string, mod func(*RegisterOrder)) {
	f.t.Helper()
	placed := f.now.Add(-24 * time.Hour)
	o := RegisterOrder{
		Ref: f.ref(), OrderID: id, Buyer: "B1", CashPaid: money("100"), OtherPaid: decimal.Zero,
		Status: OrderPaid, PaymentMode: "online", PaymentKind: "normal", Channel: "douyin",
		PlacedAt: placed, PaidAt: &placed, GroupFormedAt: &placed,
	}
	if mod != nil {
		mod(&o)
	}
	f.must(asOperator, o)
}

// payout is a valid InitiatePayout on order O1; mod adjusts it.
func (f *fixture) payout(id string, amount string, mod func(*InitiatePayout)) InitiatePayout {
	c := InitiatePayout{
		Ref: f.ref(), PayoutID: id, OrderID: "O1", Amount: money(amount), Type: TypeShipping,
		Reason: "shipping fee", Message: "sorry", SMSVerified: true,
	}
	if mod != nil {
		mod(&c)
	}
	return c
}

// replayEquals checks that replaying the accepted events reproduces the
// state exactly (the same Apply serves replay and live).
func (f *fixture) replayEquals() {
	f.t.Helper()
	r := Replay(f.s.Ref, f.log)
	// The fixture's state was built by the same events; compare by value.
	if !shopsEqual(r, f.s) {
		f.t.Fatalf("replay differs from live state")
	}
}
