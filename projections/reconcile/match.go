// Package reconcile matches the ledger's succeeded payouts against an
// external statement (the platform's or the bank's list of payouts it
// executed) and classifies every payout on either side: matched, missing
// from the statement, missing from the ledger, or amount mismatch.
//
// Match is a pure function of the two lists; ParseStatement reads the
// statement CSV and ReadLedger replays the event log for the ledger side.
// `payoutctl reconcile` ties them together.
package reconcile

import (
	"cmp"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// LedgerPayout is a payout the ledger records as succeeded
// (PayoutSucceeded, or PayoutConfirmedByBuyer on 1688).
type LedgerPayout struct {
	PayoutID string
	Stream   string          // the shop's stream, "<platform>.<shop ID>"
	Amount   decimal.Decimal // the amount that reached the buyer
	At       time.Time       // when it succeeded (the event's occurred-at)
	Position uint64          // the event's global position in the log
	Event    string          // PayoutSucceeded or PayoutConfirmedByBuyer
}

// StatementLine is one row of the external statement.
type StatementLine struct {
	Line     int // 1-based line number in the file (the header is line 1)
	PayoutID string
	Amount   decimal.Decimal
	Time     time.Time
}

// Category classifies a reconciled payout. The values are stable (they
// appear in reports); the order of Categories is the report's order.
type Category string

const (
	Matched              Category = "matched"                // same ID, same amount on both sides
	AmountMismatch       Category = "amount_mismatch"        // same ID, different amounts
	MissingFromStatement Category = "missing_from_statement" // succeeded in the ledger, absent from the statement
	MissingFromLedger    Category = "missing_from_ledger"    // on the statement, no succeeded payout in the ledger
)

// Categories in report order.
var Categories = []Category{Matched, AmountMismatch, MissingFromStatement, MissingFromLedger}

// Item is one reconciled payout: a ledger payout, a statement line, or
// both (Matched and AmountMismatch).
type Item struct {
	Category  Category
	PayoutID  string
	Ledger    *LedgerPayout  // nil for MissingFromLedger
	Statement *StatementLine // nil for MissingFromStatement
	// Note explains what is not obvious from the two sides, e.g. a
	// payout ID listed twice on the statement.
	Note string
}

// Total is the count and the amounts of one category. Ledger sums the
// ledger side, Statement the statement side (equal for Matched; one of
// them zero for the missing categories).
type Total struct {
	Count     int
	Ledger    decimal.Decimal
	Statement decimal.Decimal
}

// Options narrow what counts as a difference.
type Options struct {
	// From and Until (either may be zero: open) bound the statement's
	// period. A ledger payout that succeeded outside [From, Until) and is
	// not on the statement is not reported missing (it belongs to another
	// statement); one that IS on the statement is still matched. Statement
	// lines are always reconciled, whatever their time.
	From, Until time.Time
}

func (o Options) inPeriod(t time.Time) bool {
	return (o.From.IsZero() || !t.Before(o.From)) && (o.Until.IsZero() || t.Before(o.Until))
}

// Report is the outcome of Match.
type Report struct {
	// Items in category order (Categories), then by payout ID, then in
	// time order.
	Items  []Item
	Totals map[Category]Total // every category present, zero when empty
	// OutOfPeriod counts the ledger payouts left out by Options.From/Until.
	OutOfPeriod int
}

// Clean reports whether nothing but matches was found.
func (r Report) Clean() bool {
	for _, c := range Categories {
		if c != Matched && r.Totals[c].Count > 0 {
			return false
		}
	}
	return true
}

// Of returns the items of one category, in report order.
func (r Report) Of(c Category) []Item {
	var out []Item
	for _, it := range r.Items {
		if it.Category == c {
			out = append(out, it)
		}
	}
	return out
}

// Match reconciles the ledger's succeeded payouts with the statement.
//
// Payouts are paired by payout ID. Payout IDs are unique within a shop,
// not across shops, and a statement may list a payout twice, so each ID
// is matched as a multiset: first the pairs with equal amounts (Matched),
// then the remaining pairs in time order (AmountMismatch); what is left on
// the ledger side is MissingFromStatement, on the statement side
// MissingFromLedger (a second line for a payout the ledger paid once is
// therefore reported missing from the ledger, with a note). Amounts are
// compared by value ("12.5" equals "12.50"). Match does not modify its
// arguments.
func Match(ledger []LedgerPayout, statement []StatementLine, opt Options) Report {
	byID := map[string]*group{}
	var ids []string
	get := func(id string) *group {
		g := byID[id]
		if g == nil {
			g = &group{}
			byID[id] = g
			ids = append(ids, id)
		}
		return g
	}
	for i := range ledger {
		g := get(ledger[i].PayoutID)
		g.ledger = append(g.ledger, &ledger[i])
	}
	for i := range statement {
		g := get(statement[i].PayoutID)
		g.stmt = append(g.stmt, &statement[i])
	}
	slices.Sort(ids)

	rep := Report{Totals: map[Category]Total{}}
	for _, c := range Categories {
		rep.Totals[c] = Total{Ledger: decimal.Zero, Statement: decimal.Zero}
	}
	add := func(it Item) {
		t := rep.Totals[it.Category]
		t.Count++
		if it.Ledger != nil {
			t.Ledger = t.Ledger.Add(it.Ledger.Amount)
		}
		if it.Statement != nil {
			t.Statement = t.Statement.Add(it.Statement.Amount)
		}
		rep.Totals[it.Category] = t
		rep.Items = append(rep.Items, it)
	}

	for _, id := range ids {
		g := byID[id]
		slices.SortStableFunc(g.ledger, func(a, b *LedgerPayout) int {
			return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Position, b.Position))
		})
		slices.SortStableFunc(g.stmt, func(a, b *StatementLine) int {
			return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Line, b.Line))
		})
		lUsed := make([]bool, len(g.ledger))
		sUsed := make([]bool, len(g.stmt))
		// Equal amounts first.
		for i, l := range g.ledger {
			for j, s := range g.stmt {
				if !sUsed[j] && l.Amount.Equal(s.Amount) {
					lUsed[i], sUsed[j] = true, true
					add(Item{Category: Matched, PayoutID: id, Ledger: l, Statement: s})
					break
				}
			}
		}
		// Then the remaining pairs, in time order.
		j := 0
		for i, l := range g.ledger {
			if lUsed[i] {
				continue
			}
			for j < len(g.stmt) && sUsed[j] {
				j++
			}
			if j == len(g.stmt) {
				break
			}
			lUsed[i], sUsed[j] = true, true
			add(Item{Category: AmountMismatch, PayoutID: id, Ledger: l, Statement: g.stmt[j]})
		}
		for i, l := range g.ledger {
			if lUsed[i] {
				continue
			}
			if !opt.inPeriod(l.At) {
				rep.OutOfPeriod++
				continue
			}
			it := Item{Category: MissingFromStatement, PayoutID: id, Ledger: l}
			if len(g.ledger) > 1 {
				it.Note = "payout ID succeeded in more than one shop"
			}
			add(it)
		}
		for j, s := range g.stmt {
			if sUsed[j] {
				continue
			}
			it := Item{Category: MissingFromLedger, PayoutID: id, Statement: s}
			if len(g.ledger) > 0 {
				it.Note = "the statement lists this payout more often than the ledger paid it"
			}
			add(it)
		}
	}
	slices.SortStableFunc(rep.Items, func(a, b Item) int {
		return cmp.Compare(slices.Index(Categories, a.Category), slices.Index(Categories, b.Category))
	})
	return rep
}

type group struct {
	ledger []*LedgerPayout
	stmt   []*StatementLine
}
