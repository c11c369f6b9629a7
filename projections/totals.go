package projections

import (
	"sort"

	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/domain"
)

// DailyTotalsName is the daily-shop-totals projection: per shop, per local
// calendar day in the shop's time zone, per platform, payout type and
// outcome, the count and amount of what happened that day; collections
// (Taobao) separately per reason and outcome.
//
// These are flows, not balances: a payout initiated on Monday and
// succeeding on Tuesday is "initiated" on Monday and "succeeded" on
// Tuesday. The initiation day is the payout's Day (fixed when it was
// decided); every later outcome falls on the local day of the event's
// occurred-at in the time zone the shop registered with.
const DailyTotalsName = "daily_totals"

// Payout outcomes counted by the daily totals.
const (
	OutcomeInitiated   = "initiated"
	OutcomeSucceeded   = "succeeded"     // PayoutSucceeded, PayoutConfirmedByBuyer
	OutcomeFailed      = "failed"        // PayoutFailed (a failure for the buyer's account is retried, not an outcome)
	OutcomeExpired     = "expired"       // the buyer's confirmation card expired
	OutcomeClosed      = "closed"        // PayoutClosed
	OutcomeRefunded    = "refunded"      // PayoutRefundedToMerchant
	OutcomeTopUpFailed = "top_up_failed" // PayoutTopUpFailed
	OutcomeRejected    = "rejected"      // PayoutRejected by an admin
)

// Collection outcomes.
const (
	CollectionOutcomeSent      = "sent"
	CollectionOutcomePaid      = "paid"
	CollectionOutcomeExpired   = "expired"
	CollectionOutcomeCancelled = "cancelled"
)

// DayTotal is one line of the daily totals: for payouts Kind is the payout
// type (shipping, ...), for collections the collection reason.
type DayTotal struct {
	Shop    domain.ShopRef
	Day     string
	Kind    string
	Outcome string
	Count   int64
	Amount  decimal.Decimal
}

type totalsShop struct {
	Shop     domain.ShopRef
	TimeZone string
}

// totalsItem is a payout or collection whose later outcomes still need its
// type (or reason) and amount.
type totalsItem struct {
	Shop   domain.ShopRef
	ID     string
	Kind   string
	Amount decimal.Decimal
}

func totalsSchema() *Schema {
	item := func(name, doc string) Table {
		return Table{Name: name, Internal: true, Doc: doc,
			Columns: cols(shopCols(), []Column{col("id", Text, ""), col("kind", Text, ""), col("amount", Decimal, "")}),
			Key:     []string{"platform", "shop_id", "id"}}
	}
	line := func(name, kind, kindDoc, doc string) Table {
		return Table{Name: name, Doc: doc,
			Columns: cols(shopCols(), []Column{
				col("day", Text, "local calendar day in the shop's time zone (YYYY-MM-DD)"),
				col(kind, Text, kindDoc),
				col("outcome", Text, "what happened that day"),
				col("count", Int, "how many"),
				col("amount", Decimal, "their amount"),
			}),
			Key: []string{"platform", "shop_id", "day", kind, "outcome"}}
	}
	return &Schema{Projection: DailyTotalsName, Version: 1, Tables: []Table{
		line("totals_payouts_daily", "payout_type", "shipping, price_difference, service, activity_compensation, other",
			"payouts per shop, local day, type and outcome: initiated, succeeded, failed, expired, closed, refunded, top_up_failed, rejected"),
		line("totals_collections_daily", "reason", "shipping_difference, goods_difference, other_difference",
			"collection cards per shop, local day, reason and outcome: sent, paid, expired, cancelled"),
		{Name: "totals_shops", Internal: true, Doc: "shops' time zones",
			Columns: cols(shopCols(), []Column{col("time_zone", Text, "")}), Key: []string{"platform", "shop_id"}},
		item("totals_payouts", "payouts with outcomes still to come: type and amount"),
		item("totals_collections", "collection cards with outcomes still to come: reason and amount"),
	}}
}

// DailyTotals is the daily-shop-totals projector.
type DailyTotals struct {
	tableSet
	schema      *Schema
	payouts     *table[DayTotal]
	collections *table[DayTotal]
	shops       *table[totalsShop]
	openPay     *table[totalsItem]
	openCol     *table[totalsItem]
}

// NewDailyTotals is the Factory of the daily-shop-totals projection.
func NewDailyTotals() Projector {
	s := totalsSchema()
	t := &DailyTotals{schema: s}
	encLine := func(v *DayTotal) Row {
		return Row{string(v.Shop.Platform), v.Shop.ShopID, v.Day, v.Kind, v.Outcome, v.Count, v.Amount}
	}
	decLine := func(r Row) (*DayTotal, error) {
		return &DayTotal{Shop: refOf(r), Day: str(r, 2), Kind: str(r, 3), Outcome: str(r, 4), Count: i64(r, 5), Amount: dec(r, 6)}, nil
	}
	encItem := func(v *totalsItem) Row { return Row{string(v.Shop.Platform), v.Shop.ShopID, v.ID, v.Kind, v.Amount} }
	decItem := func(r Row) (*totalsItem, error) {
		return &totalsItem{Shop: refOf(r), ID: str(r, 2), Kind: str(r, 3), Amount: dec(r, 4)}, nil
	}
	t.payouts = addTable(&t.tableSet, newTable(s.Table("totals_payouts_daily"), encLine, decLine))
	t.collections = addTable(&t.tableSet, newTable(s.Table("totals_collections_daily"), encLine, decLine))
	t.shops = addTable(&t.tableSet, newTable(s.Table("totals_shops"),
		func(v *totalsShop) Row { return Row{string(v.Shop.Platform), v.Shop.ShopID, v.TimeZone} },
		func(r Row) (*totalsShop, error) { return &totalsShop{Shop: refOf(r), TimeZone: str(r, 2)}, nil }))
	t.openPay = addTable(&t.tableSet, newTable(s.Table("totals_payouts"), encItem, decItem))
	t.openCol = addTable(&t.tableSet, newTable(s.Table("totals_collections"), encItem, decItem))
	return t
}

