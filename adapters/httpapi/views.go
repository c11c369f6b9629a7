package httpapi

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/adapters/tokens"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/projections"
)

// Reads. Who sees what (docs/openapi.yaml, "Reads"): a shop's main
// account and the operators reaching the shop see all of it; a
// sub-account sees only what is its own (its payout records, its approval
// requests, its quota) plus what it needs to act (the shop's quota usage
// and the duplicate warnings it may acknowledge). Balances and daily
// totals are finance data: main and operators only (Route.Roles).
// A sub-account asking for another account's rows gets 403; a payout of
// another account is, for it, unknown (404).

// query is the context of one read.
type query struct {
	p tokens.Principal
	r *http.Request
}

func (q *query) shop() domain.ShopRef {
	return domain.ShopRef{Platform: domain.PlatformID(q.r.PathValue("platform")), ShopID: q.r.PathValue("shop")}
}

// sub is the account ID of a sub-account principal ("" otherwise).
func (q *query) sub() string {
	if q.p.Kind == tokens.KindStaff && q.p.Role == domain.RoleSub {
		return q.p.Staff
	}
	return ""
}

// staffParam reads the staff filter: a sub-account is always filtered to
// itself, and may not name another account.
func (q *query) staffParam(name string) (string, error) {
	v := q.r.URL.Query().Get(name)
	if v != "" && !validID(v) {
		return "", badQuery(name, "must be 1-64 of A-Z a-z 0-9 _ -")
	}
	if self := q.sub(); self != "" {
		if v != "" && v != self {
			return "", fail(http.StatusForbidden, CodeForbidden, "a sub-account reads only its own rows").with("role", string(domain.RoleSub))
		}
		return self, nil
	}
	return v, nil
}

func badQuery(param, msg string) *apiError {
	return fail(http.StatusBadRequest, CodeInvalidQuery, "query parameter "+param+" "+msg).with("param", param)
}

// day reads a YYYY-MM-DD parameter ("" when absent).
func (q *query) day(name string) (string, error) {
	v := q.r.URL.Query().Get(name)
	if v == "" {
		return "", nil
	}
	if _, err := time.Parse(time.DateOnly, v); err != nil {
		return "", badQuery(name, "must be a date YYYY-MM-DD")
	}
	return v, nil
}

// --- payout records ---------------------------------------------------------

// recordJSON is one payout record. Amounts have two decimals; times are
// RFC 3339 UTC (the CSV export uses the shop's zone).
type recordJSON struct {
	Platform      domain.PlatformID   `json:"platform"`
	ShopID        string              `json:"shop_id"`
	PayoutID      string              `json:"payout_id"`
	OrderID       string              `json:"order_id"`
	Staff         string              `json:"staff"`
	StaffRole     domain.Role         `json:"staff_role"`
	Type          domain.PayoutType   `json:"type"`
	Amount        string              `json:"amount"`
	Reason        string              `json:"reason,omitempty"`
	Message       string              `json:"message,omitempty"`
	Funding       domain.AccountKind  `json:"funding,omitempty"`
	GoodsID       string              `json:"goods_id,omitempty"`
	Remark        string              `json:"remark,omitempty"`
	Route         domain.Route        `json:"route"`
	Status        domain.PayoutStatus `json:"status"`
	Day           string              `json:"day"`
	InitiatedAt   time.Time           `json:"initiated_at"`
	UpdatedAt     time.Time           `json:"updated_at"`
	DeadlineAt    *time.Time          `json:"deadline_at,omitempty"`
	CardExpiresAt *time.Time          `json:"card_expires_at,omitempty"`
	CardExpired   bool                `json:"card_expired,omitempty"`
	RefundDueAt   *time.Time          `json:"refund_due_at,omitempty"`
	RefundLatest  *time.Time          `json:"refund_latest_at,omitempty"`
	SucceededAt   *time.Time          `json:"succeeded_at,omitempty"`
	FailureReason string              `json:"failure_reason,omitempty"`
	DecidedBy     string              `json:"decided_by,omitempty"`
	TimeZone      string              `json:"time_zone"`
}

func toRecordJSON(r projections.PayoutRecord) recordJSON {
	return recordJSON{Platform: r.Shop.Platform, ShopID: r.Shop.ShopID, PayoutID: r.PayoutID, OrderID: r.OrderID, Staff: r.Staff,
		StaffRole: r.StaffRole, Type: r.Type, Amount: domain.Money(r.Amount), Reason: r.Reason, Message: r.Message,
		Funding: r.Funding, GoodsID: r.GoodsID, Remark: r.Remark, Route: r.Route, Status: r.Status, Day: r.Day,
		InitiatedAt: r.InitiatedAt, UpdatedAt: r.UpdatedAt, DeadlineAt: r.DeadlineAt, CardExpiresAt: r.CardExpiresAt,
		CardExpired: r.CardExpired, RefundDueAt: r.RefundDueAt, RefundLatest: r.RefundLatestAt, SucceededAt: r.SucceededAt,
		FailureReason: r.FailureReason, DecidedBy: r.DecidedBy, TimeZone: r.TimeZone}
}

