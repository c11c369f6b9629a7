package projections

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/domain"
)

// QuotaUsageName is the quota-usage projection: what each sub-account
// and each shop has used of its limits, per local day, held and released
// by the counting rule (RULES.md): a payout counts while pending,
// processing, awaiting confirmation, approval, top-up or the buyer's
// account, or succeeded; failed, rejected, expired, top-up-failed and
// closed payouts release what they held, on the day they were initiated.
const QuotaUsageName = "quota_usage"

// StaffQuota is a sub-account's current quota (table quota_staff).
type StaffQuota struct {
	Shop      domain.ShopRef
	Staff     string
	PerPayout *decimal.Decimal // nil: unlimited
	PerDay    *decimal.Decimal // nil: unlimited
	Enabled   bool
	GrantedAt time.Time
	UpdatedAt time.Time
}

// StaffDayUsage is a sub-account's quota usage on one local day (table
// quota_staff_daily): the counting payouts charged to its quota, against
// the quota in force that day.
type StaffDayUsage struct {
	Shop         domain.ShopRef
	Staff        string
	Day          string
	Count        int64
	Amount       decimal.Decimal
	PerPayout    *decimal.Decimal
	PerDay       *decimal.Decimal
	QuotaEnabled bool // the quota exists and is enabled (as of the day's last change)
}

// Remaining is what the staff may still pay out that day (nil: unlimited).
func (u *StaffDayUsage) Remaining() *decimal.Decimal {
	if u.PerDay == nil {
		return nil
	}
	r := decimal.Max(u.PerDay.Sub(u.Amount), decimal.Zero)
	return &r
}

// ShopDayUsage is a shop's counting payouts on one local day against its
// daily limits in force (table quota_shop_daily).
type ShopDayUsage struct {
	Shop           domain.ShopRef
	Day            string
	Count          int64
	Amount         decimal.Decimal
	ProceedsAmount decimal.Decimal  // paid from the proceeds balance (PDD scan routing)
	DailyCount     *int             // effective limit: the merchant's, else the platform ceiling; nil unlimited
	DailyAmount    *decimal.Decimal // likewise
	ProceedsDaily  *decimal.Decimal // likewise (PDD)
	CeilingCount   *int             // the platform ceilings
	CeilingAmount  *decimal.Decimal
}

// RemainingAmount is the amount the shop may still pay out that day (nil:
// unlimited).
func (u *ShopDayUsage) RemainingAmount() *decimal.Decimal {
	if u.DailyAmount == nil {
		return nil
	}
	r := decimal.Max(u.DailyAmount.Sub(u.Amount), decimal.Zero)
	return &r
}

// RemainingCount is the number of payouts the shop may still make that
// day (nil: unlimited).
func (u *ShopDayUsage) RemainingCount() *int {
	if u.DailyCount == nil {
		return nil
	}
	r := max(*u.DailyCount-int(u.Count), 0)
	return &r
}

// ShopLimits are a shop's time zone and limits (table quota_shop_limits).
type ShopLimits struct {
	Shop      domain.ShopRef
	TimeZone  string
	Merchant  domain.Limits // set by the merchant (nil: not set)
	Effective domain.Limits // in force: the merchant's, else the platform ceiling (nil: unlimited)
}

// quotaInflight is a payout that still counts and can still release
// (internal table quota_inflight).
type quotaInflight struct {
	Shop         domain.ShopRef
	PayoutID     string
	Staff        string
	Day          string
	Amount       decimal.Decimal
	Proceeds     bool
	QuotaCharged bool
}

var limitCols = []struct{ name, doc string }{
	{"per_payout_max", "per payout"},
	{"per_order_max", "cumulative per order"},
	{"per_order_count", "payouts per order"},
	{"daily_count", "payouts per day"},
	{"daily_amount", "amount per day"},
	{"proceeds_daily_amount", "proceeds-balance amount per day (PDD)"},
}

func limitColumns(prefix, what string) []Column {
	var out []Column
	for _, l := range limitCols {
		t := Decimal
		if l.name == "per_order_count" || l.name == "daily_count" {
			t = Int
		}
		out = append(out, nullCol(prefix+l.name, t, what+" limit: "+l.doc+" (NULL: none)"))
	}
	return out
}

func limitValues(l domain.Limits) []any {
	return []any{decOrNil(l.PerPayoutMax), decOrNil(l.PerOrderMax), intOrNil(l.PerOrderCount),
		intOrNil(l.DailyCount), decOrNil(l.DailyAmount), decOrNil(l.ProceedsDailyAmount)}
}