// Schema implements Projector.
func (t *DailyTotals) Schema() *Schema { return t.schema }

func (t *DailyTotals) add(tab *table[DayTotal], ref domain.ShopRef, day, kind, outcome string, amount decimal.Decimal) {
	l := tab.at(keyOf(ref, day, kind, outcome), func() *DayTotal {
		return &DayTotal{Shop: ref, Day: day, Kind: kind, Outcome: outcome}
	})
	l.Count++
	l.Amount = l.Amount.Add(amount)
}

// Apply implements Projector.
func (t *DailyTotals) Apply(e domain.Event) error {
	ref, err := shopOf(e)
	if err != nil {
		return err
	}
	day := func() string {
		tz := domain.DefaultTimeZone
		if s := t.shops.get(keyOf(ref)); s != nil {
			tz = s.TimeZone
		}
		return localDay(e.OccurredAt, tz)
	}
	// outcome records a payout outcome; final ones forget the payout.
	outcome := func(id, what string, final bool) {
		p := t.openPay.get(keyOf(ref, id))
		if p == nil {
			return
		}
		t.add(t.payouts, ref, day(), p.Kind, what, p.Amount)
		if final {
			t.openPay.del(keyOf(ref, id))
		}
	}
	colOutcome := func(id, what string) {
		c := t.openCol.get(keyOf(ref, id))
		if c == nil {
			return
		}
		t.add(t.collections, ref, day(), c.Kind, what, c.Amount)
		t.openCol.del(keyOf(ref, id))
	}
	switch d := e.Data.(type) {
	case domain.ShopRegistered:
		tz := d.TimeZone
		if tz == "" {
			tz = domain.DefaultTimeZone
		}
		*t.shops.at(keyOf(ref), newZero[totalsShop]) = totalsShop{Shop: ref, TimeZone: tz}
	case domain.PayoutInitiated:
		t.add(t.payouts, ref, d.Day, string(d.Type), OutcomeInitiated, d.Amount)
		*t.openPay.at(keyOf(ref, d.PayoutID), newZero[totalsItem]) = totalsItem{Shop: ref, ID: d.PayoutID, Kind: string(d.Type), Amount: d.Amount}
	case domain.PayoutSucceeded:
		outcome(d.PayoutID, OutcomeSucceeded, true)
	case domain.PayoutConfirmedByBuyer:
		outcome(d.PayoutID, OutcomeSucceeded, true)
	case domain.PayoutFailed:
		outcome(d.PayoutID, OutcomeFailed, true)
	case domain.PayoutRejected:
		outcome(d.PayoutID, OutcomeRejected, true)
	case domain.PayoutTopUpFailed:
		outcome(d.PayoutID, OutcomeTopUpFailed, true)
	case domain.CardExpired:
		switch d.Card {
		case "confirmation":
			outcome(d.ID, OutcomeExpired, true)
		case "collection":
			colOutcome(d.ID, CollectionOutcomeExpired)
		}
	case domain.PayoutClosed:
		// A payout closed with money due back waits for its refund.
		outcome(d.PayoutID, OutcomeClosed, d.RefundDueAt == nil)
	case domain.PayoutRefundedToMerchant:
		outcome(d.PayoutID, OutcomeRefunded, true)
	case domain.CollectionCardSent:
		t.add(t.collections, ref, d.Day, string(d.Reason), CollectionOutcomeSent, d.Amount)
		*t.openCol.at(keyOf(ref, d.CollectionID), newZero[totalsItem]) = totalsItem{Shop: ref, ID: d.CollectionID, Kind: string(d.Reason), Amount: d.Amount}
	case domain.CollectionPaid:
		colOutcome(d.CollectionID, CollectionOutcomePaid)
	case domain.CollectionCardCancelled:
		colOutcome(d.CollectionID, CollectionOutcomeCancelled)
	}
	return nil
}

// Payouts returns a shop's payout totals for the local days in [from, to]
// ("YYYY-MM-DD"; empty bounds are open), by day, type and outcome.
func (t *DailyTotals) Payouts(ref domain.ShopRef, from, to string) []DayTotal {
	return lines(t.payouts, ref, from, to)
}

// Collections returns a shop's collection totals for the local days in
// [from, to], by day, reason and outcome.
func (t *DailyTotals) Collections(ref domain.ShopRef, from, to string) []DayTotal {
	return lines(t.collections, ref, from, to)
}

func lines(tab *table[DayTotal], ref domain.ShopRef, from, to string) []DayTotal {
	var out []DayTotal
	for _, l := range tab.all() {
		if l.Shop == ref && (from == "" || l.Day >= from) && (to == "" || l.Day <= to) {
			out = append(out, *l)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Day != b.Day {
			return a.Day < b.Day
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Outcome < b.Outcome
	})
	return out
}
