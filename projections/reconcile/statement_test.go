package reconcile_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/projections/reconcile"
)

func TestParseStatementAcceptsAWellFormedFile(t *testing.T) {
	in := "\ufeffPayout_ID, amount ,time,bank_ref\n" +
		"P1,12.50,2026-11-23T10:00:00+08:00,x\n" +
		"\n" +
		"\"P 2\",3,2026-11-23 10:05:00Z,\"multi\nline\"\n" +
		"P3, 0.01 ,2026-11-23T10:06:00.123+08:00,\n"
	got, err := reconcile.ParseStatement(strings.NewReader(in))
	require.NoError(t, err)
	require.Len(t, got, 3)
	require.Equal(t, 2, got[0].Line)
	require.Equal(t, "P1", got[0].PayoutID)
	require.Equal(t, "12.5", got[0].Amount.String())
	require.True(t, got[0].Time.Equal(time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)))
	require.Equal(t, 4, got[1].Line, "blank line 3 skipped")
	require.Equal(t, "P 2", got[1].PayoutID)
	require.Equal(t, 6, got[2].Line, "the quoted field spans lines 4 and 5")
	require.Equal(t, "0.01", got[2].Amount.String())
}

func TestParseStatementRefusesMalformedInput(t *testing.T) {
	const hdr = "payout_id,amount,time\n"
	const ok = "P1,1.00,2026-11-23T10:00:00+08:00\n"
	cases := []struct {
		name string
		in   string
		want []string // "line N: substring"
	}{
		{"empty file", "", []string{"line 1: empty file"}},
		{"no header", ok, []string{"line 1: header \"P1,1.00,2026-11-23T10:00:00+08:00\" lacks column(s) payout_id, amount, time"}},
		{"header lacks time", "payout_id,amount\nP1,1\n", []string{"line 1: header \"payout_id,amount\" lacks column(s) time"}},
		{"duplicate column", "payout_id,amount,time,Amount\n", []string{"line 1: column \"amount\" appears twice"}},
		{"empty payout id", hdr + ok + " ,1,2026-11-23T10:00:00Z\n", []string{"line 3: empty payout_id"}},
		{"amount not a number", hdr + "P1,abc,2026-11-23T10:00:00Z\n", []string{"line 2: amount \"abc\" is not a decimal number"}},
		{"amount with exponent", hdr + "P1,1e3,2026-11-23T10:00:00Z\n", []string{"line 2: amount \"1e3\" is not a decimal number"}},
		{"amount with comma", hdr + "P1,\"1,000.00\",2026-11-23T10:00:00Z\n", []string{"line 2: amount \"1,000.00\" is not a decimal number"}},
		{"negative amount", hdr + "P1,-5,2026-11-23T10:00:00Z\n", []string{"line 2: amount \"-5\" is not a decimal number"}},
		{"zero amount", hdr + "P1,0.00,2026-11-23T10:00:00Z\n", []string{"line 2: amount \"0.00\" is not positive"}},
		{"three decimals", hdr + "P1,1.005,2026-11-23T10:00:00Z\n", []string{"line 2: amount \"1.005\" has more than two decimal places"}},
		{"time without offset", hdr + "P1,1,2026-11-23T10:00:00\n", []string{"line 2: time \"2026-11-23T10:00:00\" is not RFC 3339"}},
		{"date only", hdr + "P1,1,2026-11-23\n", []string{"line 2: time \"2026-11-23\" is not RFC 3339"}},
		{"too few fields", hdr + ok + "P2,1\n", []string{"line 3: wrong number of fields"}},
		{"bad quoting", hdr + ok + "P2,\"1,2026\n", []string{"line 3: extraneous or missing \" in quoted-field"}},
		{
			"every malformed row is listed, both faults of a row",
			hdr + ok + "P2,x,2026-11-23T10:00:00Z\n" + ok + "P3,1,yesterday\nP4,-1,noon\n",
			[]string{"line 3: amount \"x\"", "line 5: time \"yesterday\"", "line 6: amount \"-1\"", "line 6: time \"noon\""},
		},
		{
			"long payout id",
			hdr + strings.Repeat("x", reconcile.MaxPayoutIDBytes+1) + ",1,2026-11-23T10:00:00Z\n",
			[]string{"line 2: payout_id longer than 200 bytes"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := reconcile.ParseStatement(strings.NewReader(tc.in))
			require.Nil(t, got, "nothing of a refused statement is returned")
			var se *reconcile.StatementError
			require.True(t, errors.As(err, &se), "want *StatementError, got %v", err)
			require.Len(t, se.Lines, len(tc.want), "%v", se)
			for i, w := range tc.want {
				require.Contains(t, se.Lines[i].Error(), w)
			}
		})
	}
}

func TestParseStatementStopsAfterMaxLineErrors(t *testing.T) {
	in := "payout_id,amount,time\n" + strings.Repeat("P,x,2026-11-23T10:00:00Z\n", 100)
	_, err := reconcile.ParseStatement(strings.NewReader(in))
	var se *reconcile.StatementError
	require.ErrorAs(t, err, &se)
	require.Len(t, se.Lines, reconcile.MaxLineErrors)
	require.True(t, se.Truncated)
	require.Contains(t, se.Error(), "stopped after 20 errors")
}

// FuzzParseStatement: any input is either refused with line numbers or
// read into well-formed lines; it never panics.
func FuzzParseStatement(f *testing.F) {
	f.Add("payout_id,amount,time\nP1,12.50,2026-11-23T10:00:00+08:00\n")
	f.Add("time,payout_id,amount\n2026-11-23 10:00:00Z,\"P\n2\",1\n")
	f.Add("payout_id,amount,time\nP1,1e3,x\n\"unterminated")
	f.Add("\ufeffpayout_id;amount;time\n")
	f.Fuzz(func(t *testing.T, in string) {
		lines, err := reconcile.ParseStatement(strings.NewReader(in))
		if err != nil {
			require.Nil(t, lines)
			var se *reconcile.StatementError
			if errors.As(err, &se) {
				require.NotEmpty(t, se.Lines)
				require.LessOrEqual(t, len(se.Lines), reconcile.MaxLineErrors)
				for _, l := range se.Lines {
					require.Positive(t, l.Line)
				}
			}
			return
		}
		prev := 1
		for _, l := range lines {
			require.Greater(t, l.Line, prev, "lines in file order, after the header")
			prev = l.Line
			require.NotEmpty(t, l.PayoutID)
			require.True(t, l.Amount.IsPositive())
			require.True(t, l.Amount.Equal(l.Amount.Truncate(2)))
			require.False(t, l.Time.IsZero())
		}
	})
}