func limitsAt(r Row, i int) domain.Limits {
	return domain.Limits{PerPayoutMax: decPtr(r, i), PerOrderMax: decPtr(r, i+1), PerOrderCount: intPtr(r, i+2),
		DailyCount: intPtr(r, i+3), DailyAmount: decPtr(r, i+4), ProceedsDailyAmount: decPtr(r, i+5)}
}

func quotaSchema() *Schema {
	return &Schema{Projection: QuotaUsageName, Version: 1, Tables: []Table{
		{
			Name: "quota_staff", Doc: "each sub-account's current payout quota; deleted with the quota",
			Columns: cols(shopCols(), []Column{
				col("staff", Text, "the sub-account"),
				nullCol("per_payout", Decimal, "per-payout quota (NULL: unlimited)"),
				nullCol("per_day", Decimal, "per-day quota (NULL: unlimited)"),
				col("enabled", Bool, "false while disabled"),
				col("granted_at", Time, "when the quota was granted"),
				col("updated_at", Time, "occurred-at of the last change"),
			}),
			Key: []string{"platform", "shop_id", "staff"},
		},
		{
			Name: "quota_staff_daily", Doc: "a sub-account's quota usage per local day: counting payouts charged to its quota",
			Columns: cols(shopCols(), []Column{
				col("staff", Text, "the sub-account"),
				col("day", Text, "local calendar day in the shop's time zone (YYYY-MM-DD)"),
				col("count", Int, "counting payouts initiated that day"),
				col("amount", Decimal, "their amount"),
				nullCol("per_payout", Decimal, "per-payout quota in force that day (NULL: unlimited)"),
				nullCol("per_day", Decimal, "per-day quota in force that day (NULL: unlimited)"),
				nullCol("remaining", Decimal, "per_day - amount, at least 0 (NULL: unlimited)"),
				col("quota_enabled", Bool, "the quota existed and was enabled as of the day's last change"),
			}),
			Key: []string{"platform", "shop_id", "staff", "day"},
		},
		{
			Name: "quota_shop_daily", Doc: "a shop's counting payouts per local day against its daily limits",
			Columns: cols(shopCols(), []Column{
				col("day", Text, "local calendar day in the shop's time zone (YYYY-MM-DD)"),
				col("count", Int, "counting payouts initiated that day"),
				col("amount", Decimal, "their amount"),
				col("proceeds_amount", Decimal, "of which paid from the proceeds balance"),
				nullCol("daily_count_limit", Int, "payouts per day in force (merchant's, else ceiling; NULL: unlimited)"),
				nullCol("daily_amount_limit", Decimal, "amount per day in force (NULL: unlimited)"),
				nullCol("proceeds_daily_limit", Decimal, "proceeds-balance amount per day in force (PDD; NULL: unlimited)"),
				nullCol("ceiling_daily_count", Int, "the platform's ceiling (NULL: none)"),
				nullCol("ceiling_daily_amount", Decimal, "the platform's ceiling (NULL: none)"),
				nullCol("remaining_count", Int, "daily_count_limit - count, at least 0 (NULL: unlimited)"),
				nullCol("remaining_amount", Decimal, "daily_amount_limit - amount, at least 0 (NULL: unlimited)"),
			}),
			Key: []string{"platform", "shop_id", "day"},
		},
		{
			Name: "quota_shop_limits", Doc: "each shop's time zone, merchant limits and limits in force",
			Columns: cols(shopCols(), []Column{col("time_zone", Text, "IANA time zone of the shop's days")},
				limitColumns("merchant_", "merchant-set"), limitColumns("effective_", "in force")),
			Key: []string{"platform", "shop_id"},
		},
		{
			Name: "quota_inflight", Internal: true, Doc: "payouts that still count and may still release",
			Columns: cols(shopCols(), []Column{
				col("payout_id", Text, ""), col("staff", Text, ""), col("day", Text, ""),
				col("amount", Decimal, ""), col("proceeds", Bool, ""), col("quota_charged", Bool, ""),
			}),
			Key: []string{"platform", "shop_id", "payout_id"},
		},
	}}
}

// QuotaUsage is the quota-usage projector.
type QuotaUsage struct {
	tableSet
	schema   *Schema
	staff    *table[StaffQuota]
	staffDay *table[StaffDayUsage]
	shopDay  *table[ShopDayUsage]
	shops    *table[ShopLimits]
	inflight *table[quotaInflight]
}

