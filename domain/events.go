package domain

import (
	"time"

	"github.com/shopspring/decimal"
)

// Payload is the body of an event: a past-tense fact. Type names are a
// persisted contract, never renamed; a changed shape gets a new schema
// version and an upcaster (codec.go).
type Payload interface {
	EventType() string
}

// --- shop ------------------------------------------------------------------

// ShopRegistered: the shop is known to the ledger.
type ShopRegistered struct {
	Platform              PlatformID `json:"platform"`
	ShopID                string     `json:"shop_id"`
	Name                  string     `json:"name"`
	TimeZone              string     `json:"time_zone"`
	MainAccount           string     `json:"main_account"`
	Qualification         string     `json:"qualification"`
	EntityType            string     `json:"entity_type,omitempty"`
	CooperationMode       string     `json:"cooperation_mode,omitempty"`
	AfterSalesSelfService bool       `json:"after_sales_self_service,omitempty"`
	ZeroDeposit           bool       `json:"zero_deposit,omitempty"`
	DepositPaid           bool       `json:"deposit_paid,omitempty"`
	ToolEnabled           bool       `json:"tool_enabled"` // platforms without an agreement start enabled
}

// ShopEnrolled: the agreement was accepted and the tool enabled.
type ShopEnrolled struct {
	By     string `json:"by"`
	Limits Limits `json:"limits"`
}

// ShopLimitsSet: the merchant changed its limits (old and new).
type ShopLimitsSet struct {
	Old                      Limits          `json:"old"`
	New                      Limits          `json:"new"`
	OldPasswordFreeThreshold decimal.Decimal `json:"old_password_free_threshold"`
	PasswordFreeThreshold    decimal.Decimal `json:"password_free_threshold"`
}

// ToolDisabled: the tool was switched off.
type ToolDisabled struct {
	Reason string `json:"reason,omitempty"`
}

// ShopStandingChanged: the platform's view of the shop changed.
type ShopStandingChanged struct {
	Status      ShopStatus `json:"status"`
	UnpaidBills bool       `json:"unpaid_bills"`
	DepositPaid bool       `json:"deposit_paid"`
	OldStatus   ShopStatus `json:"old_status"`
}

// --- funding -----------------------------------------------------------------

// FundingAccountOpened: an account of a kind was opened.
type FundingAccountOpened struct {
	Kind AccountKind `json:"kind"`
}

// FundsToppedUp: a manual top-up.
type FundsToppedUp struct {
	Kind         AccountKind     `json:"kind"`
	Amount       decimal.Decimal `json:"amount"`
	BalanceAfter decimal.Decimal `json:"balance_after"`
}

// ProceedsCredited: sales proceeds settled into the proceeds account.
type ProceedsCredited struct {
	Amount       decimal.Decimal `json:"amount"`
	BalanceAfter decimal.Decimal `json:"balance_after"`
}

// FundsFrozen: part of the balance was frozen.
type FundsFrozen struct {
	Kind        AccountKind     `json:"kind"`
	Amount      decimal.Decimal `json:"amount"`
	FrozenAfter decimal.Decimal `json:"frozen_after"`
}

// FundsUnfrozen: frozen funds were released.
type FundsUnfrozen struct {
	Kind        AccountKind     `json:"kind"`
	Amount      decimal.Decimal `json:"amount"`
	FrozenAfter decimal.Decimal `json:"frozen_after"`
}

// ArrearsChanged: the account's arrears changed.
type ArrearsChanged struct {
	Kind AccountKind     `json:"kind"`
	Old  decimal.Decimal `json:"old"`
	New  decimal.Decimal `json:"new"`
}

// --- staff -------------------------------------------------------------------

// StaffQuotaGranted: a sub-account got the permission and a quota.
type StaffQuotaGranted struct {
	Staff     string           `json:"staff"`
	PerPayout *decimal.Decimal `json:"per_payout,omitempty"`
	PerDay    *decimal.Decimal `json:"per_day,omitempty"`
}

// StaffQuotaChanged: a quota's limits changed (old and new).
type StaffQuotaChanged struct {
	Staff        string           `json:"staff"`
	OldPerPayout *decimal.Decimal `json:"old_per_payout,omitempty"`
	OldPerDay    *decimal.Decimal `json:"old_per_day,omitempty"`
	PerPayout    *decimal.Decimal `json:"per_payout,omitempty"`
	PerDay       *decimal.Decimal `json:"per_day,omitempty"`
}

