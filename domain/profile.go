package domain

import (
	"time"

	"github.com/shopspring/decimal"
)

// A Profile is a platform's rules as data: which rules apply, with which
// parameters, and which code each one reports. The decision functions read
// only profiles; a sixth platform is a new Profile value, not new code.
// A nil rule pointer means the platform does not have that rule.
type Profile struct {
	Platform  PlatformID
	Direction Direction

	// Funding: account kinds the shop may open; TopUpKinds accept manual
	// top-ups; DefaultFunding is used when a payout names none.
	Funding        []AccountKind
	TopUpKinds     []AccountKind
	DefaultFunding AccountKind

	// Ceilings are the platform's system limits; a merchant may set lower
	// ones (SetShopLimits) but never higher (limits.above_ceiling). A nil
	// ceiling is unlimited. LimitCodes names the code each limit reports;
	// a limit with no code cannot be set by the merchant.
	Ceilings   Limits
	LimitCodes LimitCodes

	Agreement   *Rule            // the tool must be enabled (agreement accepted by the main account)
	Enrollment  *EnrollmentRules // conditions checked at EnrollShop (JD)
	ShopStatus  *Rule            // the shop must be in normal operation
	UnpaidBills *Rule            // no payout while the shop has unpaid bills
	Arrears     *Rule            // no payout while the funding account has arrears

	PersonalAccount *KindsRule   // personal-qualification shops may fund only from these kinds
	OrderStatus     *StatusRule  // which order statuses may be paid out on
	PaymentKind     *StringsRule // forbidden order payment kinds
	PaymentMode     *StringsRule // allowed order payment modes
	Channel         *StringsRule // allowed sales channels (apps)
	CrossBorder     *Rule        // no cross-border orders
	GroupFormed     *Rule        // the group order must be formed
	OrderAge        *AgeRule     // the order must be younger than this
	InputRequired   *Rule        // type and reason required, message carried

	PayoutMin  *AmountRule    // at least this much per payout
	PayoutMax  *ActivityRule  // at most this much per payout, by activity goods or not
	CashShare  *ShareRule     // a payout at most this share of the cash paid
	OrderCap   *TieredCapRule // cumulative per-order cap by order amount
	OrderRate  *RateRule      // at most one payout per order per window
	OrderCount *CountRule     // how the per-order count is counted (limit in Ceilings)

	Staff *StaffRules // sub-account permission and quotas
	Funds FundsRules  // funding account checks (always present)
	SMS   *Rule       // SMS verification above the password-free threshold

	Confirmation *WindowRule // the buyer confirms within the window, else the card expires
	Approval     *Rule       // staff may submit a payout for admin approval
	ScanRoute    *ScanRule   // scan-to-pay route and when it is required
	TopUp        *WindowRule // a scan payout waits this long for its top-up
	AccountCard  *WindowRule // a payout failed for the buyer's account sends a card valid this long
	Close        *CloseRule  // a payout not succeeded closes after a while; refund due later
	Lifecycle    *LifecycleRule

	RefundNotReturned *Rule // an order refund does not return payouts (code carried by the warning)

	Collection *CollectionRules // Taobao collection cards
	Records    *RecordsRule     // records search and export
}

// Rule is a rule with no parameters but its code.
type Rule struct{ Code string }

// Limits are per-shop amount and count limits; nil is unlimited.
type Limits struct {
	PerPayoutMax        *decimal.Decimal `json:"per_payout_max,omitempty"`
	PerOrderMax         *decimal.Decimal `json:"per_order_max,omitempty"` // cumulative per order
	PerOrderCount       *int             `json:"per_order_count,omitempty"`
	DailyCount          *int             `json:"daily_count,omitempty"`
	DailyAmount         *decimal.Decimal `json:"daily_amount,omitempty"`
	ProceedsDailyAmount *decimal.Decimal `json:"proceeds_daily_amount,omitempty"` // PDD: above it, scan only
}

// LimitCodes names the rule code of each limit in Limits.
type LimitCodes struct {
	PerPayoutMax, PerOrderMax, PerOrderCount, DailyCount, DailyAmount, ProceedsDailyAmount string
}

// EnrollmentRules are checked when the tool is enabled.
type EnrollmentRules struct {
	ShopTypeCode    string
	AllowedEntities []string // entity types that may enroll
	AllowedModes    []string // cooperation modes that may enroll
	AfterSalesCode  string   // self-service after-sales must be enabled
	WalletCode      string   // this funding account must be opened first
	WalletKind      AccountKind
}

