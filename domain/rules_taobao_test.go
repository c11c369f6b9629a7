package domain

import (
	"testing"
	"time"
)

// Rule tests for Taobao collections (RULES.md "Taobao: 小额收款 (taobao)"),
// named after the rule IDs they pin. Shared "pin" helpers are in
// rules_jd_test.go.

// tbCard is a collection card on order O1 with a valid reason.
func tbCard(f *fixture, id, amount string, reason CollectionReason) SendCollectionCard {
	return SendCollectionCard{Ref: f.ref(), CollectionID: id, OrderID: "O1", Amount: money(amount), Reason: reason}
}

// tbStatus asserts a collection card's status.
func tbStatus(t *testing.T, f *fixture, id string, want CollectionStatus) {
	t.Helper()
	c := f.s.Collections[id]
	if c == nil {
		t.Fatalf("collection %s is unknown", id)
	}
	if c.Status != want {
		t.Fatalf("collection %s is %s, want %s", id, c.Status, want)
	}
}

// tbFreshShop registers a Taobao shop that has not enrolled, with order O1
// of 100.00.
func tbFreshShop(t *testing.T) *fixture {
	t.Helper()
	f := pinFreshShop(t, PlatformTaobao, nil)
	f.order("O1", nil)
	return f
}

// TestTBEnrollAgreement pins tb.enroll.agreement: the merchant agrees and
// enables the tool on first use (main account); until then, or after the
// tool is switched off, no card is sent.
func TestTBEnrollAgreement(t *testing.T) {
	const code = "tb.enroll.agreement"
	t.Run("blocks a card from a shop that did not enroll", func(t *testing.T) {
		f := tbFreshShop(t)
		if f.s.ToolEnabled {
			t.Fatal("a fresh Taobao shop has the tool enabled")
		}
		f.rejects(asMain, tbCard(f, "C1", "10", ReasonShippingDifference), code)
		f.replayEquals()
	})
	t.Run("blocks enrolling without accepting", func(t *testing.T) {
		f := tbFreshShop(t)
		f.rejects(asMain, EnrollShop{Ref: f.ref(), AcceptAgreement: false}, code)
		f.replayEquals()
	})
	t.Run("blocks acceptance by a sub account", func(t *testing.T) {
		f := tbFreshShop(t)
		f.rejects(asSub, EnrollShop{Ref: f.ref(), AcceptAgreement: true}, code)
		f.replayEquals()
	})
	t.Run("passes: the main account accepts, then a card is sent", func(t *testing.T) {
		f := tbFreshShop(t)
		f.must(asMain, EnrollShop{Ref: f.ref(), AcceptAgreement: true})
		evs := f.must(asSub, tbCard(f, "C1", "10", ReasonShippingDifference))
		if e := pinEvent[CollectionCardSent](t, evs); e.Staff != subID || !e.Amount.Equal(money("10")) {
			t.Fatalf("card %+v", e)
		}
		tbStatus(t, f, "C1", CollectionSent)
		f.replayEquals()
	})
	t.Run("blocks a card after the tool is switched off, passes once enrolled again", func(t *testing.T) {
		f := newFixture(t, PlatformTaobao)
		f.must(asMain, DisableTool{Ref: f.ref()})
		f.rejects(asMain, tbCard(f, "C1", "10", ReasonShippingDifference), code)
		f.must(asMain, EnrollShop{Ref: f.ref(), AcceptAgreement: true})
		f.must(asMain, tbCard(f, "C1", "10", ReasonShippingDifference))
		f.replayEquals()
	})
}

