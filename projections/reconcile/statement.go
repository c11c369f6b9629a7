package reconcile

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Limits of a statement file: beyond them the file is refused, not
// truncated.
const (
	MaxStatementLines = 10_000_000
	MaxPayoutIDBytes  = 200
	// MaxLineErrors is how many malformed rows a StatementError lists
	// before it stops reading.
	MaxLineErrors = 20
)

// The columns a statement must have (header, any order, case-insensitive;
// other columns are ignored).
const (
	ColPayoutID = "payout_id"
	ColAmount   = "amount"
	ColTime     = "time"
)

// LineError is one refused row of a statement.
type LineError struct {
	Line int // 1-based; the header is line 1
	Msg  string
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// StatementError refuses a statement: a missing or malformed header, or
// the malformed rows (at most MaxLineErrors of them, in file order).
// Nothing of a refused statement is reconciled.
type StatementError struct {
	Lines     []LineError
	Truncated bool // more malformed rows followed
}

func (e *StatementError) Error() string {
	var b strings.Builder
	b.WriteString("malformed statement:")
	for _, l := range e.Lines {
		b.WriteString("\n  ")
		b.WriteString(l.Error())
	}
	if e.Truncated {
		fmt.Fprintf(&b, "\n  (stopped after %d errors)", len(e.Lines))
	}
	return b.String()
}

// amountText: plain decimal notation, no sign, no exponent, no thousands
// separators ("12", "12.5", "12.50").
var amountText = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// ParseAmount reads a statement amount: a positive decimal string with at
// most two decimal places by value ("12.500" is 12.50; "12.005" is
// refused, never rounded).
func ParseAmount(s string) (decimal.Decimal, error) {
	if !amountText.MatchString(s) {
		return decimal.Zero, fmt.Errorf("amount %q is not a decimal number like 12.50", s)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Zero, fmt.Errorf("amount %q: %v", s, err)
	}
	if !d.Equal(d.Truncate(2)) {
		return decimal.Zero, fmt.Errorf("amount %q has more than two decimal places", s)
	}
	if !d.IsPositive() {
		return decimal.Zero, fmt.Errorf("amount %q is not positive", s)
	}
	return d, nil
}

// timeLayouts: RFC 3339, with a space or a T between date and time.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00"}

// ParseTime reads a statement time: RFC 3339 with its offset
// ("2026-11-23T10:00:00+08:00", or a space instead of the T). A time
// without an offset is refused: it would be read in an arbitrary zone.
func ParseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q is not RFC 3339 with an offset, like 2026-11-23T10:00:00+08:00", s)
}

// ParseStatement reads a statement CSV: a header naming at least the
// columns payout_id, amount and time, then one row per executed payout.
// Blank lines are skipped and a UTF-8 byte-order mark is ignored. It
// returns the rows, or a *StatementError listing the malformed rows with
// their line numbers (nothing is returned then), or a read error.
func ParseStatement(r io.Reader) ([]StatementLine, error) {
	br := bufio.NewReader(r)
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &StatementError{Lines: []LineError{{Line: 1, Msg: "empty file: a header payout_id,amount,time is required"}}}
	}
	if err != nil {
		return nil, csvError(err)
	}
	hline, _ := cr.FieldPos(0)
	col := map[string]int{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		if _, dup := col[name]; dup && name != "" {
			return nil, &StatementError{Lines: []LineError{{Line: hline, Msg: fmt.Sprintf("column %q appears twice in the header", name)}}}
		}
		col[name] = i
	}
	var missing []string
	for _, c := range []string{ColPayoutID, ColAmount, ColTime} {
		if _, ok := col[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, &StatementError{Lines: []LineError{{Line: hline, Msg: fmt.Sprintf(
			"header %q lacks column(s) %s (a header payout_id,amount,time is required)",
			strings.Join(header, ","), strings.Join(missing, ", "))}}}
	}
	iID, iAmount, iTime := col[ColPayoutID], col[ColAmount], col[ColTime]

	var out []StatementLine
	serr := &StatementError{}
	fail := func(line int, format string, args ...any) bool {
		if len(serr.Lines) == MaxLineErrors {
			serr.Truncated = true
			return false
		}
		serr.Lines = append(serr.Lines, LineError{Line: line, Msg: fmt.Sprintf(format, args...)})
		return true
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				if !fail(pe.StartLine, "%v", pe.Err) {
					break
				}
				if errors.Is(pe.Err, csv.ErrFieldCount) {
					continue // the reader can go on after a short or long row
				}
				break // a quoting error: the rest of the file cannot be trusted
			}
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if len(out) == MaxStatementLines {
			fail(line, "more than %d rows", MaxStatementLines)
			break
		}
		row, msgs := parseRow(line, rec[iID], rec[iAmount], rec[iTime])
		for _, m := range msgs {
			fail(line, "%s", m)
		}
		if serr.Truncated {
			break
		}
		if len(serr.Lines) == 0 {
			out = append(out, row)
		}
		// After the first malformed row, read on only to report the others.
	}
	if len(serr.Lines) > 0 {
		return nil, serr
	}
	return out, nil
}

// parseRow checks one row; msgs says what is wrong with it.
func parseRow(line int, idS, amountS, timeS string) (row StatementLine, msgs []string) {
	row.Line = line
	row.PayoutID = strings.TrimSpace(idS)
	switch {
	case row.PayoutID == "":
		msgs = append(msgs, "empty payout_id")
	case len(row.PayoutID) > MaxPayoutIDBytes:
		msgs = append(msgs, fmt.Sprintf("payout_id longer than %d bytes", MaxPayoutIDBytes))
	}
	var err error
	if row.Amount, err = ParseAmount(strings.TrimSpace(amountS)); err != nil {
		msgs = append(msgs, err.Error())
	}
	if row.Time, err = ParseTime(strings.TrimSpace(timeS)); err != nil {
		msgs = append(msgs, err.Error())
	}
	return row, msgs
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &StatementError{Lines: []LineError{{Line: pe.StartLine, Msg: pe.Err.Error()}}}
	}
	return err
}
