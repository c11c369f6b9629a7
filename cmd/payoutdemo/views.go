package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/projections"
)

// audit reads the whole log back from the store, as an auditor would,
// verifies every stream's hash chain and decodes every event. It returns
// the position of the last event, the number of events and of streams.
func (d *demo) audit(store eventstore.Store) (head uint64, events, streams int, err error) {
	verifiers := map[string]*eventstore.ChainVerifier{}
	var from uint64
	for {
		recs, err := store.ReadAll(d.ctx, from, 1000)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("audit: %w", err)
		}
		if len(recs) == 0 {
			return head, events, len(verifiers), nil
		}
		for _, r := range recs {
			v := verifiers[r.Stream]
			if v == nil {
				v = &eventstore.ChainVerifier{Stream: r.Stream}
				verifiers[r.Stream] = v
			}
			if err := v.Check(r); err != nil {
				return 0, 0, 0, fmt.Errorf("audit: %w", err)
			}
			if _, err := handler.Decode(r); err != nil {
				return 0, 0, 0, fmt.Errorf("audit: %s v%d: %w", r.Stream, r.Version, err)
			}
			head = r.Position
			events++
			from = r.Position + 1
		}
	}
}

// settle waits until the NATS consumer and every serving read model have
// the log up to head, then checks that no timer fired that the scenario
// does not expect.
func (d *demo) settle(views *projections.Runtime, head uint64) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		caught := d.fol.position() >= head
		for _, st := range views.Status() {
			if st.Err != nil {
				return fmt.Errorf("read model %s failed: %w", st.Projection, st.Err)
			}
			if st.Active && st.Applied < head {
				caught = false
			}
		}
		if caught {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the read models and the NATS consumer did not reach position %d within 20s", head)
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.reportTimers()
	if got, want := d.timersFired(), len(d.timersWant); got != want {
		d.mismatch(fmt.Sprintf("%d timers fired, the scenario expects %d", got, want))
	}
	return nil
}

// read sends a GET of the read models and decodes its JSON answer into v.
func (d *demo) read(w who, path string, v any) bool {
	a, err := d.send(request{who: w, method: "GET", path: path})
	d.checked++
	switch {
	case err != nil:
		d.mismatch(fmt.Sprintf("GET %s: %v", path, err))
		return false
	case a.status != 200:
		d.mismatch(fmt.Sprintf("GET %s by %s: expected 200, got %d %s: %s", path, w.label, a.status, a.code, a.message))
		return false
	}
	if v == nil {
		return true
	}
	if err := json.Unmarshal(a.raw, v); err != nil {
		d.mismatch(fmt.Sprintf("GET %s: %v", path, err))
		return false
	}
	return true
}

// section starts one read model's printout: its title and the request.
func (d *demo) section(title string, w who, path string) {
	fmt.Fprintf(d.report, "\n%s   (GET %s as %s)\n", title, path, w.label)
}

func (d *demo) table() *tabwriter.Writer {
	return tabwriter.NewWriter(d.report, 0, 0, 2, ' ', 0)
}

// The JSON of the read routes (docs/openapi.yaml), as far as printed.
type (
	recordRow struct {
		PayoutID  string `json:"payout_id"`
		OrderID   string `json:"order_id"`
		Staff     string `json:"staff"`
		Type      string `json:"type"`
		Amount    string `json:"amount"`
		Funding   string `json:"funding"`
		Route     string `json:"route"`
		Status    string `json:"status"`
		DecidedBy string `json:"decided_by"`
	}
	totalRow struct {
		Day     string `json:"day"`
		Kind    string `json:"kind"`
		Outcome string `json:"outcome"`
		Count   int64  `json:"count"`
		Amount  string `json:"amount"`
	}
	balanceRow struct {
		Kind      string `json:"kind"`
		Balance   string `json:"balance"`
		Frozen    string `json:"frozen"`
		Held      string `json:"held"`
		Available string `json:"available"`
		Arrears   string `json:"arrears"`
	}
	approvalRow struct {
		PayoutID  string `json:"payout_id"`
		OrderID   string `json:"order_id"`
		Staff     string `json:"staff"`
		Amount    string `json:"amount"`
		State     string `json:"state"`
		DecidedBy string `json:"decided_by"`
	}
	warningRow struct {
		WarningID string   `json:"warning_id"`
		OrderID   string   `json:"order_id"`
		Kind      string   `json:"kind"`
		PayoutIDs []string `json:"payout_ids"`
		RefundID  string   `json:"refund_id"`
		Amount    string   `json:"amount"`
		State     string   `json:"state"`
	}
)