// StaffQuotaDisabled: the quota is suspended.
type StaffQuotaDisabled struct {
	Staff string `json:"staff"`
}

// StaffQuotaEnabled: the quota is active again.
type StaffQuotaEnabled struct {
	Staff string `json:"staff"`
}

// StaffQuotaDeleted: the quota and permission are gone.
type StaffQuotaDeleted struct {
	Staff string `json:"staff"`
}

// --- orders ------------------------------------------------------------------

// OrderRegistered: the order as last reported by the order system.
type OrderRegistered struct {
	OrderID       string          `json:"order_id"`
	Buyer         string          `json:"buyer"`
	CashPaid      decimal.Decimal `json:"cash_paid"`
	OtherPaid     decimal.Decimal `json:"other_paid"`
	Status        OrderStatus     `json:"status"`
	PaymentMode   string          `json:"payment_mode,omitempty"`
	PaymentKind   string          `json:"payment_kind,omitempty"`
	Channel       string          `json:"channel,omitempty"`
	CrossBorder   bool            `json:"cross_border,omitempty"`
	ActivityGoods bool            `json:"activity_goods,omitempty"`
	PlacedAt      time.Time       `json:"placed_at"`
	PaidAt        *time.Time      `json:"paid_at,omitempty"`
	GroupFormedAt *time.Time      `json:"group_formed_at,omitempty"`
	Update        bool            `json:"update,omitempty"` // the order was known before
}

// OrderRefundRecorded: the order was refunded; payouts are not returned.
type OrderRefundRecorded struct {
	OrderID  string          `json:"order_id"`
	RefundID string          `json:"refund_id"`
	Amount   decimal.Decimal `json:"amount"`
}

// PlatformShippingRefundRecorded: the platform refunded shipping itself.
type PlatformShippingRefundRecorded struct {
	OrderID  string          `json:"order_id"`
	RefundID string          `json:"refund_id"`
	Amount   decimal.Decimal `json:"amount"`
}

// DuplicateCompensationWarned: a possible double compensation (RULES.md
// "Duplicate compensation"). Kind is the dup.* code; Rule the platform rule
// that also speaks of it (e.g. pdd.refund.not_returned), if any.
type DuplicateCompensationWarned struct {
	WarningID    string          `json:"warning_id"`
	Kind         string          `json:"kind"`
	Rule         string          `json:"rule,omitempty"`
	OrderID      string          `json:"order_id"`
	PayoutIDs    []string        `json:"payout_ids"` // the payouts involved
	NewPayoutID  string          `json:"new_payout_id,omitempty"`
	RefundID     string          `json:"refund_id,omitempty"`
	Amount       decimal.Decimal `json:"amount"` // sum of the payouts involved
	Acknowledged bool            `json:"acknowledged"`
}

// DuplicateWarningAcknowledged: the merchant saw the warning.
type DuplicateWarningAcknowledged struct {
	WarningID string `json:"warning_id"`
	By        string `json:"by"`
}

// --- payouts -----------------------------------------------------------------

// Route is how an accepted payout proceeds.
type Route string

const (
	RouteDirect       Route = "direct"             // paid from the funding account
	RouteConfirmation Route = "buyer_confirmation" // the buyer must confirm (1688)
	RouteApproval     Route = "admin_approval"     // an admin must approve (PDD)
	RouteScan         Route = "scan_top_up"        // the merchant pays by QR code (PDD)
	RouteSMS          Route = "sms_verified"       // direct after SMS verification (JD)
)

// Check is one numeric limit the decision checked (fat events: consumers
// see what was enforced without reading state).
type Check struct {
	Rule      string          `json:"rule"`
	Limit     decimal.Decimal `json:"limit"`
	UsedAfter decimal.Decimal `json:"used_after"`
}

