package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/domain"
)

// The summary of the scenario: what `make demo` ends with when every step
// is answered as the scenario declares. A change of the scenario changes
// these lines on purpose.
const (
	wantSent     = "  commands sent: 96 over HTTP, and 6 fired by the timers (seen on NATS)"
	wantAccepted = "  accepted: 62 (63 events appended; 1 idempotent replay appending nothing)"
	wantRejected = "  rejected: 34 by code: 1688.enroll.agreement 1, 1688.order.count 1, 1688.payout.half_cash 1, " +
		"1688.staff.permission 1, auth.forbidden 1, auth.missing_token 1, dup.same_type 1, dy.lifecycle 1, dy.order.cap 1, " +
		"dy.order.channel 1, dy.order.rate 2, dy.staff.daily 1, dy.staff.per_payout 1, dy.staff.permission 1, " +
		"jd.enroll.shop_type 1, jd.enroll.wallet 1, jd.funds.arrears 1, jd.funds.insufficient 1, jd.verify.sms 1, " +
		"limits.above_ceiling 1, pdd.fail.account_card 1, pdd.input.required 1, pdd.order.group 1, pdd.order.rate 1, " +
		"pdd.route.approval 1, pdd.route.scan_only 2, state.illegal_transition 3, tb.card.cancel 1, " +
		"tb.collect.order_total 1, tb.collect.reason 1"
)

// TestDemoPlaysTheDayAsDeclared runs the whole demo in process, on a kept
// data directory: it exits 0 (every answer as the scenario declares, every
// timer fired once), prints the summary with the scenario's counts, the
// timers read back from NATS, the read models and the CSV export.
func TestDemoPlaysTheDayAsDeclared(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	status := Main(ctx, []string{"-data", dir}, &out, &errb)
	require.Equal(t, 0, status, "stderr:\n%s\nstdout:\n%s", errb.String(), out.String())
	require.NotContains(t, errb.String(), "UNEXPECTED")

	text := out.String()
	lines := strings.Split(text, "\n")
	require.Contains(t, lines, wantSent)
	require.Contains(t, lines, wantAccepted)
	require.Contains(t, lines, wantRejected)
	for _, want := range []string{
		// A step: who, method and path, status, the rule that refused it.
		"REJECTED dy.staff.daily: above the staff daily quota (limit 60, used 20, requested 45 CNY)",
		"401  REJECTED auth.missing_token",
		"403  REJECTED auth.forbidden",
		"replayed (Idempotent-Replayed: true), nothing appended: PayoutInitiated(45.00, pending, route direct)",
		// The timers, as a NATS consumer saw them.
		"PayoutTopUpFailed(Q3)   # NATS ledger.pdd.sunny-pdd.PayoutTopUpFailed",
		"CardExpired(confirmation P4)",
		"PayoutClosed(refund due Thu 12-03 14:00)",
		"PayoutRefundedToMerchant(Q1, 8.00)",
		// The read models, through the API.
		"audit: read 69 events back from the start of the log, 6 shop streams, every hash chain verified",
		"used 1 payout(s), 20.00; 40.00 left today",
		"douyin,panda-dy,Y3,D2,admin,main,service,45.00,succeeded,direct,proceeds,sorry,2026-11-23",
	} {
		require.Contains(t, text, want)
	}
	// The data is kept: the token file and the event store are there.
	_, err := os.Stat(filepath.Join(dir, "tokens.json"))
	require.NoError(t, err)
	// A second run on the same directory would collide with the first.
	require.Equal(t, 1, Main(ctx, []string{"-data", dir}, &out, &errb))
	require.Contains(t, errb.String(), "is not empty")
}

// TestDemoFlags: usage errors exit 2 before anything starts.
func TestDemoFlags(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown sync policy", []string{"-sync", "sometimes"}, `-sync "sometimes": want always or interval`},
		{"an argument", []string{"extra"}, `unexpected argument "extra"`},
		{"an unknown flag", []string{"-fast"}, "flag provided but not defined: -fast"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			require.Equal(t, 2, Main(context.Background(), c.args, &out, &errb))
			require.Contains(t, errb.String(), c.want)
			require.Empty(t, out.String())
		})
	}
}

// TestCheckComparesTheAnswerWithTheStep: how a step's declared answer is
// compared with the API's (the demo's exit status rests on it).
func TestCheckComparesTheAnswerWithTheStep(t *testing.T) {
	withEvents := answer{status: http.StatusCreated, events: []domain.Event{{Type: "ShopRegistered"}}}
	for _, c := range []struct {
		name string
		want expect
		got  answer
		diff string
	}{
		{"an accepted command", created, withEvents, ""},
		{"a rule's refusal", rule("dy.order.rate"), answer{status: 422, code: "dy.order.rate"}, ""},
		{"another rule", rule("dy.order.rate"), answer{status: 422, code: "dy.order.cap"}, "expected 422 dy.order.rate, got dy.order.cap"},
		{"accepted where a refusal is expected", rule("dy.order.rate"), withEvents, "expected 422 dy.order.rate, got status 201, no error code"},
		{"refused where acceptance is expected", created, answer{status: 403, code: "auth.forbidden"}, "expected 201, got status 403, auth.forbidden"},
		{"another success status", done, withEvents, "expected 200, got status 201"},
		{"accepted without events", created, answer{status: 201}, "expected 201, got no events"},
		{"a replay", expect{status: 201, replay: true}, answer{status: 201, replayed: true}, ""},
		{"not replayed where a replay is expected", expect{status: 201, replay: true}, withEvents, "expected 201 replayed, got Idempotent-Replayed false"},
		{"replayed where a new command is expected", created, answer{status: 201, replayed: true, events: withEvents.events}, "expected 201, got Idempotent-Replayed true"},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.diff, check(c.want, c.got))
		})
	}
}

// TestSpanNamesClockMoves: the clock lines read "+2d 18h", not "+66h0m0s".
func TestSpanNamesClockMoves(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Minute:                   "1m",
		time.Hour:                     "1h",
		66 * time.Hour:                "2d 18h",
		72 * time.Hour:                "3d",
		94*time.Hour + time.Minute:    "3d 22h 1m",
		0:                             "0m",
		25*time.Hour + 30*time.Minute: "1d 1h 30m",
	} {
		require.Equal(t, want, span(d), "%s", d)
	}
}
