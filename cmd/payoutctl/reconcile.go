package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/projections/reconcile"
)

// Exit codes of reconcile.
const (
	reconcileClean       = 0 // every payout on both sides matched
	reconcileDifferences = 1 // differences found (listed on stdout)
	reconcileBadInput    = 2 // bad flags, a malformed statement, an unreadable or altered ledger
)

const reconcileUsage = `usage: payoutctl reconcile --data DIR --statement FILE [--from TIME] [--until TIME]

Match the ledger's succeeded payouts against an external statement and
report every payout as matched, amount mismatch, missing from the statement
or missing from the ledger, with the count and amounts of each category.

The ledger side is read by replaying the event log of the embedded event
store in DIR from its first event (PayoutSucceeded and, for 1688's buyer
confirmation, PayoutConfirmedByBuyer), verifying every stream's hash chain
on the way. The store must not be open in another process (payoutd).

The statement is a CSV file with a header naming at least the columns
payout_id, amount and time (any order, other columns ignored):

    payout_id,amount,time
    P1001,12.50,2026-11-23T10:00:00+08:00

amount is a positive decimal with at most two decimal places (no sign,
exponent or thousands separator); time is RFC 3339 with its offset. A
malformed row refuses the whole statement, with its line number.

Payouts are paired by payout ID and compared by value (12.5 = 12.50). A
payout ID listed twice on the statement is matched once; the second line
is reported missing from the ledger. A mismatch's difference is the
statement amount minus the ledger amount.

Flags:
`

const reconcileExitCodes = `
Exit status: 0 when everything matches, 1 when differences are found,
2 on bad input (flags, a malformed statement, a ledger that cannot be read
or fails its hash-chain verification).
`

// runReconcile is `payoutctl reconcile`: it parses args (the arguments
// after "reconcile"), writes the report to stdout and problems to stderr,
// and returns the exit code (reconcileClean, reconcileDifferences or
// reconcileBadInput).
func runReconcile(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("payoutctl reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "data directory of the embedded event store (required)")
	statement := fs.String("statement", "", "the statement CSV file (required)")
	from := fs.String("from", "", "start of the statement's period (RFC 3339): ledger payouts that succeeded before it and are not on the statement are not reported missing")
	until := fs.String("until", "", "end of the statement's period (RFC 3339, exclusive), likewise")
	usage := func(w io.Writer) {
		fmt.Fprint(w, reconcileUsage)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
		fmt.Fprint(w, reconcileExitCodes)
	}
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return reconcileClean
		}
		fmt.Fprintln(stderr, "run `payoutctl reconcile --help` for usage")
		return reconcileBadInput
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "payoutctl reconcile: "+format+"\n", a...)
		return reconcileBadInput
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q (run `payoutctl reconcile --help`)", fs.Arg(0))
	}
	if *data == "" || *statement == "" {
		return bad("--data and --statement are required (run `payoutctl reconcile --help`)")
	}
	var opt reconcile.Options
	for _, f := range []struct {
		name, val string
		dst       *time.Time
	}{{"from", *from, &opt.From}, {"until", *until, &opt.Until}} {
		if f.val == "" {
			continue
		}
		t, err := reconcile.ParseTime(f.val)
		if err != nil {
			return bad("--%s: %v", f.name, err)
		}
		*f.dst = t
	}
	if !opt.From.IsZero() && !opt.Until.IsZero() && !opt.From.Before(opt.Until) {
		return bad("--from %s is not before --until %s", *from, *until)
	}

	// The statement first: a malformed file should not cost a replay.
	f, err := os.Open(*statement)
	if err != nil {
		return bad("%v", err)
	}
	lines, err := reconcile.ParseStatement(f)
	f.Close()
	if err != nil {
		return bad("%s: %v", *statement, err)
	}

	ctx := context.Background()
	store, err := openLedger(ctx, *data)
	if err != nil {
		return bad("%v", err)
	}
	ledger, stats, err := reconcile.ReadLedger(ctx, store, reconcile.LedgerOptions{})
	if cerr := store.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, eventstore.ErrChainBroken) {
			return bad("the event log fails verification, nothing reconciled: %v (run `payoutctl verify`)", err)
		}
		return bad("read the ledger: %v", err)
	}
	if stats.Events == 0 {
		fmt.Fprintf(stderr, "payoutctl reconcile: warning: the event log in %s is empty\n", *data)
	}

	rep := reconcile.Match(ledger, lines, opt)
	reconcilePrint(stdout, rep, reconcileHeader{
		data: *data, statement: *statement, events: stats.Events, streams: stats.Streams,
		ledger: len(ledger), lines: len(lines), opt: opt,
	})
	if rep.Clean() {
		return reconcileClean
	}
	return reconcileDifferences
}

