package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/payoutledger/ledger/domain"
)

// obj is a JSON request body.
type obj = map[string]any

// expect is the answer a step of the scenario declares.
type expect struct {
	status int
	code   string // the error code of a refusal; "" for a success
	replay bool   // a success answered from an earlier request (Idempotent-Replayed: true)
}

// accepted: a command the ledger takes (201 creates a resource, 200 otherwise).
func accepted(status int) expect { return expect{status: status} }

// refused: a command answered with an error code (422 for a rule).
func refused(status int, code string) expect { return expect{status: status, code: code} }

// rule: a command a business rule refuses (422 with the rule's ID).
func rule(code string) expect { return refused(http.StatusUnprocessableEntity, code) }

func (e expect) String() string {
	s := strconv.Itoa(e.status)
	if e.code != "" {
		s += " " + e.code
	}
	if e.replay {
		s += " replayed"
	}
	return s
}

// answer is an HTTP answer of the API.
type answer struct {
	status   int
	header   http.Header
	raw      []byte
	code     string         // error answers: {"code", "message", "details"}
	message  string         //
	details  map[string]any //
	replayed bool           // Idempotent-Replayed: true
	events   []domain.Event // accepted commands: the events appended (or replayed)
}

// check compares an answer with what the step expects: "" when they
// agree, else what differs.
func check(want expect, got answer) string {
	var diffs []string
	if got.status != want.status {
		diffs = append(diffs, fmt.Sprintf("status %d", got.status))
	}
	if got.code != want.code {
		c := got.code
		if c == "" {
			c = "no error code"
		}
		diffs = append(diffs, c)
	}
	if got.replayed != want.replay {
		diffs = append(diffs, fmt.Sprintf("Idempotent-Replayed %t", got.replayed))
	}
	if want.code == "" && !want.replay && got.status < 300 && got.code == "" && len(got.events) == 0 {
		diffs = append(diffs, "no events")
	}
	if len(diffs) == 0 {
		return ""
	}
	return "expected " + want.String() + ", got " + strings.Join(diffs, ", ")
}

// request is one request of the scenario, kept to be sent again.
type request struct {
	who    who
	method string
	path   string
	body   []byte
	key    string // Idempotency-Key of a command
}

// demo drives the scenario over HTTP and keeps the tally.
type demo struct {
	ctx    context.Context
	base   string
	client *http.Client
	clk    *clock
	start  time.Time // the scenario's Monday 10:00
	tok    tokenSet
	fol    *follower
	out    io.Writer // the steps (io.Discard with -quiet)
	report io.Writer // the read models and the summary
	errw   io.Writer // answers that differ from the scenario's

	seq        int
	last       request
	sent       int            // commands sent over HTTP
	ok         int            // commands accepted
	replays    int            // of which answered from an earlier request
	appended   int            // events appended by the accepted commands
	rejected   map[string]int // commands refused, by code
	checked    int            // answers compared with the scenario
	mismatches []string
	timersWant []string // idempotency keys of the timers the scenario expects to fire
	timerMark  uint64   // position of the last event already reported
}

func newDemo(ctx context.Context, base string, clk *clock, tok tokenSet, fol *follower, out, report, errw io.Writer) *demo {
	// One keep-alive client, as a back-office integration would hold: the
	// connection is reused for every request of the demo.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4
	return &demo{ctx: ctx, base: base, client: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		clk: clk, start: clk.Now(), tok: tok, fol: fol, out: out, report: report, errw: errw, rejected: map[string]int{}}
}

// step sends a command (a fresh Idempotency-Key), prints one line and
// checks the answer against want.
func (d *demo) step(w who, method, path string, body obj, want expect, note string) answer {
	d.seq++
	r := request{who: w, method: method, path: path, key: fmt.Sprintf("demo-%03d", d.seq)}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			d.mismatch(fmt.Sprintf("%s %s: encode the body: %v", method, path, err))
			return answer{}
		}
		r.body = b
	}
	return d.do(r, want, note)
}

// retry sends the previous command again, byte for byte, with its
// Idempotency-Key: what a client does when it lost the answer.
func (d *demo) retry(want expect, note string) answer { return d.do(d.last, want, note) }

