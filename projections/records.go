package projections

import (
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/domain"
)

// PayoutRecordsName is the payout-records projection: one row per payout
// with its current status (including the ones that timed out: expired,
// closed, top_up_failed), searchable by payout ID, order ID, staff,
// initiation time range and status, and exportable as CSV (the batch
// export JD offers).
const PayoutRecordsName = "payout_records"

// PayoutRecord is one payout (table payout_records).
type PayoutRecord struct {
	Shop           domain.ShopRef
	PayoutID       string
	OrderID        string
	Staff          string
	StaffRole      domain.Role
	Type           domain.PayoutType
	Amount         decimal.Decimal
	Reason         string
	Message        string
	Funding        domain.AccountKind
	GoodsID        string
	Remark         string
	Route          domain.Route
	Status         domain.PayoutStatus
	Day            string
	InitiatedAt    time.Time
	UpdatedAt      time.Time
	DeadlineAt     *time.Time
	CardExpiresAt  *time.Time
	CardExpired    bool
	RefundDueAt    *time.Time
	RefundLatestAt *time.Time
	SucceededAt    *time.Time
	FailureReason  string
	DecidedBy      string // admin who approved or rejected (PDD)
	// TimeZone is the shop's zone, filled in by queries (not a column).
	TimeZone string
}

type recordsShop struct {
	Shop     domain.ShopRef
	TimeZone string
}

func recordsSchema() *Schema {
	return &Schema{Projection: PayoutRecordsName, Version: 1, Tables: []Table{
		{
			Name: "payout_records", Doc: "every payout and where it is in its lifecycle",
			Columns: cols(shopCols(), []Column{
				col("payout_id", Text, "chosen by the client; unique in its shop"),
				col("order_id", Text, "the order paid out on"),
				col("staff", Text, "the account that initiated it"),
				col("staff_role", Text, "main or sub"),
				col("payout_type", Text, "shipping, price_difference, service, activity_compensation, other"),
				col("amount", Decimal, "CNY"),
				col("reason", Text, "reason given"),
				col("message", Text, "message to the buyer"),
				col("funding", Text, "reserve, proceeds, wallet or scan"),
				col("goods_id", Text, "related goods, or empty"),
				col("remark", Text, "internal remark, or empty"),
				col("route", Text, "direct, buyer_confirmation, admin_approval, scan_top_up, sms_verified"),
				col("status", Text, "awaiting_confirmation, awaiting_approval, awaiting_top_up, pending, processing, awaiting_buyer_account, succeeded, failed, expired, rejected, top_up_failed, closed, refunded"),
				col("day", Text, "local day of initiation (YYYY-MM-DD)"),
				col("initiated_at", Time, "when it was initiated"),
				col("updated_at", Time, "occurred-at of its last event"),
				nullCol("deadline_at", Time, "confirmation or top-up deadline"),
				nullCol("card_expires_at", Time, "PDD account card validity"),
				col("card_expired", Bool, "the PDD account card expired"),
				nullCol("refund_due_at", Time, "closed: money due back from"),
				nullCol("refund_latest_at", Time, "closed: money due back at the latest"),
				nullCol("succeeded_at", Time, "when it succeeded"),
				col("failure_reason", Text, "why it failed or was rejected, or empty"),
				col("decided_by", Text, "admin who approved or rejected it, or empty"),
			}),
			Key: []string{"platform", "shop_id", "payout_id"},
		},
		{Name: "records_shops", Internal: true, Doc: "shops' time zones (CSV times are local)",
			Columns: cols(shopCols(), []Column{col("time_zone", Text, "")}), Key: []string{"platform", "shop_id"}},
	}}
}

// PayoutRecords is the payout-records projector.
type PayoutRecords struct {
	tableSet
	schema  *Schema
	records *table[PayoutRecord]
	shops   *table[recordsShop]
	byID    map[string][]*PayoutRecord // payout ID -> records (one per shop using it)
	byOrder map[string][]*PayoutRecord // order ID -> records
}