// printViews prints the read models through the API, as a back office
// reads them.
func (d *demo) printViews() {
	fmt.Fprintf(d.report, "\n==== The read models, through the API ====\n")
	day := d.start.Format(time.DateOnly) // the service's default day is today by the wall clock

	fmt.Fprintf(d.report, "\npayout records per shop   (GET /v1/shops/{platform}/{shop}/payouts as the main account)\n")
	tw := d.table()
	fmt.Fprintln(tw, "  shop\tpayout\torder\tstaff\ttype\tamount\tfunding\troute\tstatus")
	for _, s := range demoShops {
		var recs struct {
			Records []recordRow `json:"records"`
		}
		if !d.read(d.tok.main[s], s.path()+"/payouts", &recs) {
			continue
		}
		for _, r := range recs.Records {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s, r.PayoutID, r.OrderID, r.Staff, r.Type, r.Amount, r.Funding, r.Route, r.Status)
		}
	}
	tw.Flush()

	fmt.Fprintf(d.report, "\ndaily totals by local day, type (Taobao: reason) and outcome   (GET /v1/shops/{platform}/{shop}/totals as the operator)\n")
	tw = d.table()
	fmt.Fprintln(tw, "  shop\tflow\tday\tkind\toutcome\tcount\tamount")
	for _, s := range demoShops {
		var t struct {
			Payouts     []totalRow `json:"payouts"`
			Collections []totalRow `json:"collections"`
		}
		if !d.read(d.tok.op(s), s.path()+"/totals", &t) {
			continue
		}
		for _, flow := range []struct {
			name string
			rows []totalRow
		}{{"payout", t.Payouts}, {"collection", t.Collections}} {
			for _, r := range flow.rows {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%d\t%s\n", s, flow.name, r.Day, r.Kind, r.Outcome, r.Count, r.Amount)
			}
		}
	}
	tw.Flush()

	sub := d.tok.sub[pandaDY]
	path := pandaDY.path() + "/staff/" + subAccount + "/quota?day=" + day
	d.section("quota usage of a staff account", sub, path)
	var q struct {
		PerPayout    *string `json:"per_payout"`
		PerDay       *string `json:"per_day"`
		Enabled      bool    `json:"enabled"`
		Day          string  `json:"day"`
		DayCount     int64   `json:"day_count"`
		DayAmount    string  `json:"day_amount"`
		DayRemaining *string `json:"day_remaining"`
	}
	if d.read(sub, path, &q) {
		fmt.Fprintf(d.report, "  %s on %s, %s: quota %s a payout, %s a day (%s); used %d payout(s), %s; %s left today\n",
			subAccount, pandaDY, q.Day, orNone(q.PerPayout), orNone(q.PerDay), enabled(q.Enabled), q.DayCount, q.DayAmount, orNone(q.DayRemaining))
	}

	path = pandaDY.path() + "/warnings"
	d.section("open duplicate-compensation warnings", d.tok.main[pandaDY], path)
	var w struct {
		Warnings []warningRow `json:"warnings"`
	}
	if d.read(d.tok.main[pandaDY], path, &w) {
		tw = d.table()
		fmt.Fprintln(tw, "  warning\torder\tkind\tpayouts\trefund\tamount\tstate")
		for _, r := range w.Warnings {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.WarningID, r.OrderID, r.Kind, strings.Join(r.PayoutIDs, " "), orDash(r.RefundID), r.Amount, r.State)
		}
		tw.Flush()
	}

	for _, v := range []struct {
		title string
		who   who
		query string
	}{
		{"approvals queue: the requests waiting for the admin", d.tok.main[sunnyPDD], ""},
		{"a sub-account's own requests, every state", d.tok.sub[sunnyPDD], "?staff=" + subAccount},
	} {
		path = sunnyPDD.path() + "/approvals" + v.query
		d.section(v.title, v.who, path)
		var a struct {
			Approvals []approvalRow `json:"approvals"`
		}
		if d.read(v.who, path, &a) {
			tw = d.table()
			fmt.Fprintln(tw, "  payout\torder\tstaff\tamount\tstate\tdecided by")
			for _, r := range a.Approvals {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", r.PayoutID, r.OrderID, r.Staff, r.Amount, r.State, orDash(r.DecidedBy))
			}
			tw.Flush()
		}
	}

	fmt.Fprintf(d.report, "\nfunding balances   (GET /v1/shops/{platform}/{shop}/balances as the main account)\n")
	tw = d.table()
	fmt.Fprintln(tw, "  shop\taccount\tbalance\tfrozen\theld\tavailable\tarrears")
	for _, s := range demoShops {
		var b struct {
			Accounts []balanceRow `json:"accounts"`
		}
		if !d.read(d.tok.main[s], s.path()+"/balances", &b) {
			continue
		}
		for _, r := range b.Accounts {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", s, r.Kind, r.Balance, r.Frozen, r.Held, r.Available, r.Arrears)
		}
	}
	tw.Flush()

	path = pandaDY.path() + "/payouts.csv"
	d.section("CSV export of one shop's records", d.tok.main[pandaDY], path)
	a, err := d.send(request{who: d.tok.main[pandaDY], method: "GET", path: path})
	d.checked++
	switch {
	case err != nil:
		d.mismatch(fmt.Sprintf("GET %s: %v", path, err))
	case a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/csv"):
		d.mismatch(fmt.Sprintf("GET %s: expected 200 text/csv, got %d %s", path, a.status, a.header.Get("Content-Type")))
	default:
		for _, l := range strings.Split(strings.TrimRight(string(a.raw), "\r\n"), "\n") {
			fmt.Fprintf(d.report, "  %s\n", strings.TrimRight(l, "\r"))
		}
	}
}