// NewQuotaUsage is the Factory of the quota-usage projection.
func NewQuotaUsage() Projector {
	s := quotaSchema()
	q := &QuotaUsage{schema: s}
	q.staff = addTable(&q.tableSet, newTable(s.Table("quota_staff"),
		func(v *StaffQuota) Row {
			return Row{string(v.Shop.Platform), v.Shop.ShopID, v.Staff, decOrNil(v.PerPayout), decOrNil(v.PerDay), v.Enabled, UTC(v.GrantedAt), UTC(v.UpdatedAt)}
		},
		func(r Row) (*StaffQuota, error) {
			return &StaffQuota{Shop: refOf(r), Staff: str(r, 2), PerPayout: decPtr(r, 3), PerDay: decPtr(r, 4), Enabled: boolean(r, 5), GrantedAt: tm(r, 6), UpdatedAt: tm(r, 7)}, nil
		}))
	q.staffDay = addTable(&q.tableSet, newTable(s.Table("quota_staff_daily"),
		func(v *StaffDayUsage) Row {
			return Row{string(v.Shop.Platform), v.Shop.ShopID, v.Staff, v.Day, v.Count, v.Amount, decOrNil(v.PerPayout), decOrNil(v.PerDay), decOrNil(v.Remaining()), v.QuotaEnabled}
		},
		func(r Row) (*StaffDayUsage, error) {
			return &StaffDayUsage{Shop: refOf(r), Staff: str(r, 2), Day: str(r, 3), Count: i64(r, 4), Amount: dec(r, 5), PerPayout: decPtr(r, 6), PerDay: decPtr(r, 7), QuotaEnabled: boolean(r, 9)}, nil
		}))
	q.shopDay = addTable(&q.tableSet, newTable(s.Table("quota_shop_daily"),
		func(v *ShopDayUsage) Row {
			return Row{string(v.Shop.Platform), v.Shop.ShopID, v.Day, v.Count, v.Amount, v.ProceedsAmount,
				intOrNil(v.DailyCount), decOrNil(v.DailyAmount), decOrNil(v.ProceedsDaily), intOrNil(v.CeilingCount), decOrNil(v.CeilingAmount),
				intOrNil(v.RemainingCount()), decOrNil(v.RemainingAmount())}
		},
		func(r Row) (*ShopDayUsage, error) {
			return &ShopDayUsage{Shop: refOf(r), Day: str(r, 2), Count: i64(r, 3), Amount: dec(r, 4), ProceedsAmount: dec(r, 5),
				DailyCount: intPtr(r, 6), DailyAmount: decPtr(r, 7), ProceedsDaily: decPtr(r, 8), CeilingCount: intPtr(r, 9), CeilingAmount: decPtr(r, 10)}, nil
		}))
	q.shops = addTable(&q.tableSet, newTable(s.Table("quota_shop_limits"),
		func(v *ShopLimits) Row {
			r := Row{string(v.Shop.Platform), v.Shop.ShopID, v.TimeZone}
			r = append(r, limitValues(v.Merchant)...)
			return append(r, limitValues(v.Effective)...)
		},
		func(r Row) (*ShopLimits, error) {
			return &ShopLimits{Shop: refOf(r), TimeZone: str(r, 2), Merchant: limitsAt(r, 3), Effective: limitsAt(r, 9)}, nil
		}))
	q.inflight = addTable(&q.tableSet, newTable(s.Table("quota_inflight"),
		func(v *quotaInflight) Row {
			return Row{string(v.Shop.Platform), v.Shop.ShopID, v.PayoutID, v.Staff, v.Day, v.Amount, v.Proceeds, v.QuotaCharged}
		},
		func(r Row) (*quotaInflight, error) {
			return &quotaInflight{Shop: refOf(r), PayoutID: str(r, 2), Staff: str(r, 3), Day: str(r, 4), Amount: dec(r, 5), Proceeds: boolean(r, 6), QuotaCharged: boolean(r, 7)}, nil
		}))
	return q
}

// Schema implements Projector.
func (q *QuotaUsage) Schema() *Schema { return q.schema }

func (q *QuotaUsage) shop(ref domain.ShopRef) *ShopLimits {
	return q.shops.at(keyOf(ref), func() *ShopLimits {
		return &ShopLimits{Shop: ref, TimeZone: domain.DefaultTimeZone, Effective: effectiveLimits(ref, domain.Limits{})}
	})
}

func (q *QuotaUsage) zone(ref domain.ShopRef) string {
	if s := q.shops.get(keyOf(ref)); s != nil {
		return s.TimeZone
	}
	return domain.DefaultTimeZone
}

// effectiveLimits are the limits in force, computed by the domain's own
// rule (merchant's, else the profile's ceiling).
func effectiveLimits(ref domain.ShopRef, merchant domain.Limits) domain.Limits {
	s := domain.NewShop(ref)
	s.Limits = merchant
	return s.EffectiveLimits()
}