// recordsFilter reads the search parameters: payout, order, staff,
// status, from and to (RFC 3339, initiation time [from, to)), limit.
func (q *query) recordsFilter() (projections.RecordsFilter, error) {
	v := q.r.URL.Query()
	ref := q.shop()
	f := projections.RecordsFilter{Platform: ref.Platform, ShopID: ref.ShopID}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"payout", &f.PayoutID}, {"order", &f.OrderID}} {
		if s := v.Get(p.name); s != "" {
			if !validID(s) {
				return f, badQuery(p.name, "must be 1-64 of A-Z a-z 0-9 _ -")
			}
			*p.dst = s
		}
	}
	staff, err := q.staffParam("staff")
	if err != nil {
		return f, err
	}
	f.Staff = staff
	if s := v.Get("status"); s != "" {
		if !validID(s) {
			return f, badQuery("status", "is not a payout status")
		}
		f.Status = domain.PayoutStatus(s)
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if s := v.Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return f, badQuery(p.name, "must be an RFC 3339 time")
			}
			*p.dst = t
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > domain.MaxRecordsPage {
			return f, badQuery("limit", "must be an integer from 1 to "+strconv.Itoa(domain.MaxRecordsPage))
		}
		f.Limit = n
	}
	return f, nil
}

func searchRecords(a *API, q *query) ([]projections.PayoutRecord, error) {
	f, err := q.recordsFilter()
	if err != nil {
		return nil, err
	}
	var recs []projections.PayoutRecord
	err = projections.View(a.cfg.Views, projections.PayoutRecordsName, func(p *projections.PayoutRecords) error {
		recs, err = p.Search(f)
		return err
	})
	return recs, err
}

// wantsCSV: Accept names text/csv (and not JSON before it).
func wantsCSV(r *http.Request) bool {
	acc := r.Header.Get("Accept")
	i := strings.Index(acc, "text/csv")
	if i < 0 {
		return false
	}
	j := strings.Index(acc, "application/json")
	return j < 0 || i < j
}

func readRecords(a *API, w http.ResponseWriter, r *http.Request, q *query) error {
	if wantsCSV(r) {
		return readRecordsCSV(a, w, r, q)
	}
	recs, err := searchRecords(a, q)
	if err != nil {
		return err
	}
	out := struct {
		Records []recordJSON `json:"records"`
		Count   int          `json:"count"`
	}{Records: make([]recordJSON, len(recs)), Count: len(recs)}
	for i, rec := range recs {
		out.Records[i] = toRecordJSON(rec)
	}
	a.writeJSON(w, http.StatusOK, out)
	return nil
}

