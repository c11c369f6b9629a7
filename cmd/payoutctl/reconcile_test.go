package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// reconcileLedgerDir writes an embedded store with succeeded payouts in
// two shops (one confirmed by the buyer on 1688), a failed one, and other
// events around them, and returns its data directory.
func reconcileLedgerDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, reconcileWriteLedger(dir))
	return dir
}

func reconcileWriteLedger(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := jetstream.Open(ctx, jetstream.Config{DataDir: dir})
	if err != nil {
		return err
	}
	defer store.Close()
	dec := decimal.RequireFromString
	n := 0
	ids := func() uuid.UUID { n++; return uuid.NewSHA1(uuid.NameSpaceOID, []byte{byte(n)}) }
	appendTo := func(stream string, at time.Time, payloads ...domain.Payload) error {
		req := domain.Request{Now: at, Actor: domain.Actor{ID: "psp", Role: domain.RoleOperator}}
		data, err := handler.Encode(domain.NewEvents(stream, "Test", req, ids, payloads))
		if err != nil {
			return err
		}
		_, err = store.Append(ctx, stream, eventstore.Any, data)
		return err
	}
	day := time.Date(2026, 11, 23, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	for _, step := range []struct {
		stream   string
		at       time.Time
		payloads []domain.Payload
	}{
		{"jd.S1", day, []domain.Payload{domain.PayoutProcessing{PayoutID: "P1"}, domain.PayoutSucceeded{PayoutID: "P1", Amount: dec("12.5"), Funding: domain.AccountWallet}}},
		{"1688.S2", day.Add(time.Hour), []domain.Payload{domain.PayoutConfirmedByBuyer{PayoutID: "Q1", Amount: dec("30"), Funding: domain.AccountReserve}}},
		{"jd.S1", day.Add(2 * time.Hour), []domain.Payload{domain.PayoutFailed{PayoutID: "P2", Reason: "bank"}}},
		{"jd.S1", day.Add(3 * time.Hour), []domain.Payload{domain.PayoutSucceeded{PayoutID: "P3", Amount: dec("5"), Funding: domain.AccountWallet}}},
		{"jd.S1", day.Add(-48 * time.Hour), []domain.Payload{domain.PayoutSucceeded{PayoutID: "OLD", Amount: dec("1"), Funding: domain.AccountWallet}}},
	} {
		if err := appendTo(step.stream, step.at, step.payloads...); err != nil {
			return err
		}
	}
	return nil
}

func reconcileStatement(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "statement.csv")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

func reconcileRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runReconcile(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestReconcileEverythingMatches(t *testing.T) {
	st := reconcileStatement(t, "payout_id,amount,time\n"+
		"P1,12.50,2026-11-23T10:00:05+08:00\n"+
		"Q1,30.00,2026-11-23T11:00:00+08:00\n"+
		"P3,5,2026-11-23T13:00:00+08:00\n")
	code, out, errOut := reconcileRun(t, "--data", reconcileLedgerDir(t), "--statement", st, "--from", "2026-11-23T00:00:00+08:00", "--until", "2026-11-24T00:00:00+08:00")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Empty(t, errOut)
	require.Contains(t, out, "6 events in 2 streams (hash chains verified), 4 succeeded payouts")
	require.Contains(t, out, "1 ledger payouts outside it and not on the statement left out")
	require.Regexp(t, `matched\s+3\s+47\.50\s+47\.50`, out)
	require.Contains(t, out, "result: everything matches")
}

func TestReconcileReportsEveryKindOfDifference(t *testing.T) {
	st := reconcileStatement(t, "time,payout_id,amount,bank_ref\n"+
		"2026-11-23T10:00:05+08:00,P1,12.50,a\n"+
		"2026-11-23T11:00:00+08:00,Q1,30.01,b\n"+
		"2026-11-23T11:30:00+08:00,X9,7,c\n"+
		"2026-11-23T10:00:09+08:00,P1,12.50,d\n")
	code, out, errOut := reconcileRun(t, "--data", reconcileLedgerDir(t), "--statement", st)
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	for _, re := range []string{
		`matched\s+1\s+12\.50\s+12\.50`,
		`amount mismatch\s+1\s+30\.00\s+30\.01`,
		`missing from statement\s+2\s+6\.00\s+0\.00`,
		`missing from ledger\s+2\s+0\.00\s+19\.50`,
		`Q1\s+ledger 30\.00\s+1688\.S2 at 2026-11-23T11:00:00\+08:00\s+statement 30\.01\s+line 3 at 2026-11-23T11:00:00\+08:00\s+difference \+0\.01`,
		`OLD\s+ledger 1\.00\s+jd\.S1 at 2026-11-21T10:00:00\+08:00`,
		`P3\s+ledger 5\.00\s+jd\.S1`,
		`P1\s+statement 12\.50\s+line 5 .*\(the statement lists this payout more often than the ledger paid it\)`,
		`X9\s+statement 7\.00\s+line 4`,
		`result: 5 differences`,
	} {
		require.Regexp(t, re, out)
	}
	// The failed payout is nowhere.
	require.NotContains(t, out, "P2")
}

func TestReconcileRefusesBadInput(t *testing.T) {
	ledger := reconcileLedgerDir(t)
	good := reconcileStatement(t, "payout_id,amount,time\nP1,12.50,2026-11-23T10:00:05+08:00\n")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no flags", nil, "--data and --statement are required"},
		{"unknown flag", []string{"--nope"}, "flag provided but not defined: -nope"},
		{"stray argument", []string{"--data", "x", "--statement", good, "extra"}, `unexpected argument "extra"`},
		{"malformed row", []string{"--data", ledger, "--statement", reconcileStatement(t, "payout_id,amount,time\nP1,12.50,2026-11-23T10:00:05+08:00\nP2,12,5,2026-11-23\nP3,abc,2026-11-23T10:00:05+08:00\n")},
			"line 3: wrong number of fields\n  line 4: amount \"abc\" is not a decimal number"},
		{"no header", []string{"--data", ledger, "--statement", reconcileStatement(t, "P1,12.50,2026-11-23T10:00:05+08:00\n")}, "line 1: header"},
		{"missing statement", []string{"--data", ledger, "--statement", "/nonexistent/s.csv"}, "no such file"},
		{"missing data dir", []string{"--data", "/nonexistent", "--statement", good}, "--data: stat /nonexistent"},
		{"not an event store", []string{"--data", t.TempDir(), "--statement", good}, "holds no event store"},
		{"bad period", []string{"--data", ledger, "--statement", good, "--from", "yesterday"}, `--from: time "yesterday" is not RFC 3339`},
		{"empty period", []string{"--data", ledger, "--statement", good, "--from", "2026-11-24T00:00:00Z", "--until", "2026-11-23T00:00:00Z"}, "is not before --until"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := reconcileRun(t, tc.args...)
			require.Equal(t, 2, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			require.Contains(t, errOut, tc.want)
			require.Empty(t, out, "nothing reconciled, nothing reported")
		})
	}
}

func TestReconcileHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		code, out, errOut := reconcileRun(t, arg)
		require.Equal(t, 0, code)
		require.Empty(t, errOut)
		require.True(t, strings.HasPrefix(out, "usage: payoutctl reconcile --data DIR --statement FILE"), out)
		for _, want := range []string{"-statement string", "-from string", "Exit status: 0 when everything matches, 1 when differences are found"} {
			require.Contains(t, out, want)
		}
	}
}