// PayoutInitiated: a payout was accepted.
type PayoutInitiated struct {
	PayoutID     string          `json:"payout_id"`
	OrderID      string          `json:"order_id"`
	Staff        string          `json:"staff"`
	StaffRole    Role            `json:"staff_role"`
	Amount       decimal.Decimal `json:"amount"`
	Type         PayoutType      `json:"type"`
	Reason       string          `json:"reason,omitempty"`
	Message      string          `json:"message,omitempty"`
	Funding      AccountKind     `json:"funding"`
	GoodsID      string          `json:"goods_id,omitempty"`
	Remark       string          `json:"remark,omitempty"`
	Route        Route           `json:"route"`
	Status       PayoutStatus    `json:"status"`
	InitiatedAt  time.Time       `json:"initiated_at"`
	Day          string          `json:"day"`                   // local calendar day in the shop's zone
	DeadlineAt   *time.Time      `json:"deadline_at,omitempty"` // confirmation or top-up deadline
	HoldsFunds   bool            `json:"holds_funds"`           // reserves the amount on the account now
	QuotaCharged bool            `json:"quota_charged"`         // counts against the staff's daily quota
	Checks       []Check         `json:"checks,omitempty"`
}

// PayoutApproved: an admin approved; the payout is pending on the account.
type PayoutApproved struct {
	PayoutID string `json:"payout_id"`
	By       string `json:"by"`
}

// PayoutRejected: an admin rejected; it releases what it held.
type PayoutRejected struct {
	PayoutID string `json:"payout_id"`
	By       string `json:"by"`
	Reason   string `json:"reason,omitempty"`
}

// PayoutToppedUp: the scan-to-pay top-up arrived; the payout is pending.
type PayoutToppedUp struct {
	PayoutID string `json:"payout_id"`
}

// PayoutTopUpFailed: the top-up window passed; the payout cannot continue.
type PayoutTopUpFailed struct {
	PayoutID string `json:"payout_id"`
}

// PayoutProcessing: payment execution took the payout.
type PayoutProcessing struct {
	PayoutID string `json:"payout_id"`
	Retry    bool   `json:"retry,omitempty"` // after the buyer submitted an account
}

// PayoutSucceeded: the money reached the buyer.
type PayoutSucceeded struct {
	PayoutID string          `json:"payout_id"`
	Amount   decimal.Decimal `json:"amount"`
	Funding  AccountKind     `json:"funding"`
}

// PayoutFailed: the payment failed and the payout released what it held.
type PayoutFailed struct {
	PayoutID string `json:"payout_id"`
	Reason   string `json:"reason,omitempty"`
}

// PayoutFailedForBuyerAccount: the payment failed for the buyer's account;
// an account card is sent and the payout waits for a retry (it still counts).
type PayoutFailedForBuyerAccount struct {
	PayoutID      string    `json:"payout_id"`
	Reason        string    `json:"reason,omitempty"`
	CardExpiresAt time.Time `json:"card_expires_at"`
}

// AccountCardSent: the merchant resent an account card by hand.
type AccountCardSent struct {
	PayoutID      string    `json:"payout_id"`
	CardExpiresAt time.Time `json:"card_expires_at"`
}

// BuyerAccountSubmitted: the buyer filled in the card; a retry starts.
type BuyerAccountSubmitted struct {
	PayoutID string `json:"payout_id"`
}

// PayoutConfirmedByBuyer: the buyer confirmed receipt (1688); the payout
// succeeded.
type PayoutConfirmedByBuyer struct {
	PayoutID string          `json:"payout_id"`
	Amount   decimal.Decimal `json:"amount"`
	Funding  AccountKind     `json:"funding"`
}

// CardExpired: a card's window passed. Card is "confirmation" (the payout
// expires and releases its hold), "account" (the payout keeps waiting; the
// merchant may resend) or "collection".
type CardExpired struct {
	Card string `json:"card"`
	ID   string `json:"id"`
}

// PayoutClosed: not succeeded within the close delay; its money is due
// back to the merchant between RefundDueAt and RefundLatestAt (nil when
// the payout held no money: it was still awaiting approval).
type PayoutClosed struct {
	PayoutID       string     `json:"payout_id"`
	RefundDueAt    *time.Time `json:"refund_due_at,omitempty"`
	RefundLatestAt *time.Time `json:"refund_latest_at,omitempty"`
}

// PayoutRefundedToMerchant: a closed payout's money is back on its account.
type PayoutRefundedToMerchant struct {
	PayoutID string          `json:"payout_id"`
	Amount   decimal.Decimal `json:"amount"`
	Funding  AccountKind     `json:"funding"`
}

// --- collections -----------------------------------------------------------

