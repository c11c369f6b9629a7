package domain

import (
	"time"

	"github.com/shopspring/decimal"
)

// PayoutStatus is a payout's place in its lifecycle.
type PayoutStatus string

const (
	StatusAwaitingConfirmation PayoutStatus = "awaiting_confirmation" // 1688: the buyer must confirm
	StatusAwaitingApproval     PayoutStatus = "awaiting_approval"     // PDD: an admin must approve
	StatusAwaitingTopUp        PayoutStatus = "awaiting_top_up"       // PDD: the merchant must pay by QR code
	StatusPending              PayoutStatus = "pending"
	StatusProcessing           PayoutStatus = "processing"
	StatusAwaitingBuyerAccount PayoutStatus = "awaiting_buyer_account" // PDD: failed for the buyer's account, card sent
	StatusSucceeded            PayoutStatus = "succeeded"
	StatusFailed               PayoutStatus = "failed"
	StatusExpired              PayoutStatus = "expired"       // confirmation card expired
	StatusRejected             PayoutStatus = "rejected"      // admin rejected
	StatusTopUpFailed          PayoutStatus = "top_up_failed" // top-up window passed
	StatusClosed               PayoutStatus = "closed"        // not succeeded in time; refund due
	StatusRefunded             PayoutStatus = "refunded"      // closed and the money is back
)

// Counts is the counting rule of RULES.md: a payout counts against
// per-order, per-day and quota limits while pending, processing, awaiting
// confirmation, approval or top-up, or succeeded; failed, rejected, expired
// and closed payouts release what they held.
//
// Reading: a payout awaiting the buyer's account (PDD) is being retried by
// the platform, not failed for good, so it still counts until it closes.
func (s PayoutStatus) Counts() bool {
	switch s {
	case StatusPending, StatusProcessing, StatusAwaitingConfirmation, StatusAwaitingApproval,
		StatusAwaitingTopUp, StatusAwaitingBuyerAccount, StatusSucceeded:
		return true
	}
	return false
}

// Final reports whether no further transition is possible.
func (s PayoutStatus) Final() bool {
	switch s {
	case StatusSucceeded, StatusFailed, StatusExpired, StatusRejected, StatusTopUpFailed, StatusRefunded:
		return true
	}
	return false
}

// CollectionStatus is a collection card's place in its lifecycle.
type CollectionStatus string

const (
	CollectionSent      CollectionStatus = "sent"
	CollectionPaidSt    CollectionStatus = "paid"
	CollectionExpired   CollectionStatus = "expired"
	CollectionCancelled CollectionStatus = "cancelled"
)

// Counts: open and paid cards count against the order total.
func (s CollectionStatus) Counts() bool { return s == CollectionSent || s == CollectionPaidSt }

// Shop is the state of one shop's stream: everything a decision about the
// shop needs. It is built only by Apply.
type Shop struct {
	Ref     ShopRef
	Version uint64 // events applied

	Registered            bool
	Name                  string
	TimeZone              string
	MainAccount           string
	Qualification         string
	EntityType            string
	CooperationMode       string
	AfterSalesSelfService bool
	ZeroDeposit           bool
	DepositPaid           bool
	Status                ShopStatus
	UnpaidBills           bool
	ToolEnabled           bool
	Limits                Limits
	PasswordFree          decimal.Decimal

	Accounts    map[AccountKind]*Account
	Staff       map[string]*Quota
	Orders      map[string]*Order
	Payouts     map[string]*Payout
	Collections map[string]*Collection
	Warnings    map[string]*Warning
	Daily       map[string]*DayTotals            // local day -> shop totals of counting payouts
	StaffDaily  map[string]map[string]*DayTotals // staff -> local day -> quota-charged totals

	loc *time.Location
}

// Account is a funding account. Available = balance - frozen - held.
type Account struct {
	Kind    AccountKind
	Balance decimal.Decimal
	Frozen  decimal.Decimal
	Held    decimal.Decimal // reserved by payouts not yet settled
	Arrears decimal.Decimal
}

// Available is what a new payout may use.
func (a *Account) Available() decimal.Decimal { return a.Balance.Sub(a.Frozen).Sub(a.Held) }

// Quota is a sub-account's payout permission and limits (nil = unlimited).
type Quota struct {
	Staff     string
	Enabled   bool
	PerPayout *decimal.Decimal
	PerDay    *decimal.Decimal
}

// Order is the order as the ledger sees it, with what was paid on it.
type Order struct {
	OrderRegistered
	Payouts                  []string // payout IDs in initiation order
	Collections              []string
	Refunds                  []string
	PlatformShippingRefunded bool
}

// Amount is the order amount: cash plus other means.
func (o *Order) Amount() decimal.Decimal { return o.CashPaid.Add(o.OtherPaid) }