func ceilings(ref domain.ShopRef) domain.Limits {
	if p, ok := domain.LookupProfile(ref.Platform); ok {
		return p.Ceilings
	}
	return domain.Limits{}
}

func (q *QuotaUsage) shopDayRow(ref domain.ShopRef, day string) *ShopDayUsage {
	return q.shopDay.at(keyOf(ref, day), func() *ShopDayUsage {
		return &ShopDayUsage{Shop: ref, Day: day}
	})
}

// stampLimits copies the limits in force onto a day row.
func (q *QuotaUsage) stampLimits(u *ShopDayUsage) {
	eff := q.shop(u.Shop).Effective
	c := ceilings(u.Shop)
	u.DailyCount, u.DailyAmount, u.ProceedsDaily = eff.DailyCount, eff.DailyAmount, eff.ProceedsDailyAmount
	u.CeilingCount, u.CeilingAmount = c.DailyCount, c.DailyAmount
}

func (q *QuotaUsage) staffDayRow(ref domain.ShopRef, staff, day string) *StaffDayUsage {
	u := q.staffDay.at(keyOf(ref, staff, day), func() *StaffDayUsage {
		return &StaffDayUsage{Shop: ref, Staff: staff, Day: day}
	})
	// The quota in force, as of this change.
	if sq := q.staff.get(keyOf(ref, staff)); sq != nil {
		u.PerPayout, u.PerDay, u.QuotaEnabled = sq.PerPayout, sq.PerDay, sq.Enabled
	} else {
		u.PerPayout, u.PerDay, u.QuotaEnabled = nil, nil, false
	}
	return u
}

// Apply implements Projector.
func (q *QuotaUsage) Apply(e domain.Event) error {
	ref, err := shopOf(e)
	if err != nil {
		return err
	}
	day := func() string { return localDay(e.OccurredAt, q.zone(ref)) }
	switch d := e.Data.(type) {
	case domain.ShopRegistered:
		s := q.shop(ref)
		s.TimeZone = d.TimeZone
		if s.TimeZone == "" {
			s.TimeZone = domain.DefaultTimeZone
		}
	case domain.ShopEnrolled:
		q.setLimits(ref, d.Limits, day())
	case domain.ShopLimitsSet:
		q.setLimits(ref, d.New, day())

	case domain.StaffQuotaGranted:
		*q.staff.at(keyOf(ref, d.Staff), newZero[StaffQuota]) = StaffQuota{Shop: ref, Staff: d.Staff, PerPayout: d.PerPayout, PerDay: d.PerDay,
			Enabled: true, GrantedAt: e.OccurredAt, UpdatedAt: e.OccurredAt}
		q.staffDayRow(ref, d.Staff, day())
	case domain.StaffQuotaChanged:
		if sq := q.staff.get(keyOf(ref, d.Staff)); sq != nil {
			sq.PerPayout, sq.PerDay, sq.UpdatedAt = d.PerPayout, d.PerDay, e.OccurredAt
			q.staff.touch(keyOf(ref, d.Staff))
			q.staffDayRow(ref, d.Staff, day())
		}
	case domain.StaffQuotaDisabled:
		q.enableStaff(ref, d.Staff, false, e.OccurredAt, day())
	case domain.StaffQuotaEnabled:
		q.enableStaff(ref, d.Staff, true, e.OccurredAt, day())
	case domain.StaffQuotaDeleted:
		if q.staff.get(keyOf(ref, d.Staff)) != nil {
			q.staff.del(keyOf(ref, d.Staff))
			q.staffDayRow(ref, d.Staff, day())
		}

	case domain.PayoutInitiated:
		// Every initiated payout starts in a counting status.
		u := q.shopDayRow(ref, d.Day)
		q.stampLimits(u)
		u.Count++
		u.Amount = u.Amount.Add(d.Amount)
		proceeds := d.Funding == domain.AccountProceeds
		if proceeds {
			u.ProceedsAmount = u.ProceedsAmount.Add(d.Amount)
		}
		if d.QuotaCharged {
			s := q.staffDayRow(ref, d.Staff, d.Day)
			s.Count++
			s.Amount = s.Amount.Add(d.Amount)
		}
		if !d.Status.Counts() {
			return nil // as the domain: counted on its day, never released
		}
		*q.inflight.at(keyOf(ref, d.PayoutID), newZero[quotaInflight]) = quotaInflight{Shop: ref, PayoutID: d.PayoutID, Staff: d.Staff, Day: d.Day,
			Amount: d.Amount, Proceeds: proceeds, QuotaCharged: d.QuotaCharged}

	case domain.PayoutRejected:
		q.release(ref, d.PayoutID)
	case domain.PayoutTopUpFailed:
		q.release(ref, d.PayoutID)
	case domain.PayoutFailed:
		q.release(ref, d.PayoutID)
	case domain.PayoutClosed:
		q.release(ref, d.PayoutID)
	case domain.CardExpired:
		if d.Card == "confirmation" {
			q.release(ref, d.ID)
		}
	case domain.PayoutSucceeded:
		q.inflight.del(keyOf(ref, d.PayoutID)) // counts for good; nothing left to release
	case domain.PayoutConfirmedByBuyer:
		q.inflight.del(keyOf(ref, d.PayoutID))
	}
	return nil
}