func orNone(s *string) string {
	if s == nil {
		return "no limit"
	}
	return *s
}

func enabled(on bool) string {
	if on {
		return "enabled"
	}
	return "disabled"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// summary is the last three lines of the run.
func (d *demo) summary() {
	n, byCode := d.rejectedByCode()
	fmt.Fprintf(d.report, "\nsummary\n")
	fmt.Fprintf(d.report, "  commands sent: %d over HTTP, and %d fired by the timers (seen on NATS)\n", d.sent, d.timersFired())
	fmt.Fprintf(d.report, "  accepted: %d (%d events appended; %d idempotent replay appending nothing)\n", d.ok, d.appended, d.replays)
	fmt.Fprintf(d.report, "  rejected: %d by code: %s\n", n, byCode)
}

// explore tells where to go next.
func (d *demo) explore(kept bool, dir string) {
	fmt.Fprintf(d.report, "\nexplore further: `make run` serves the API on 127.0.0.1:8080 (data in ./data); in another terminal\n")
	fmt.Fprintf(d.report, "  OPS=$(go run ./cmd/payoutctl token create --operator --name ops)\n")
	fmt.Fprintf(d.report, "  curl -s http://127.0.0.1:8080/v1/shops/douyin/S1001/payouts -H \"Authorization: Bearer $OPS\"\n")
	fmt.Fprintf(d.report, "  README.md walks through a shop, a payout and a refusal with curl; docs/openapi.yaml has every route, docs/rules.md every code.\n")
	if kept {
		fmt.Fprintf(d.report, "  This run's data is kept: `go run ./cmd/payoutd -data %s` serves it (tokens: payoutctl token create --data %s).\n", dir, dir)
	}
}