// Payout is one payout and where it is in its lifecycle.
type Payout struct {
	PayoutInitiated
	Status         PayoutStatus
	FundsHeld      bool       // the amount is held on the funding account
	CardExpiresAt  *time.Time // PDD account card
	CardExpired    bool
	RefundDueAt    *time.Time
	RefundLatestAt *time.Time
	UpdatedAt      time.Time
}

// Collection is one Taobao collection card.
type Collection struct {
	CollectionCardSent
	Status CollectionStatus
}

// Warning is a duplicate-compensation warning.
type Warning struct {
	DuplicateCompensationWarned
}

// DayTotals are the counting payouts of one local day.
type DayTotals struct {
	Count          int
	Amount         decimal.Decimal
	ProceedsAmount decimal.Decimal // from the proceeds balance (PDD scan routing)
}

// NewShop is the empty state of a shop's stream.
func NewShop(ref ShopRef) *Shop {
	return &Shop{
		Ref:         ref,
		Status:      ShopNormal,
		Accounts:    map[AccountKind]*Account{},
		Staff:       map[string]*Quota{},
		Orders:      map[string]*Order{},
		Payouts:     map[string]*Payout{},
		Collections: map[string]*Collection{},
		Warnings:    map[string]*Warning{},
		Daily:       map[string]*DayTotals{},
		StaffDaily:  map[string]map[string]*DayTotals{},
	}
}

// Profile returns the shop's platform profile (nil if unknown).
func (s *Shop) Profile() *Profile {
	p, _ := LookupProfile(s.Ref.Platform)
	return p
}

// Location is the shop's time zone; every "daily" limit is a calendar day
// there.
func (s *Shop) Location() *time.Location {
	if s.loc == nil {
		s.loc = loadZone(s.TimeZone)
	}
	return s.loc
}

// DefaultTimeZone is the zone of a shop that names none.
const DefaultTimeZone = "Asia/Shanghai"

// chinaStandardTime stands in when the zone database is unavailable:
// Asia/Shanghai has had no daylight saving since 1991.
var chinaStandardTime = time.FixedZone("CST", 8*3600)

func loadZone(name string) *time.Location {
	if name == "" {
		name = DefaultTimeZone
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		// Apply must never fail; the zone was validated when decided.
		return chinaStandardTime
	}
	return loc
}

// LocalDay is the shop's calendar day of an instant ("2006-01-02").
func (s *Shop) LocalDay(t time.Time) string { return t.In(s.Location()).Format("2006-01-02") }

func (s *Shop) day(d string) *DayTotals {
	t, ok := s.Daily[d]
	if !ok {
		t = &DayTotals{}
		s.Daily[d] = t
	}
	return t
}

func (s *Shop) staffDay(staff, d string) *DayTotals {
	m, ok := s.StaffDaily[staff]
	if !ok {
		m = map[string]*DayTotals{}
		s.StaffDaily[staff] = m
	}
	t, ok := m[d]
	if !ok {
		t = &DayTotals{}
		m[d] = t
	}
	return t
}

// DayTotals returns a copy of the shop's totals for a local day.
func (s *Shop) DayTotals(day string) DayTotals {
	if t, ok := s.Daily[day]; ok {
		return *t
	}
	return DayTotals{}
}

// StaffDayTotals returns a copy of a staff account's quota usage for a day.
func (s *Shop) StaffDayTotals(staff, day string) DayTotals {
	if t, ok := s.StaffDaily[staff][day]; ok {
		return *t
	}
	return DayTotals{}
}

// effective returns the limit in force: the merchant's if set, else the
// platform ceiling (nil: unlimited).
func effectiveAmount(merchant, ceiling *decimal.Decimal) *decimal.Decimal {
	if merchant != nil {
		return merchant
	}
	return ceiling
}

func effectiveCount(merchant, ceiling *int) *int {
	if merchant != nil {
		return merchant
	}
	return ceiling
}

// EffectiveLimits are the limits in force for the shop.
func (s *Shop) EffectiveLimits() Limits {
	p := s.Profile()
	c := Limits{}
	if p != nil {
		c = p.Ceilings
	}
	m := s.Limits
	return Limits{
		PerPayoutMax:        effectiveAmount(m.PerPayoutMax, c.PerPayoutMax),
		PerOrderMax:         effectiveAmount(m.PerOrderMax, c.PerOrderMax),
		PerOrderCount:       effectiveCount(m.PerOrderCount, c.PerOrderCount),
		DailyCount:          effectiveCount(m.DailyCount, c.DailyCount),
		DailyAmount:         effectiveAmount(m.DailyAmount, c.DailyAmount),
		ProceedsDailyAmount: effectiveAmount(m.ProceedsDailyAmount, c.ProceedsDailyAmount),
	}
}