func readRecordsCSV(a *API, w http.ResponseWriter, r *http.Request, q *query) error {
	recs, err := searchRecords(a, q)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := projections.WriteRecordsCSV(&buf, recs); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="payouts-`+string(q.shop().Platform)+"-"+q.shop().ShopID+`.csv"`)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

func readRecord(a *API, w http.ResponseWriter, r *http.Request, q *query) error {
	var rec projections.PayoutRecord
	var found bool
	err := projections.View(a.cfg.Views, projections.PayoutRecordsName, func(p *projections.PayoutRecords) error {
		rec, found = p.Get(q.shop(), r.PathValue("payout"))
		return nil
	})
	if err != nil {
		return err
	}
	if !found || q.sub() != "" && rec.Staff != q.sub() {
		return fail(http.StatusNotFound, domain.CodePayoutUnknown, "no payout with that ID in this shop")
	}
	a.writeJSON(w, http.StatusOK, toRecordJSON(rec))
	return nil
}

// --- approvals ----------------------------------------------------------------

type approvalJSON struct {
	PayoutID     string            `json:"payout_id"`
	OrderID      string            `json:"order_id"`
	Staff        string            `json:"staff"`
	Type         domain.PayoutType `json:"type"`
	Amount       string            `json:"amount"`
	Reason       string            `json:"reason,omitempty"`
	State        string            `json:"state"`
	RequestedAt  time.Time         `json:"requested_at"`
	DecidedBy    string            `json:"decided_by,omitempty"`
	DecidedAt    *time.Time        `json:"decided_at,omitempty"`
	RejectReason string            `json:"reject_reason,omitempty"`
}

// readApprovals: without staff, the shop's pending requests (the admin's
// queue); with staff (always, for a sub-account: itself), that account's
// requests in every state.
func readApprovals(a *API, w http.ResponseWriter, r *http.Request, q *query) error {
	staff, err := q.staffParam("staff")
	if err != nil {
		return err
	}
	var reqs []projections.ApprovalRequest
	err = projections.View(a.cfg.Views, projections.ApprovalsName, func(p *projections.Approvals) error {
		if staff != "" {
			reqs = p.ByStaff(q.shop(), staff)
		} else {
			reqs = p.Pending(q.shop())
		}
		return nil
	})
	if err != nil {
		return err
	}
	out := struct {
		Approvals []approvalJSON `json:"approvals"`
	}{Approvals: make([]approvalJSON, len(reqs))}
	for i, v := range reqs {
		out.Approvals[i] = approvalJSON{PayoutID: v.PayoutID, OrderID: v.OrderID, Staff: v.Staff, Type: v.Type,
			Amount: domain.Money(v.Amount), Reason: v.Reason, State: v.State, RequestedAt: v.RequestedAt,
			DecidedBy: v.DecidedBy, DecidedAt: v.DecidedAt, RejectReason: v.RejectReason}
	}
	a.writeJSON(w, http.StatusOK, out)
	return nil
}

// --- balances -------------------------------------------------------------------

type balanceJSON struct {
	Kind      domain.AccountKind `json:"kind"`
	Balance   string             `json:"balance"`
	Frozen    string             `json:"frozen"`
	Held      string             `json:"held"`
	Available string             `json:"available"`
	Arrears   string             `json:"arrears"`
	OpenedAt  time.Time          `json:"opened_at"`
	UpdatedAt time.Time          `json:"updated_at"`
}

func readBalances(a *API, w http.ResponseWriter, r *http.Request, q *query) error {
	var bs []projections.Balance
	err := projections.View(a.cfg.Views, projections.FundingBalancesName, func(p *projections.FundingBalances) error {
		bs = p.Shop(q.shop())
		return nil
	})
	if err != nil {
		return err
	}
	out := struct {
		Accounts []balanceJSON `json:"accounts"`
	}{Accounts: make([]balanceJSON, len(bs))}
	for i, b := range bs {
		out.Accounts[i] = balanceJSON{Kind: b.Kind, Balance: domain.Money(b.Balance), Frozen: domain.Money(b.Frozen),
			Held: domain.Money(b.Held), Available: domain.Money(b.Available()), Arrears: domain.Money(b.Arrears),
			OpenedAt: b.OpenedAt, UpdatedAt: b.UpdatedAt}
	}
	a.writeJSON(w, http.StatusOK, out)
	return nil
}

// --- quota usage ------------------------------------------------------------------

// limitsJSON is domain.Limits with two-decimal amounts (absent: none).
type limitsJSON struct {
	PerPayoutMax        *string `json:"per_payout_max,omitempty"`
	PerOrderMax         *string `json:"per_order_max,omitempty"`
	PerOrderCount       *int    `json:"per_order_count,omitempty"`
	DailyCount          *int    `json:"daily_count,omitempty"`
	DailyAmount         *string `json:"daily_amount,omitempty"`
	ProceedsDailyAmount *string `json:"proceeds_daily_amount,omitempty"`
}

func money(d *decimal.Decimal) *string {
	if d == nil {
		return nil
	}
	s := domain.Money(*d)
	return &s
}

func toLimitsJSON(l domain.Limits) limitsJSON {
	return limitsJSON{PerPayoutMax: money(l.PerPayoutMax), PerOrderMax: money(l.PerOrderMax), PerOrderCount: l.PerOrderCount,
		DailyCount: l.DailyCount, DailyAmount: money(l.DailyAmount), ProceedsDailyAmount: money(l.ProceedsDailyAmount)}
}

// today is the current local day of a zone.
func (a *API) today(zone string) string {
	loc, ok := a.zones.Load(zone)
	if !ok {
		l, err := time.LoadLocation(zone)
		if err != nil {
			l = time.UTC
		}
		loc, _ = a.zones.LoadOrStore(zone, l)
	}
	return a.cfg.Now().In(loc.(*time.Location)).Format(time.DateOnly)
}

type shopQuotaJSON struct {
	TimeZone        string     `json:"time_zone"`
	MerchantLimits  limitsJSON `json:"merchant_limits"`
	EffectiveLimits limitsJSON `json:"effective_limits"`
	Day             string     `json:"day"`
	Count           int64      `json:"count"`
	Amount          string     `json:"amount"`
	ProceedsAmount  string     `json:"proceeds_amount"`
	RemainingCount  *int       `json:"remaining_count,omitempty"`
	RemainingAmount *string    `json:"remaining_amount,omitempty"`
}

// readShopQuota: the shop's limits and what it used of them on a local
// day (day=YYYY-MM-DD, default today in the shop's zone).
func readShopQuota(a *API, w http.ResponseWriter, r *http.Request, q *query) error {
	day, err := q.day("day")
	if err != nil {
		return err
	}
	var out shopQuotaJSON
	var known bool
	err = projections.View(a.cfg.Views, projections.QuotaUsageName, func(p *projections.QuotaUsage) error {
		l, ok := p.Limits(q.shop())
		if known = ok; !ok {
			return nil
		}
		if day == "" {
			day = a.today(l.TimeZone)
		}
		u := p.ShopDay(q.shop(), day)
		out = shopQuotaJSON{TimeZone: l.TimeZone, MerchantLimits: toLimitsJSON(l.Merchant), EffectiveLimits: toLimitsJSON(l.Effective),
			Day: day, Count: u.Count, Amount: domain.Money(u.Amount), ProceedsAmount: domain.Money(u.ProceedsAmount),
			RemainingCount: u.RemainingCount(), RemainingAmount: money(u.RemainingAmount())}
		return nil
	})
	if err != nil {
		return err
	}
	if !known {
		return fail(http.StatusNotFound, domain.CodeShopUnknown, "the shop is not registered")
	}
	a.writeJSON(w, http.StatusOK, out)
	return nil
}

type staffQuotaJSON struct {
	Staff        string    `json:"staff"`
	PerPayout    *string   `json:"per_payout,omitempty"`
	PerDay       *string   `json:"per_day,omitempty"`
	Enabled      bool      `json:"enabled"`
	GrantedAt    time.Time `json:"granted_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Day          string    `json:"day"`
	DayCount     int64     `json:"day_count"`
	DayAmount    string    `json:"day_amount"`
	DayRemaining *string   `json:"day_remaining,omitempty"`
}