// TestTBCollectReason pins tb.collect.reason: the reason is one of shipping,
// goods or other difference; no custom reasons. Tag and remark are optional.
func TestTBCollectReason(t *testing.T) {
	const code = "tb.collect.reason"
	cases := []struct {
		name   string
		reason CollectionReason
		tag    string
		code   string
	}{
		{"blocks a custom reason", "repair fee", "", code},
		{"blocks a custom reason with a known word", "shipping", "", code},
		{"blocks an empty reason", "", "", code},
		{"passes shipping difference", ReasonShippingDifference, "", ""},
		{"passes goods difference", ReasonGoodsDifference, "", ""},
		{"passes other difference, with a tag and remark", ReasonOtherDifference, "custom-made", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, PlatformTaobao)
			cmd := tbCard(f, "C1", "10", tc.reason)
			cmd.Tag = tc.tag
			if tc.tag != "" {
				cmd.Remark = "internal note"
			}
			if tc.code != "" {
				f.rejects(asMain, cmd, tc.code)
			} else {
				e := pinEvent[CollectionCardSent](t, f.must(asMain, cmd))
				if e.Reason != tc.reason || e.Tag != cmd.Tag || e.Remark != cmd.Remark {
					t.Fatalf("card carries %q/%q/%q", e.Reason, e.Tag, e.Remark)
				}
			}
			f.replayEquals()
		})
	}
}

// TestTBCollectOrderTotal pins tb.collect.order_total: open and paid cards
// of an order never exceed the original order amount; a cancelled or expired
// card releases its amount.
func TestTBCollectOrderTotal(t *testing.T) {
	const code = "tb.collect.order_total"
	day3 := 72 * time.Hour
	cases := []struct {
		name  string
		steps func(f *fixture) []pinStep
	}{
		{"order 100: 30 then 70 passes, then 0.01 blocks, paid cards count", func(f *fixture) []pinStep {
			return []pinStep{
				{name: "30", actor: asMain, cmd: tbCard(f, "C1", "30", ReasonShippingDifference)},
				{name: "passes 70 (exactly 100)", actor: asMain, cmd: tbCard(f, "C2", "70", ReasonGoodsDifference)},
				{name: "blocks 0.01 more", actor: asMain, cmd: tbCard(f, "C3", "0.01", ReasonOtherDifference), code: code,
					why: func(t *testing.T, r *Rejection) { pinNumbers(t, r, "100", "100", "0.01") }},
				{name: "C1 is paid", actor: asOperator, cmd: PayCollection{Ref: f.ref(), CollectionID: "C1"}},
				{name: "blocks 0.01: a paid card still counts", actor: asMain, cmd: tbCard(f, "C3", "0.01", ReasonOtherDifference), code: code},
			}
		}},
		{"a cancelled card releases its amount", func(f *fixture) []pinStep {
			return []pinStep{
				{name: "30", actor: asMain, cmd: tbCard(f, "C1", "30", ReasonShippingDifference)},
				{name: "70", actor: asMain, cmd: tbCard(f, "C2", "70", ReasonGoodsDifference)},
				{name: "cancel C1", actor: asMain, cmd: CancelCard{Ref: f.ref(), CollectionID: "C1"}},
				{name: "blocks 30.01", actor: asMain, cmd: tbCard(f, "C3", "30.01", ReasonOtherDifference), code: code,
					why: func(t *testing.T, r *Rejection) { pinNumbers(t, r, "100", "70", "30.01") }},
				{name: "passes 30", actor: asMain, cmd: tbCard(f, "C3", "30", ReasonOtherDifference)},
			}
		}},
		{"an expired card releases its amount", func(f *fixture) []pinStep {
			return []pinStep{
				{name: "30", actor: asMain, cmd: tbCard(f, "C1", "30", ReasonShippingDifference)},
				{name: "70, an hour later", at: time.Hour, actor: asMain, cmd: tbCard(f, "C2", "70", ReasonGoodsDifference)},
				{name: "C1 expires at 72h", at: day3, actor: asSystem, cmd: ExpireCard{Ref: f.ref(), ID: "C1"}},
				{name: "blocks 30.01", at: day3, actor: asMain, cmd: tbCard(f, "C3", "30.01", ReasonOtherDifference), code: code},
				{name: "passes 30 (sent again)", at: day3, actor: asMain, cmd: tbCard(f, "C3", "30", ReasonShippingDifference)},
			}
		}},
		{"the order amount includes other means of payment", func(f *fixture) []pinStep {
			return []pinStep{
				{name: "order 90 cash + 10 red packet", actor: asOperator, cmd: RegisterOrder{Ref: f.ref(), OrderID: "O1", Buyer: "B1",
					CashPaid: money("90"), OtherPaid: money("10"), Status: OrderPaid, PlacedAt: t0.Add(-time.Hour)}},
				{name: "blocks 100.01", actor: asMain, cmd: tbCard(f, "C1", "100.01", ReasonShippingDifference), code: code},
				{name: "passes 100", actor: asMain, cmd: tbCard(f, "C1", "100", ReasonShippingDifference)},
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, PlatformTaobao)
			pinRun(t, f, tc.steps(f))
		})
	}
}