// NewPayoutRecords is the Factory of the payout-records projection.
func NewPayoutRecords() Projector {
	s := recordsSchema()
	p := &PayoutRecords{schema: s, byID: map[string][]*PayoutRecord{}, byOrder: map[string][]*PayoutRecord{}}
	p.records = addTable(&p.tableSet, newTable(s.Table("payout_records"),
		func(v *PayoutRecord) Row {
			return Row{string(v.Shop.Platform), v.Shop.ShopID, v.PayoutID, v.OrderID, v.Staff, string(v.StaffRole), string(v.Type),
				v.Amount, v.Reason, v.Message, string(v.Funding), v.GoodsID, v.Remark, string(v.Route), string(v.Status), v.Day,
				UTC(v.InitiatedAt), UTC(v.UpdatedAt), tmOrNil(v.DeadlineAt), tmOrNil(v.CardExpiresAt), v.CardExpired,
				tmOrNil(v.RefundDueAt), tmOrNil(v.RefundLatestAt), tmOrNil(v.SucceededAt), v.FailureReason, v.DecidedBy}
		},
		func(r Row) (*PayoutRecord, error) {
			v := &PayoutRecord{Shop: refOf(r), PayoutID: str(r, 2), OrderID: str(r, 3), Staff: str(r, 4), StaffRole: domain.Role(str(r, 5)),
				Type: domain.PayoutType(str(r, 6)), Amount: dec(r, 7), Reason: str(r, 8), Message: str(r, 9), Funding: domain.AccountKind(str(r, 10)),
				GoodsID: str(r, 11), Remark: str(r, 12), Route: domain.Route(str(r, 13)), Status: domain.PayoutStatus(str(r, 14)), Day: str(r, 15),
				InitiatedAt: tm(r, 16), UpdatedAt: tm(r, 17), DeadlineAt: tmPtr(r, 18), CardExpiresAt: tmPtr(r, 19), CardExpired: boolean(r, 20),
				RefundDueAt: tmPtr(r, 21), RefundLatestAt: tmPtr(r, 22), SucceededAt: tmPtr(r, 23), FailureReason: str(r, 24), DecidedBy: str(r, 25)}
			p.index(v)
			return v, nil
		}))
	p.shops = addTable(&p.tableSet, newTable(s.Table("records_shops"),
		func(v *recordsShop) Row { return Row{string(v.Shop.Platform), v.Shop.ShopID, v.TimeZone} },
		func(r Row) (*recordsShop, error) { return &recordsShop{Shop: refOf(r), TimeZone: str(r, 2)}, nil }))
	return p
}

// Schema implements Projector.
func (p *PayoutRecords) Schema() *Schema { return p.schema }

func (p *PayoutRecords) index(v *PayoutRecord) {
	p.byID[v.PayoutID] = append(p.byID[v.PayoutID], v)
	p.byOrder[v.OrderID] = append(p.byOrder[v.OrderID], v)
}

// Apply implements Projector. Statuses follow domain.Apply.
func (p *PayoutRecords) Apply(e domain.Event) error {
	ref, err := shopOf(e)
	if err != nil {
		return err
	}
	at := UTC(e.OccurredAt)
	// update changes an existing record and stamps it.
	update := func(id string, fn func(v *PayoutRecord)) {
		k := keyOf(ref, id)
		if v := p.records.get(k); v != nil {
			fn(v)
			v.UpdatedAt = at
			p.records.touch(k)
		}
	}
	status := func(id string, s domain.PayoutStatus) { update(id, func(v *PayoutRecord) { v.Status = s }) }
	switch d := e.Data.(type) {
	case domain.ShopRegistered:
		tz := d.TimeZone
		if tz == "" {
			tz = domain.DefaultTimeZone
		}
		*p.shops.at(keyOf(ref), newZero[recordsShop]) = recordsShop{Shop: ref, TimeZone: tz}
	case domain.PayoutInitiated:
		k := keyOf(ref, d.PayoutID)
		if p.records.get(k) != nil {
			return nil // a payout ID is used once per shop; the decision guarantees it
		}
		v := p.records.at(k, newZero[PayoutRecord])
		*v = PayoutRecord{Shop: ref, PayoutID: d.PayoutID, OrderID: d.OrderID, Staff: d.Staff, StaffRole: d.StaffRole, Type: d.Type,
			Amount: d.Amount, Reason: d.Reason, Message: d.Message, Funding: d.Funding, GoodsID: d.GoodsID, Remark: d.Remark,
			Route: d.Route, Status: d.Status, Day: d.Day, InitiatedAt: UTC(d.InitiatedAt), UpdatedAt: at, DeadlineAt: utcp(d.DeadlineAt)}
		p.index(v)
	case domain.PayoutApproved:
		update(d.PayoutID, func(v *PayoutRecord) { v.Status, v.DecidedBy = domain.StatusPending, d.By })
	case domain.PayoutRejected:
		update(d.PayoutID, func(v *PayoutRecord) {
			v.Status, v.DecidedBy, v.FailureReason = domain.StatusRejected, d.By, d.Reason
		})
	case domain.PayoutToppedUp:
		status(d.PayoutID, domain.StatusPending)
	case domain.PayoutTopUpFailed:
		status(d.PayoutID, domain.StatusTopUpFailed)
	case domain.PayoutProcessing:
		status(d.PayoutID, domain.StatusProcessing)
	case domain.PayoutSucceeded:
		update(d.PayoutID, func(v *PayoutRecord) { v.Status, v.SucceededAt = domain.StatusSucceeded, &at })
	case domain.PayoutConfirmedByBuyer:
		update(d.PayoutID, func(v *PayoutRecord) { v.Status, v.SucceededAt = domain.StatusSucceeded, &at })
	case domain.PayoutFailed:
		update(d.PayoutID, func(v *PayoutRecord) { v.Status, v.FailureReason = domain.StatusFailed, d.Reason })
	case domain.PayoutFailedForBuyerAccount:
		update(d.PayoutID, func(v *PayoutRecord) {
			v.Status, v.FailureReason = domain.StatusAwaitingBuyerAccount, d.Reason
			v.CardExpiresAt, v.CardExpired = utcp(&d.CardExpiresAt), false
		})
	case domain.AccountCardSent:
		update(d.PayoutID, func(v *PayoutRecord) { v.CardExpiresAt, v.CardExpired = utcp(&d.CardExpiresAt), false })
	case domain.BuyerAccountSubmitted:
		status(d.PayoutID, domain.StatusProcessing)
	case domain.CardExpired:
		switch d.Card {
		case "confirmation":
			status(d.ID, domain.StatusExpired)
		case "account":
			update(d.ID, func(v *PayoutRecord) { v.CardExpired = true })
		}
	case domain.PayoutClosed:
		update(d.PayoutID, func(v *PayoutRecord) {
			v.Status, v.RefundDueAt, v.RefundLatestAt = domain.StatusClosed, utcp(d.RefundDueAt), utcp(d.RefundLatestAt)
		})
	case domain.PayoutRefundedToMerchant:
		status(d.PayoutID, domain.StatusRefunded)
	}
	return nil
}

