package domain

import "time"

// RecordsQuery is a search of payout records (JD: by payout ID, order ID,
// time range; batch export). The read side answers it; the domain says
// whether the platform accepts it.
type RecordsQuery struct {
	PayoutID string
	OrderID  string
	Staff    string
	Status   PayoutStatus
	From, To time.Time // initiation time range [From, To)
	Limit    int
}

// MaxRecordsPage bounds one page of records.
const MaxRecordsPage = 10000

// ValidateRecordsQuery checks a records search against a platform's rule:
// a time range must be well formed (From before To) and at most the
// profile's MaxRange long; IDs must be well formed; pages are bounded.
// Errors carry the platform's records code (jd.records.export) or
// records.query_invalid.
func ValidateRecordsQuery(p *Profile, q RecordsQuery) error {
	code := CodeRecordsQuery
	var max time.Duration
	if p != nil && p.Records != nil {
		code, max = p.Records.Code, p.Records.MaxRange
	}
	if q.PayoutID != "" && !validID(q.PayoutID) || q.OrderID != "" && !validID(q.OrderID) || q.Staff != "" && !validID(q.Staff) {
		return reject(code, "payout, order and staff IDs must be 1-64 of A-Z a-z 0-9 _ -")
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return reject(code, "the time range is empty: from %s is not before to %s", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	if max > 0 && (q.From.IsZero() || q.To.IsZero() || q.To.Sub(q.From) > max) {
		return reject(code, "an export covers a time range of at most %s", max)
	}
	if q.Limit < 0 || q.Limit > MaxRecordsPage {
		return reject(code, "limit must be between 0 and %d", MaxRecordsPage)
	}
	return nil
}