func (q *QuotaUsage) setLimits(ref domain.ShopRef, l domain.Limits, day string) {
	s := q.shop(ref)
	s.Merchant = l
	s.Effective = effectiveLimits(ref, l)
	q.stampLimits(q.shopDayRow(ref, day))
}

func (q *QuotaUsage) enableStaff(ref domain.ShopRef, staff string, on bool, at time.Time, day string) {
	if sq := q.staff.get(keyOf(ref, staff)); sq != nil {
		sq.Enabled, sq.UpdatedAt = on, at
		q.staff.touch(keyOf(ref, staff))
		q.staffDayRow(ref, staff, day)
	}
}

// release: the payout left the counting statuses; its day (the day it was
// initiated) and its staff's quota get their count and amount back.
func (q *QuotaUsage) release(ref domain.ShopRef, payout string) {
	k := keyOf(ref, payout)
	p := q.inflight.get(k)
	if p == nil {
		return // no longer counting (or never seen)
	}
	u := q.shopDay.at(keyOf(ref, p.Day), func() *ShopDayUsage { return &ShopDayUsage{Shop: ref, Day: p.Day} })
	u.Count--
	u.Amount = u.Amount.Sub(p.Amount)
	if p.Proceeds {
		u.ProceedsAmount = u.ProceedsAmount.Sub(p.Amount)
	}
	if p.QuotaCharged {
		s := q.staffDay.at(keyOf(ref, p.Staff, p.Day), func() *StaffDayUsage { return &StaffDayUsage{Shop: ref, Staff: p.Staff, Day: p.Day} })
		s.Count--
		s.Amount = s.Amount.Sub(p.Amount)
	}
	q.inflight.del(k)
}

// StaffDay returns a sub-account's usage on a local day (zero usage with
// the current quota if nothing was recorded that day).
func (q *QuotaUsage) StaffDay(ref domain.ShopRef, staff, day string) StaffDayUsage {
	if u := q.staffDay.get(keyOf(ref, staff, day)); u != nil {
		return *u
	}
	u := StaffDayUsage{Shop: ref, Staff: staff, Day: day}
	if sq := q.staff.get(keyOf(ref, staff)); sq != nil {
		u.PerPayout, u.PerDay, u.QuotaEnabled = sq.PerPayout, sq.PerDay, sq.Enabled
	}
	return u
}

// ShopDay returns a shop's usage on a local day (zero usage with the
// limits in force if nothing was recorded that day).
func (q *QuotaUsage) ShopDay(ref domain.ShopRef, day string) ShopDayUsage {
	if u := q.shopDay.get(keyOf(ref, day)); u != nil {
		return *u
	}
	u := ShopDayUsage{Shop: ref, Day: day}
	if q.shops.get(keyOf(ref)) != nil {
		eff, c := q.shops.get(keyOf(ref)).Effective, ceilings(ref)
		u.DailyCount, u.DailyAmount, u.ProceedsDaily = eff.DailyCount, eff.DailyAmount, eff.ProceedsDailyAmount
		u.CeilingCount, u.CeilingAmount = c.DailyCount, c.DailyAmount
	}
	return u
}

// StaffQuota returns a sub-account's current quota (false: none).
func (q *QuotaUsage) StaffQuota(ref domain.ShopRef, staff string) (StaffQuota, bool) {
	if sq := q.staff.get(keyOf(ref, staff)); sq != nil {
		return *sq, true
	}
	return StaffQuota{}, false
}

// Limits returns a shop's time zone and limits (false: unknown shop).
func (q *QuotaUsage) Limits(ref domain.ShopRef) (ShopLimits, bool) {
	if s := q.shops.get(keyOf(ref)); s != nil {
		return *s, true
	}
	return ShopLimits{}, false
}
