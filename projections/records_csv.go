package projections

import (
	"encoding/csv"
	"io"
	"strings"
	"time"

	"github.com/payoutledger/ledger/domain"
)

// RecordsCSVHeader is the header of the payout-records CSV export, in
// column order. The columns are a contract for merchants' spreadsheets:
// append new ones at the end, never reorder.
var RecordsCSVHeader = []string{
	"platform", "shop_id", "payout_id", "order_id", "staff", "staff_role", "payout_type", "amount",
	"status", "route", "funding", "reason", "day", "initiated_at", "updated_at", "deadline_at",
	"refund_due_at", "succeeded_at", "failure_reason", "decided_by",
}

// WriteRecordsCSV writes records as CSV (RFC 4180, header first): amounts
// with two decimals, times RFC 3339 in the shop's time zone (the local
// day of the JD export), empty for none. Free-text cells starting with
// = + - @ are prefixed with a quote so that a spreadsheet does not run
// them as formulas. Errors: the writer's.
func WriteRecordsCSV(w io.Writer, recs []PayoutRecord) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(RecordsCSVHeader); err != nil {
		return err
	}
	for _, r := range recs {
		loc := zone(r.TimeZone)
		ts := func(t *time.Time) string {
			if t == nil {
				return ""
			}
			return t.In(loc).Format(time.RFC3339)
		}
		initiated, updated := r.InitiatedAt, r.UpdatedAt
		if err := cw.Write([]string{
			string(r.Shop.Platform), r.Shop.ShopID, r.PayoutID, r.OrderID, r.Staff, string(r.StaffRole), string(r.Type),
			domain.Money(r.Amount), string(r.Status), string(r.Route), string(r.Funding), cell(r.Reason), r.Day,
			ts(&initiated), ts(&updated), ts(r.DeadlineAt), ts(r.RefundDueAt), ts(r.SucceededAt),
			cell(r.FailureReason), r.DecidedBy,
		}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// cell neutralises a spreadsheet formula in free text.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@", rune(s[0])) {
		return "'" + s
	}
	return s
}