// KindsRule restricts funding account kinds.
type KindsRule struct {
	Code  string
	Kinds []AccountKind
}

// StatusRule lists the order statuses allowed (Allowed non-empty) or
// forbidden (Forbidden).
type StatusRule struct {
	Code      string
	Allowed   []OrderStatus
	Forbidden []OrderStatus
}

// StringsRule allows (Allowed) or forbids (Forbidden) string values.
type StringsRule struct {
	Code      string
	Allowed   []string
	Forbidden []string
}

// AgeBasis is the order time an age rule measures from.
type AgeBasis string

const (
	AgeFromPlaced      AgeBasis = "placed"
	AgeFromGroupFormed AgeBasis = "group_formed"
)

// AgeRule: the order's basis time must be less than MaxMonths calendar
// months before now (in the shop's time zone).
type AgeRule struct {
	Code      string
	MaxMonths int
	Basis     AgeBasis
}

// AmountRule is a fixed amount bound.
type AmountRule struct {
	Code   string
	Amount decimal.Decimal
}

// ActivityRule is a per-payout maximum depending on activity goods.
type ActivityRule struct {
	Code     string
	Normal   decimal.Decimal
	Activity decimal.Decimal
}

// ShareRule: a payout at most Percent % of the cash paid for the order.
type ShareRule struct {
	Code    string
	Percent decimal.Decimal
}

// CapTier: orders with amount <= UpTo (nil: any amount) are capped at Cap,
// or at the order amount itself when Cap is nil.
type CapTier struct {
	UpTo *decimal.Decimal
	Cap  *decimal.Decimal
}

// TieredCapRule: the cumulative counting payouts of an order are capped by
// the first tier whose UpTo covers the order amount.
type TieredCapRule struct {
	Code  string
	Tiers []CapTier
}

// RateRule: at most one counting payout per order per Window; a payout
// exactly Window after the previous one passes.
type RateRule struct {
	Code   string
	Window time.Duration
}

// CountRule says what the per-order count counts. With CountReleased,
// every payout ever created counts (1688: a closed one is still "the one").
type CountRule struct {
	CountReleased bool
}

// StaffRules govern sub-accounts.
type StaffRules struct {
	PermissionCode string // no quota, or a disabled one
	PerPayoutCode  string
	DailyCode      string
	ManageCode     string // quota management by a non-main account
	// ScanOnExceed: instead of rejecting, the payout must go by scan-to-pay
	// or admin approval (PDD); the rejection is the scan route's code.
	ScanOnExceed bool
}

// FundsRules name the funding codes.
type FundsRules struct {
	InsufficientCode string
	NoAccountCode    string
}

// WindowRule is a deadline measured from a start instant. An action is on
// time strictly before start+Window; the expiry fires at start+Window.
type WindowRule struct {
	Code   string
	Window time.Duration
}

// ScanRule says when scan-to-pay is required instead of the proceeds
// balance (PDD): a zero-deposit shop without deposit, a sub-account without
// quota or over it, the proceeds daily limit reached, or an order formed
// between FormedFromMonths and the order age limit ago.
type ScanRule struct {
	Code             string
	FormedFromMonths int
}

// CloseRule: a payout not succeeded After its initiation closes; the money
// returns to the merchant RefundMinDays to RefundMaxDays business days
// after the close.
type CloseRule struct {
	Code          string
	After         time.Duration
	RefundMinDays int
	RefundMaxDays int
}

// LifecycleRule: with RequireProcessing, a payout must be processing before
// it can succeed.
type LifecycleRule struct {
	Code              string
	RequireProcessing bool
}

// CollectionRules are the Taobao collection-card rules.
type CollectionRules struct {
	ReasonCode     string
	Reasons        []CollectionReason
	OrderTotalCode string
	Card           WindowRule
	CancelCode     string
}

// RecordsRule: records are searchable by payout ID, order ID and time
// range; a range must be well formed and at most MaxRange long (0 = any).
type RecordsRule struct {
	Code     string
	MaxRange time.Duration
}

// limitCode returns the code of a limit, or "" when the platform has none.
func (p *Profile) staffCode(which string) string {
	if p.Staff == nil {
		return ""
	}
	switch which {
	case "permission":
		return p.Staff.PermissionCode
	case "per_payout":
		return p.Staff.PerPayoutCode
	case "daily":
		return p.Staff.DailyCode
	case "manage":
		return p.Staff.ManageCode
	}
	return ""
}

func (p *Profile) fundingAllowed(k AccountKind) bool { return containsKind(p.Funding, k) }

func containsKind(ks []AccountKind, k AccountKind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