type reconcileHeader struct {
	data, statement         string
	events, streams, ledger int
	lines                   int
	opt                     reconcile.Options
}

var reconcileTitles = map[reconcile.Category]string{
	reconcile.Matched:              "matched",
	reconcile.AmountMismatch:       "amount mismatch",
	reconcile.MissingFromStatement: "missing from statement",
	reconcile.MissingFromLedger:    "missing from ledger",
}

// reconcilePrint writes the totals table, then every difference.
func reconcilePrint(w io.Writer, rep reconcile.Report, h reconcileHeader) {
	fmt.Fprintf(w, "ledger:    %s: %d events in %d streams (hash chains verified), %d succeeded payouts\n", h.data, h.events, h.streams, h.ledger)
	fmt.Fprintf(w, "statement: %s: %d payouts\n", h.statement, h.lines)
	if !h.opt.From.IsZero() || !h.opt.Until.IsZero() {
		fmt.Fprintf(w, "period:    %s to %s: %d ledger payouts outside it and not on the statement left out\n",
			reconcileTimeOrOpen(h.opt.From), reconcileTimeOrOpen(h.opt.Until), rep.OutOfPeriod)
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "%-24s %7s %16s %16s\n", "category", "count", "ledger amount", "statement amount")
	for _, c := range reconcile.Categories {
		t := rep.Totals[c]
		fmt.Fprintf(w, "%-24s %7d %16s %16s\n", reconcileTitles[c], t.Count, domain.Money(t.Ledger), domain.Money(t.Statement))
	}

	for _, c := range reconcile.Categories[1:] {
		items := rep.Of(c)
		if len(items) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s (%d):\n", strings.ToUpper(reconcileTitles[c]), len(items))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, it := range items {
			cells := []string{"  " + it.PayoutID, "", "", "", ""}
			if l := it.Ledger; l != nil {
				cells[1] = "ledger " + domain.Money(l.Amount)
				cells[2] = l.Stream + " at " + l.At.Format(time.RFC3339)
			}
			if s := it.Statement; s != nil {
				cells[3] = "statement " + domain.Money(s.Amount)
				cells[4] = fmt.Sprintf("line %d at %s", s.Line, s.Time.Format(time.RFC3339))
			}
			if it.Ledger != nil && it.Statement != nil {
				cells = append(cells, "difference "+reconcileSigned(it.Statement.Amount.Sub(it.Ledger.Amount)))
			}
			if it.Note != "" {
				cells = append(cells, "("+it.Note+")")
			}
			for len(cells) > 1 && cells[len(cells)-1] == "" {
				cells = cells[:len(cells)-1]
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		tw.Flush()
	}

	n := 0
	for _, c := range reconcile.Categories[1:] {
		n += rep.Totals[c].Count
	}
	if n == 0 {
		fmt.Fprintln(w, "\nresult: everything matches")
	} else {
		fmt.Fprintf(w, "\nresult: %d differences\n", n)
	}
}

func reconcileSigned(d decimal.Decimal) string {
	if d.IsPositive() {
		return "+" + domain.Money(d)
	}
	return domain.Money(d)
}

func reconcileTimeOrOpen(t time.Time) string {
	if t.IsZero() {
		return "(open)"
	}
	return t.Format(time.RFC3339)
}