// TestTBCardWindow pins tb.card.window: a card is valid 72 hours; the buyer
// pays strictly before, the expiry fires at 72h and not before.
func TestTBCardWindow(t *testing.T) {
	const code = "tb.card.window"
	day3 := 72 * time.Hour
	t.Run("paid at 72h-1s; the expiry before 72h is refused", func(t *testing.T) {
		f := newFixture(t, PlatformTaobao)
		pinRun(t, f, []pinStep{
			{name: "send", actor: asMain, cmd: tbCard(f, "C1", "30", ReasonShippingDifference),
				then: func(t *testing.T, evs []Payload) {
					if e := pinEvent[CollectionCardSent](t, evs); !e.ExpiresAt.Equal(t0.Add(day3)) {
						t.Fatalf("expires %v, want %v", e.ExpiresAt, t0.Add(day3))
					}
				}},
			{name: "blocks the expiry at 72h-1s", at: day3 - time.Second, actor: asSystem, cmd: ExpireCard{Ref: f.ref(), ID: "C1"}, code: code},
			{name: "passes payment at 72h-1s", at: day3 - time.Second, actor: asOperator, cmd: PayCollection{Ref: f.ref(), CollectionID: "C1"},
				then: func(t *testing.T, evs []Payload) {
					if e := pinEvent[CollectionPaid](t, evs); !e.Amount.Equal(money("30")) {
						t.Fatalf("paid %s", e.Amount)
					}
					tbStatus(t, f, "C1", CollectionPaidSt)
				}},
			{name: "a paid card does not expire", at: day3, actor: asSystem, cmd: ExpireCard{Ref: f.ref(), ID: "C1"}, code: CodeIllegalTransition},
			{name: "a paid card is not paid twice", at: day3, actor: asOperator, cmd: PayCollection{Ref: f.ref(), CollectionID: "C1"}, code: CodeIllegalTransition},
		})
	})
	t.Run("payment at 72h is refused; the expiry at 72h passes", func(t *testing.T) {
		f := newFixture(t, PlatformTaobao)
		pinRun(t, f, []pinStep{
			{name: "send", actor: asMain, cmd: tbCard(f, "C1", "30", ReasonShippingDifference)},
			{name: "blocks payment at 72h", at: day3, actor: asOperator, cmd: PayCollection{Ref: f.ref(), CollectionID: "C1"}, code: code},
			{name: "passes the expiry at 72h", at: day3, actor: asSystem, cmd: ExpireCard{Ref: f.ref(), ID: "C1"},
				then: func(t *testing.T, evs []Payload) {
					if e := pinEvent[CardExpired](t, evs); e.Card != "collection" || e.ID != "C1" {
						t.Fatalf("expired %+v", e)
					}
					tbStatus(t, f, "C1", CollectionExpired)
				}},
			{name: "an expired card cannot be paid", at: day3 + time.Second, actor: asOperator, cmd: PayCollection{Ref: f.ref(), CollectionID: "C1"}, code: CodeIllegalTransition},
			{name: "a second expiry is illegal", at: day3 + time.Second, actor: asSystem, cmd: ExpireCard{Ref: f.ref(), ID: "C1"}, code: CodeIllegalTransition},
			{name: "it must be sent again", at: day3 + time.Second, actor: asMain, cmd: tbCard(f, "C2", "30", ReasonShippingDifference)},
		})
	})
}