// readStaffQuota: a sub-account's quota and its usage on a local day. A
// sub-account reads only its own.
func readStaffQuota(a *API, w http.ResponseWriter, r *http.Request, q *query) error {
	staff := r.PathValue("staff")
	if self := q.sub(); self != "" && staff != self {
		return fail(http.StatusForbidden, CodeForbidden, "a sub-account reads only its own quota").with("role", string(domain.RoleSub))
	}
	day, err := q.day("day")
	if err != nil {
		return err
	}
	var out staffQuotaJSON
	var known bool
	err = projections.View(a.cfg.Views, projections.QuotaUsageName, func(p *projections.QuotaUsage) error {
		sq, ok := p.StaffQuota(q.shop(), staff)
		if known = ok; !ok {
			return nil
		}
		if day == "" {
			zone := domain.DefaultTimeZone
			if l, ok := p.Limits(q.shop()); ok {
				zone = l.TimeZone
			}
			day = a.today(zone)
		}
		u := p.StaffDay(q.shop(), staff, day)
		out = staffQuotaJSON{Staff: staff, PerPayout: money(sq.PerPayout), PerDay: money(sq.PerDay), Enabled: sq.Enabled,
			GrantedAt: sq.GrantedAt, UpdatedAt: sq.UpdatedAt, Day: day, DayCount: u.Count, DayAmount: domain.Money(u.Amount),
			DayRemaining: money(u.Remaining())}
		return nil
	})
	if err != nil {
		return err
	}
	if !known {
		return fail(http.StatusNotFound, domain.CodeStaffUnknown, "no quota for that staff account")
	}
	a.writeJSON(w, http.StatusOK, out)
	return nil
}

// --- duplicate warnings ---------------------------------------------------------

