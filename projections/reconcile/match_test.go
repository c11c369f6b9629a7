package reconcile_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/projections/reconcile"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// L is a ledger payout "ID stream amount minute".
func L(id, stream, amount string, min int) reconcile.LedgerPayout {
	return reconcile.LedgerPayout{PayoutID: id, Stream: stream, Amount: d(amount), At: at(min), Position: uint64(min + 1), Event: "PayoutSucceeded"}
}

// S is a statement line "line ID amount minute".
func S(line int, id, amount string, min int) reconcile.StatementLine {
	return reconcile.StatementLine{Line: line, PayoutID: id, Amount: d(amount), Time: at(min)}
}

// render prints a report as "category id ledger-amount/stream statement-amount/line" lines.
func render(r reconcile.Report) string {
	var b strings.Builder
	for _, it := range r.Items {
		fmt.Fprintf(&b, "%s %s", it.Category, it.PayoutID)
		if it.Ledger != nil {
			fmt.Fprintf(&b, " L%s@%s", it.Ledger.Amount, it.Ledger.Stream)
		}
		if it.Statement != nil {
			fmt.Fprintf(&b, " S%s@%d", it.Statement.Amount, it.Statement.Line)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestMatch(t *testing.T) {
	type totals map[reconcile.Category][3]string // count, ledger, statement
	cases := []struct {
		name      string
		ledger    []reconcile.LedgerPayout
		statement []reconcile.StatementLine
		opt       reconcile.Options
		want      string
		totals    totals
		clean     bool
		outside   int
	}{
		{
			name:  "both empty is clean",
			want:  "",
			clean: true,
		},
		{
			name:      "equal amounts match, by value",
			ledger:    []reconcile.LedgerPayout{L("P1", "jd.S1", "12.5", 0), L("P2", "jd.S1", "3", 1)},
			statement: []reconcile.StatementLine{S(2, "P2", "3.00", 1), S(3, "P1", "12.50", 0)},
			want:      "matched P1 L12.5@jd.S1 S12.5@3\nmatched P2 L3@jd.S1 S3@2\n",
			totals:    totals{reconcile.Matched: {"2", "15.5", "15.5"}},
			clean:     true,
		},
		{
			name:      "missing from the statement",
			ledger:    []reconcile.LedgerPayout{L("P1", "pdd.A", "10", 0), L("P2", "pdd.A", "20", 5)},
			statement: []reconcile.StatementLine{S(2, "P1", "10", 0)},
			want:      "matched P1 L10@pdd.A S10@2\nmissing_from_statement P2 L20@pdd.A\n",
			totals:    totals{reconcile.Matched: {"1", "10", "10"}, reconcile.MissingFromStatement: {"1", "20", "0"}},
		},
		{
			name:      "missing from the ledger",
			ledger:    []reconcile.LedgerPayout{L("P1", "pdd.A", "10", 0)},
			statement: []reconcile.StatementLine{S(2, "P1", "10", 0), S(3, "X9", "7.25", 3)},
			want:      "matched P1 L10@pdd.A S10@2\nmissing_from_ledger X9 S7.25@3\n",
			totals:    totals{reconcile.Matched: {"1", "10", "10"}, reconcile.MissingFromLedger: {"1", "0", "7.25"}},
		},
		{
			name:      "amount mismatch",
			ledger:    []reconcile.LedgerPayout{L("P1", "douyin.S", "10", 0)},
			statement: []reconcile.StatementLine{S(2, "P1", "10.01", 0)},
			want:      "amount_mismatch P1 L10@douyin.S S10.01@2\n",
			totals:    totals{reconcile.AmountMismatch: {"1", "10", "10.01"}},
		},
		{
			name:   "every category at once, report in category order",
			ledger: []reconcile.LedgerPayout{L("A", "jd.S", "1", 0), L("B", "jd.S", "2", 1), L("C", "jd.S", "3", 2)},
			statement: []reconcile.StatementLine{
				S(2, "D", "4", 3), S(3, "C", "3.5", 2), S(4, "A", "1", 0),
			},
			want: "matched A L1@jd.S S1@4\namount_mismatch C L3@jd.S S3.5@3\nmissing_from_statement B L2@jd.S\nmissing_from_ledger D S4@2\n",
			totals: totals{
				reconcile.Matched: {"1", "1", "1"}, reconcile.AmountMismatch: {"1", "3", "3.5"},
				reconcile.MissingFromStatement: {"1", "2", "0"}, reconcile.MissingFromLedger: {"1", "0", "4"},
			},
		},
		{
			name:      "a payout listed twice on the statement: the second line is missing from the ledger",
			ledger:    []reconcile.LedgerPayout{L("P1", "jd.S", "8", 0)},
			statement: []reconcile.StatementLine{S(2, "P1", "8", 0), S(3, "P1", "8", 1)},
			want:      "matched P1 L8@jd.S S8@2\nmissing_from_ledger P1 S8@3\n",
			totals:    totals{reconcile.Matched: {"1", "8", "8"}, reconcile.MissingFromLedger: {"1", "0", "8"}},
		},
		{
			name:      "the same payout ID in two shops: equal amounts pair first",
			ledger:    []reconcile.LedgerPayout{L("P1", "jd.A", "5", 0), L("P1", "pdd.B", "9", 1)},
			statement: []reconcile.StatementLine{S(2, "P1", "9", 1), S(3, "P1", "5", 0)},
			want:      "matched P1 L5@jd.A S5@3\nmatched P1 L9@pdd.B S9@2\n",
			clean:     true,
		},
		{
			name:      "the same payout ID in two shops, one on the statement with another amount",
			ledger:    []reconcile.LedgerPayout{L("P1", "jd.A", "5", 0), L("P1", "pdd.B", "9", 1)},
			statement: []reconcile.StatementLine{S(2, "P1", "6", 0)},
			want:      "amount_mismatch P1 L5@jd.A S6@2\nmissing_from_statement P1 L9@pdd.B\n",
		},
		{
			name:      "mismatches pair in time order",
			ledger:    []reconcile.LedgerPayout{L("P1", "jd.B", "2", 5), L("P1", "jd.A", "1", 0)},
			statement: []reconcile.StatementLine{S(2, "P1", "2.5", 6), S(3, "P1", "1.5", 1)},
			want:      "amount_mismatch P1 L1@jd.A S1.5@3\namount_mismatch P1 L2@jd.B S2.5@2\n",
		},
		{
			name:      "ledger payouts outside the statement period are not missing",
			ledger:    []reconcile.LedgerPayout{L("OLD", "jd.S", "1", -60), L("IN", "jd.S", "2", 0), L("LATE", "jd.S", "3", 60), L("EDGE", "jd.S", "4", 30)},
			statement: []reconcile.StatementLine{S(2, "LATE", "3", 60)},
			opt:       reconcile.Options{From: at(-30), Until: at(30)},
			want:      "matched LATE L3@jd.S S3@2\nmissing_from_statement IN L2@jd.S\n",
			outside:   2, // OLD before From, EDGE at Until (exclusive)
		},
		{
			name:      "statement lines are reconciled whatever the period",
			ledger:    nil,
			statement: []reconcile.StatementLine{S(2, "P1", "1", -600)},
			opt:       reconcile.Options{From: at(0), Until: at(60)},
			want:      "missing_from_ledger P1 S1@2\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ledgerCopy := append([]reconcile.LedgerPayout(nil), tc.ledger...)
			rep := reconcile.Match(tc.ledger, tc.statement, tc.opt)
			require.Equal(t, tc.want, render(rep))
			require.Equal(t, tc.clean, rep.Clean())
			require.Equal(t, tc.outside, rep.OutOfPeriod)
			require.Equal(t, ledgerCopy, tc.ledger, "Match does not modify its input")
			for _, c := range reconcile.Categories {
				got := rep.Totals[c]
				want, ok := tc.totals[c]
				if tc.totals == nil {
					continue
				}
				if !ok {
					want = [3]string{"0", "0", "0"}
				}
				require.Equal(t, want, [3]string{fmt.Sprint(got.Count), got.Ledger.String(), got.Statement.String()}, "totals of %s", c)
				require.Len(t, rep.Of(c), got.Count)
			}
		})
	}
}

// The totals always add up to the two sides, whatever the input.
func TestMatchTotalsAddUp(t *testing.T) {
	var ledger []reconcile.LedgerPayout
	var stmt []reconcile.StatementLine
	lsum, ssum := decimal.Zero, decimal.Zero
	for i := range 300 {
		id := fmt.Sprintf("P%d", i%170)
		if i%3 != 0 {
			a := decimal.NewFromInt(int64(i%17 + 1))
			ledger = append(ledger, reconcile.LedgerPayout{PayoutID: id, Stream: fmt.Sprintf("jd.S%d", i%2), Amount: a, At: at(i)})
			lsum = lsum.Add(a)
		}
		if i%5 != 0 {
			a := decimal.NewFromInt(int64(i%13 + 1))
			stmt = append(stmt, reconcile.StatementLine{Line: i + 2, PayoutID: id, Amount: a, Time: at(i)})
			ssum = ssum.Add(a)
		}
	}
	rep := reconcile.Match(ledger, stmt, reconcile.Options{})
	gotL, gotS, n := decimal.Zero, decimal.Zero, 0
	for _, c := range reconcile.Categories {
		gotL = gotL.Add(rep.Totals[c].Ledger)
		gotS = gotS.Add(rep.Totals[c].Statement)
		n += rep.Totals[c].Count
	}
	require.True(t, lsum.Equal(gotL), "ledger side %s != %s", lsum, gotL)
	require.True(t, ssum.Equal(gotS), "statement side %s != %s", ssum, gotS)
	require.Len(t, rep.Items, n)
	paired := rep.Totals[reconcile.Matched].Count + rep.Totals[reconcile.AmountMismatch].Count
	require.Equal(t, len(ledger), paired+rep.Totals[reconcile.MissingFromStatement].Count)
	require.Equal(t, len(stmt), paired+rep.Totals[reconcile.MissingFromLedger].Count)
}