func (d *demo) do(r request, want expect, note string) answer {
	d.last = r
	d.sent++
	a, err := d.send(r)
	if err != nil {
		d.line(r, 0, "ERROR "+err.Error(), note)
		d.mismatch(fmt.Sprintf("%s %s: %v", r.method, r.path, err))
		return a
	}
	var outcome string
	switch {
	case a.status >= 300:
		d.rejected[a.code]++
		outcome = "REJECTED " + a.code + ": " + a.message + numbers(a.details)
	case a.replayed:
		d.ok++
		d.replays++
		outcome = "replayed (Idempotent-Replayed: true), nothing appended: " + describeAll(a.events)
	default:
		d.ok++
		d.appended += len(a.events)
		outcome = describeAll(a.events)
	}
	d.line(r, a.status, outcome, note)
	d.checked++
	if diff := check(want, a); diff != "" {
		d.mismatch(fmt.Sprintf("%s %s by %s: %s", r.method, r.path, r.who.label, diff))
	}
	return a
}

func (d *demo) line(r request, status int, outcome, note string) {
	if note != "" {
		outcome += "   # " + note
	}
	fmt.Fprintf(d.out, "  %-19s %-6s %-49s %3d  %s\n", r.who.label, r.method, r.path, status, outcome)
}

// mismatch records an answer the scenario did not expect; it is printed
// even with -quiet.
func (d *demo) mismatch(msg string) {
	d.mismatches = append(d.mismatches, msg)
	line := "  !! UNEXPECTED: " + msg + "\n"
	if d.out != io.Discard {
		fmt.Fprint(d.out, line) // in place, among the steps
	}
	fmt.Fprint(d.errw, line)
}

// numbers renders the numbers a rule checked, as the domain's Rejection
// prints them.
func numbers(details map[string]any) string {
	limit, ok := details["limit"].(string)
	if !ok {
		return ""
	}
	get := func(k string) string {
		if v, ok := details[k].(string); ok {
			return v
		}
		return "0"
	}
	return fmt.Sprintf(" (limit %s, used %s, requested %s %s)", limit, get("used"), get("requested"), details["unit"])
}

func describeAll(evs []domain.Event) string {
	names := make([]string, len(evs))
	for i, e := range evs {
		names[i] = describe(e.Data)
	}
	return strings.Join(names, ", ")
}

// describe names an event with what a reader wants to see of it.
func describe(p domain.Payload) string {
	switch e := p.(type) {
	case domain.PayoutInitiated:
		return fmt.Sprintf("PayoutInitiated(%s, %s, route %s)", domain.Money(e.Amount), e.Status, e.Route)
	case domain.DuplicateCompensationWarned:
		if e.Rule != "" {
			return fmt.Sprintf("DuplicateCompensationWarned(%s, %s)", e.Kind, e.Rule)
		}
		return fmt.Sprintf("DuplicateCompensationWarned(%s)", e.Kind)
	case domain.PayoutClosed:
		if e.RefundDueAt == nil {
			return "PayoutClosed(nothing to refund)"
		}
		return fmt.Sprintf("PayoutClosed(refund due %s)", e.RefundDueAt.Format("Mon 01-02 15:04"))
	case domain.CardExpired:
		return fmt.Sprintf("CardExpired(%s %s)", e.Card, e.ID)
	case domain.PayoutTopUpFailed:
		return fmt.Sprintf("PayoutTopUpFailed(%s)", e.PayoutID)
	case domain.PayoutRefundedToMerchant:
		return fmt.Sprintf("PayoutRefundedToMerchant(%s, %s)", e.PayoutID, domain.Money(e.Amount))
	}
	return p.EventType()
}

// header starts a part of the day.
func (d *demo) header(title string) {
	fmt.Fprintf(d.out, "\n== %s  %s ==\n", d.clk.Now().Format("Mon 01-02 15:04"), title)
}

// rejectedByCode renders the refusals as "code n, code n" in code order.
func (d *demo) rejectedByCode() (int, string) {
	codes := make([]string, 0, len(d.rejected))
	n := 0
	for c, k := range d.rejected {
		codes = append(codes, c)
		n += k
	}
	sort.Strings(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s %d", c, d.rejected[c])
	}
	return n, strings.Join(parts, ", ")
}