// TestTBCardCancel pins tb.card.cancel (Reading): the merchant cancels an
// unpaid card, which releases its amount; a paid, expired or already
// cancelled card cannot be cancelled.
func TestTBCardCancel(t *testing.T) {
	const code = "tb.card.cancel"
	day3 := 72 * time.Hour
	cases := []struct {
		name  string
		steps func(f *fixture) []pinStep
	}{
		{"passes cancelling an unpaid card, which releases its amount", func(f *fixture) []pinStep {
			return []pinStep{
				{name: "send 100", actor: asMain, cmd: tbCard(f, "C1", "100", ReasonShippingDifference)},
				{name: "blocks 0.01 more", actor: asMain, cmd: tbCard(f, "C2", "0.01", ReasonShippingDifference), code: "tb.collect.order_total"},
				{name: "passes cancelling at 72h-1s by a sub", at: day3 - time.Second, actor: asSub, cmd: CancelCard{Ref: f.ref(), CollectionID: "C1"},
					then: func(t *testing.T, evs []Payload) {
						if e := pinEvent[CollectionCardCancelled](t, evs); e.By != subID {
							t.Fatalf("cancelled by %q", e.By)
						}
						tbStatus(t, f, "C1", CollectionCancelled)
					}},
				{name: "the whole amount is free again", at: day3 - time.Second, actor: asMain, cmd: tbCard(f, "C2", "100", ReasonShippingDifference)},
				{name: "a cancelled card cannot be paid", at: day3 - time.Second, actor: asOperator, cmd: PayCollection{Ref: f.ref(), CollectionID: "C1"}, code: CodeIllegalTransition},
			}
		}},
		{"blocks cancelling a paid card", func(f *fixture) []pinStep {
			return []pinStep{
				{name: "send", actor: asMain, cmd: tbCard(f, "C1", "30", ReasonShippingDifference)},
				{name: "paid", at: time.Hour, actor: asOperator, cmd: PayCollection{Ref: f.ref(), CollectionID: "C1"}},
				{name: "blocks the cancel", at: time.Hour, actor: asMain, cmd: CancelCard{Ref: f.ref(), CollectionID: "C1"}, code: code,
					why: func(t *testing.T, r *Rejection) {
						if r.Details["status"] != string(CollectionPaidSt) {
							t.Fatalf("details %v", r.Details)
						}
					}},
			}
		}},
		{"blocks cancelling an expired card", func(f *fixture) []pinStep {
			return []pinStep{
				{name: "send", actor: asMain, cmd: tbCard(f, "C1", "30", ReasonShippingDifference)},
				{name: "expires", at: day3, actor: asSystem, cmd: ExpireCard{Ref: f.ref(), ID: "C1"}},
				{name: "blocks the cancel", at: day3, actor: asMain, cmd: CancelCard{Ref: f.ref(), CollectionID: "C1"}, code: code},
			}
		}},
		{"blocks cancelling a card twice", func(f *fixture) []pinStep {
			return []pinStep{
				{name: "send", actor: asMain, cmd: tbCard(f, "C1", "30", ReasonShippingDifference)},
				{name: "cancel", actor: asMain, cmd: CancelCard{Ref: f.ref(), CollectionID: "C1"}},
				{name: "blocks the second cancel", actor: asMain, cmd: CancelCard{Ref: f.ref(), CollectionID: "C1"}, code: code},
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, PlatformTaobao)
			pinRun(t, f, tc.steps(f))
		})
	}
}

// TestTBRouteUnavailable: Taobao collects from buyers and makes no payouts,
// so InitiatePayout is route.unavailable (and so are the payout-only
// approval and top-up steps).
func TestTBRouteUnavailable(t *testing.T) {
	f := newFixture(t, PlatformTaobao)
	f.rejects(asMain, f.payout("P1", "10", nil), CodeRouteUnavailable)
	f.rejects(asSub, f.payout("P1", "10", func(c *InitiatePayout) { c.SubmitForApproval = true }), CodeRouteUnavailable)
	if len(f.s.Payouts) != 0 {
		t.Fatalf("%d payouts recorded", len(f.s.Payouts))
	}
	f.replayEquals()
}