// CollectionCardSent: a collection card was sent to the buyer.
type CollectionCardSent struct {
	CollectionID string           `json:"collection_id"`
	OrderID      string           `json:"order_id"`
	Staff        string           `json:"staff"`
	Amount       decimal.Decimal  `json:"amount"`
	Reason       CollectionReason `json:"reason"`
	Tag          string           `json:"tag,omitempty"`
	Remark       string           `json:"remark,omitempty"`
	SentAt       time.Time        `json:"sent_at"`
	Day          string           `json:"day"`
	ExpiresAt    time.Time        `json:"expires_at"`
}

// CollectionPaid: the buyer paid the card.
type CollectionPaid struct {
	CollectionID string          `json:"collection_id"`
	Amount       decimal.Decimal `json:"amount"`
}

// CollectionCardCancelled: the merchant cancelled an unpaid card.
type CollectionCardCancelled struct {
	CollectionID string `json:"collection_id"`
	By           string `json:"by"`
}

func (ShopRegistered) EventType() string                 { return "ShopRegistered" }
func (ShopEnrolled) EventType() string                   { return "ShopEnrolled" }
func (ShopLimitsSet) EventType() string                  { return "ShopLimitsSet" }
func (ToolDisabled) EventType() string                   { return "ToolDisabled" }
func (ShopStandingChanged) EventType() string            { return "ShopStandingChanged" }
func (FundingAccountOpened) EventType() string           { return "FundingAccountOpened" }
func (FundsToppedUp) EventType() string                  { return "FundsToppedUp" }
func (ProceedsCredited) EventType() string               { return "ProceedsCredited" }
func (FundsFrozen) EventType() string                    { return "FundsFrozen" }
func (FundsUnfrozen) EventType() string                  { return "FundsUnfrozen" }
func (ArrearsChanged) EventType() string                 { return "ArrearsChanged" }
func (StaffQuotaGranted) EventType() string              { return "StaffQuotaGranted" }
func (StaffQuotaChanged) EventType() string              { return "StaffQuotaChanged" }
func (StaffQuotaDisabled) EventType() string             { return "StaffQuotaDisabled" }
func (StaffQuotaEnabled) EventType() string              { return "StaffQuotaEnabled" }
func (StaffQuotaDeleted) EventType() string              { return "StaffQuotaDeleted" }
func (OrderRegistered) EventType() string                { return "OrderRegistered" }
func (OrderRefundRecorded) EventType() string            { return "OrderRefundRecorded" }
func (PlatformShippingRefundRecorded) EventType() string { return "PlatformShippingRefundRecorded" }
func (DuplicateCompensationWarned) EventType() string    { return "DuplicateCompensationWarned" }
func (DuplicateWarningAcknowledged) EventType() string   { return "DuplicateWarningAcknowledged" }
func (PayoutInitiated) EventType() string                { return "PayoutInitiated" }
func (PayoutApproved) EventType() string                 { return "PayoutApproved" }
func (PayoutRejected) EventType() string                 { return "PayoutRejected" }
func (PayoutToppedUp) EventType() string                 { return "PayoutToppedUp" }
func (PayoutTopUpFailed) EventType() string              { return "PayoutTopUpFailed" }
func (PayoutProcessing) EventType() string               { return "PayoutProcessing" }
func (PayoutSucceeded) EventType() string                { return "PayoutSucceeded" }
func (PayoutFailed) EventType() string                   { return "PayoutFailed" }
func (PayoutFailedForBuyerAccount) EventType() string    { return "PayoutFailedForBuyerAccount" }
func (AccountCardSent) EventType() string                { return "AccountCardSent" }
func (BuyerAccountSubmitted) EventType() string          { return "BuyerAccountSubmitted" }
func (PayoutConfirmedByBuyer) EventType() string         { return "PayoutConfirmedByBuyer" }
func (CardExpired) EventType() string                    { return "CardExpired" }
func (PayoutClosed) EventType() string                   { return "PayoutClosed" }
func (PayoutRefundedToMerchant) EventType() string       { return "PayoutRefundedToMerchant" }
func (CollectionCardSent) EventType() string             { return "CollectionCardSent" }
func (CollectionPaid) EventType() string                 { return "CollectionPaid" }
func (CollectionCardCancelled) EventType() string        { return "CollectionCardCancelled" }