func utcp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := UTC(*t)
	return &u
}

// RecordsFilter is a payout-records search: the domain's query (payout ID,
// order ID, staff, status, initiation range [From, To), limit) within one
// shop or, with an empty Platform, across shops.
type RecordsFilter struct {
	Platform domain.PlatformID // with ShopID: one shop; Platform alone: a platform
	ShopID   string
	domain.RecordsQuery
}

// Search returns the matching records ordered by initiation time (then
// shop and payout ID), at most Limit (0: domain.MaxRecordsPage). The query
// is validated by domain.ValidateRecordsQuery with the platform's profile
// (JD: jd.records.export), so the read side refuses what the platform
// refuses. Errors: a *domain.Rejection.
func (p *PayoutRecords) Search(f RecordsFilter) ([]PayoutRecord, error) {
	var prof *domain.Profile
	if f.Platform != "" {
		prof, _ = domain.LookupProfile(f.Platform)
	}
	if err := domain.ValidateRecordsQuery(prof, f.RecordsQuery); err != nil {
		return nil, err
	}
	var cands []*PayoutRecord
	switch {
	case f.PayoutID != "":
		cands = p.byID[f.PayoutID]
	case f.OrderID != "":
		cands = p.byOrder[f.OrderID]
	default:
		cands = p.records.all()
	}
	limit := f.Limit
	if limit == 0 {
		limit = domain.MaxRecordsPage
	}
	var out []PayoutRecord
	for _, v := range cands {
		if f.matches(v) {
			r := *v
			r.TimeZone = domain.DefaultTimeZone
			if s := p.shops.get(keyOf(v.Shop)); s != nil {
				r.TimeZone = s.TimeZone
			}
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.InitiatedAt.Equal(b.InitiatedAt) {
			return a.InitiatedAt.Before(b.InitiatedAt)
		}
		if a.Shop != b.Shop {
			return a.Shop.Stream() < b.Shop.Stream()
		}
		return a.PayoutID < b.PayoutID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f RecordsFilter) matches(v *PayoutRecord) bool {
	switch {
	case f.Platform != "" && v.Shop.Platform != f.Platform,
		f.ShopID != "" && v.Shop.ShopID != f.ShopID,
		f.PayoutID != "" && v.PayoutID != f.PayoutID,
		f.OrderID != "" && v.OrderID != f.OrderID,
		f.Staff != "" && v.Staff != f.Staff,
		f.Status != "" && v.Status != f.Status,
		!f.From.IsZero() && v.InitiatedAt.Before(f.From),
		!f.To.IsZero() && !v.InitiatedAt.Before(f.To):
		return false
	}
	return true
}

// Get returns one payout's record (false: unknown).
func (p *PayoutRecords) Get(ref domain.ShopRef, payoutID string) (PayoutRecord, bool) {
	if v := p.records.get(keyOf(ref, payoutID)); v != nil {
		r := *v
		r.TimeZone = domain.DefaultTimeZone
		if s := p.shops.get(keyOf(ref)); s != nil {
			r.TimeZone = s.TimeZone
		}
		return r, true
	}
	return PayoutRecord{}, false
}