type warningJSON struct {
	WarningID      string     `json:"warning_id"`
	OrderID        string     `json:"order_id"`
	Kind           string     `json:"kind"`
	Rule           string     `json:"rule,omitempty"`
	PayoutIDs      []string   `json:"payout_ids"`
	NewPayoutID    string     `json:"new_payout_id,omitempty"`
	RefundID       string     `json:"refund_id,omitempty"`
	Amount         string     `json:"amount"`
	State          string     `json:"state"`
	WarnedAt       time.Time  `json:"warned_at"`
	AcknowledgedBy string     `json:"acknowledged_by,omitempty"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
}

func toWarnings(ws []projections.DuplicateWarning) []warningJSON {
	out := make([]warningJSON, len(ws))
	for i, v := range ws {
		ids := v.PayoutIDs
		if ids == nil {
			ids = []string{}
		}
		out[i] = warningJSON{WarningID: v.WarningID, OrderID: v.OrderID, Kind: v.Kind, Rule: v.Rule, PayoutIDs: ids,
			NewPayoutID: v.NewPayoutID, RefundID: v.RefundID, Amount: domain.Money(v.Amount), State: v.State,
			WarnedAt: v.WarnedAt, AcknowledgedBy: v.AcknowledgedBy, AcknowledgedAt: v.AcknowledgedAt}
	}
	return out
}

// readWarnings: the shop's open duplicate-compensation warnings.
func readWarnings(a *API, w http.ResponseWriter, r *http.Request, q *query) error {
	var ws []projections.DuplicateWarning
	err := projections.View(a.cfg.Views, projections.DuplicateWarningsName, func(p *projections.DuplicateWarnings) error {
		ws = p.Open(q.shop())
		return nil
	})
	if err != nil {
		return err
	}
	a.writeJSON(w, http.StatusOK, struct {
		Warnings []warningJSON `json:"warnings"`
	}{toWarnings(ws)})
	return nil
}

type orderSummaryJSON struct {
	Kind         string    `json:"kind"`
	Open         int64     `json:"open"`
	Acknowledged int64     `json:"acknowledged"`
	PayoutIDs    []string  `json:"payout_ids"`
	RefundIDs    []string  `json:"refund_ids"`
	LastAmount   string    `json:"last_amount"`
	LastWarnedAt time.Time `json:"last_warned_at"`
}

// readOrderWarnings: one order's warnings (every state) and its per-kind
// summary.
func readOrderWarnings(a *API, w http.ResponseWriter, r *http.Request, q *query) error {
	order := r.PathValue("order")
	var ws []projections.DuplicateWarning
	var sum []projections.OrderWarnings
	err := projections.View(a.cfg.Views, projections.DuplicateWarningsName, func(p *projections.DuplicateWarnings) error {
		ws, sum = p.Order(q.shop(), order), p.Summary(q.shop(), order)
		return nil
	})
	if err != nil {
		return err
	}
	out := struct {
		OrderID  string             `json:"order_id"`
		Warnings []warningJSON      `json:"warnings"`
		Summary  []orderSummaryJSON `json:"summary"`
	}{OrderID: order, Warnings: toWarnings(ws), Summary: make([]orderSummaryJSON, len(sum))}
	for i, s := range sum {
		out.Summary[i] = orderSummaryJSON{Kind: s.Kind, Open: s.Open, Acknowledged: s.Acknowledged, PayoutIDs: nonNil(s.PayoutIDs),
			RefundIDs: nonNil(s.RefundIDs), LastAmount: domain.Money(s.LastAmount), LastWarnedAt: s.LastWarnedAt}
	}
	a.writeJSON(w, http.StatusOK, out)
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// --- daily totals -------------------------------------------------------------------

type totalJSON struct {
	Day     string `json:"day"`
	Kind    string `json:"kind"`
	Outcome string `json:"outcome"`
	Count   int64  `json:"count"`
	Amount  string `json:"amount"`
}

func toTotals(ls []projections.DayTotal) []totalJSON {
	out := make([]totalJSON, len(ls))
	for i, l := range ls {
		out[i] = totalJSON{Day: l.Day, Kind: l.Kind, Outcome: l.Outcome, Count: l.Count, Amount: domain.Money(l.Amount)}
	}
	return out
}

// readTotals: payout and collection flows by local day, type (or reason)
// and outcome, for the days in [from, to] (YYYY-MM-DD, open when absent).
func readTotals(a *API, w http.ResponseWriter, r *http.Request, q *query) error {
	from, err := q.day("from")
	if err != nil {
		return err
	}
	to, err := q.day("to")
	if err != nil {
		return err
	}
	if from != "" && to != "" && from > to {
		return badQuery("from", "must not be after to")
	}
	var pay, col []projections.DayTotal
	err = projections.View(a.cfg.Views, projections.DailyTotalsName, func(p *projections.DailyTotals) error {
		pay, col = p.Payouts(q.shop(), from, to), p.Collections(q.shop(), from, to)
		return nil
	})
	if err != nil {
		return err
	}
	a.writeJSON(w, http.StatusOK, struct {
		Payouts     []totalJSON `json:"payouts"`
		Collections []totalJSON `json:"collections"`
	}{toTotals(pay), toTotals(col)})
	return nil
}
