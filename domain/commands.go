package domain

import (
	"time"

	"github.com/shopspring/decimal"
)

// Command is an imperative request about one shop. Every command names its
// shop (and so its stream) and has one decision function.
type Command interface {
	Shop() ShopRef
	CommandName() string
}

// Ref is embedded in every command: the shop it is about.
type Ref struct {
	ShopRef
}

// Shop returns the shop the command is about.
func (r Ref) Shop() ShopRef { return r.ShopRef }

// --- shop, enrollment, limits -------------------------------------------

// RegisterShop makes a shop known to the ledger (operator). Attributes
// feed the platform's rules: qualification (Douyin personal shops), entity
// type and cooperation mode (JD), deposit (PDD zero-deposit shops).
type RegisterShop struct {
	Ref
	Name                  string `json:"name"`
	TimeZone              string `json:"time_zone,omitempty"` // default Asia/Shanghai
	MainAccount           string `json:"main_account"`
	Qualification         string `json:"qualification,omitempty"` // enterprise (default) | personal
	EntityType            string `json:"entity_type,omitempty"`
	CooperationMode       string `json:"cooperation_mode,omitempty"`
	AfterSalesSelfService bool   `json:"after_sales_self_service,omitempty"`
	ZeroDeposit           bool   `json:"zero_deposit,omitempty"`
	DepositPaid           bool   `json:"deposit_paid,omitempty"`
}

// EnrollShop accepts the agreement and enables the tool (main account), with
// optional merchant limits.
type EnrollShop struct {
	Ref
	AcceptAgreement bool   `json:"accept_agreement"`
	Limits          Limits `json:"limits"`
}

// SetShopLimits replaces the merchant limits (each at most the platform
// ceiling; an unset limit falls back to the ceiling) and sets the
// password-free threshold for SMS verification. A command carrying only a
// threshold keeps the limits.
type SetShopLimits struct {
	Ref
	Limits                Limits           `json:"limits"`
	PasswordFreeThreshold *decimal.Decimal `json:"password_free_threshold,omitempty"`
}

// DisableTool switches the tool off: no new payout until enrolled again.
type DisableTool struct {
	Ref
	Reason string `json:"reason,omitempty"`
}

// UpdateShopStanding records the platform's view of the shop (operator):
// operating status, unpaid bills, deposit.
type UpdateShopStanding struct {
	Ref
	Status      ShopStatus `json:"status"`
	UnpaidBills bool       `json:"unpaid_bills"`
	DepositPaid bool       `json:"deposit_paid"`
}

// --- funding -------------------------------------------------------------

// OpenFundingAccount opens one funding account of a kind.
type OpenFundingAccount struct {
	Ref
	Kind AccountKind `json:"kind"`
}

// TopUp adds money to an account that accepts manual top-ups.
type TopUp struct {
	Ref
	Kind   AccountKind     `json:"kind"`
	Amount decimal.Decimal `json:"amount"`
}

// CreditProceeds records sales proceeds settled into the proceeds account
// (operator): the only way money enters an account without manual top-up.
type CreditProceeds struct {
	Ref
	Amount decimal.Decimal `json:"amount"`
}

// FreezeFunds freezes part of an account's balance (operator).
type FreezeFunds struct {
	Ref
	Kind   AccountKind     `json:"kind"`
	Amount decimal.Decimal `json:"amount"`
}

// UnfreezeFunds releases frozen funds (operator).
type UnfreezeFunds struct {
	Ref
	Kind   AccountKind     `json:"kind"`
	Amount decimal.Decimal `json:"amount"`
}

// SetArrears records the merchant account's arrears (operator); zero clears.
type SetArrears struct {
	Ref
	Kind   AccountKind     `json:"kind"`
	Amount decimal.Decimal `json:"amount"`
}

// --- staff quotas (main account only) ------------------------------------

// GrantStaffQuota grants a sub-account the payout permission and a quota.
// Nil limits are unlimited (1688 grants the permission only).
type GrantStaffQuota struct {
	Ref
	Staff     string           `json:"staff"`
	PerPayout *decimal.Decimal `json:"per_payout,omitempty"`
	PerDay    *decimal.Decimal `json:"per_day,omitempty"`
}

// ChangeStaffQuota replaces a quota's limits.
type ChangeStaffQuota struct {
	Ref
	Staff     string           `json:"staff"`
	PerPayout *decimal.Decimal `json:"per_payout,omitempty"`
	PerDay    *decimal.Decimal `json:"per_day,omitempty"`
}

// DisableStaffQuota suspends a quota (the staff can no longer pay out).
type DisableStaffQuota struct {
	Ref
	Staff string `json:"staff"`
}

// EnableStaffQuota re-enables a disabled quota.
type EnableStaffQuota struct {
	Ref
	Staff string `json:"staff"`
}

// DeleteStaffQuota removes a quota and the permission with it.
type DeleteStaffQuota struct {
	Ref
	Staff string `json:"staff"`
}

// --- orders --------------------------------------------------------------

// RegisterOrder records (or updates) an order as the ledger needs to see it
// (operator). The ledger does not own the order system: the latest
// registration wins, payouts already made are kept.
type RegisterOrder struct {
	Ref
	OrderID       string          `json:"order_id"`
	Buyer         string          `json:"buyer"`
	CashPaid      decimal.Decimal `json:"cash_paid"`
	OtherPaid     decimal.Decimal `json:"other_paid"` // red packets, coupons
	Status        OrderStatus     `json:"status"`
	PaymentMode   string          `json:"payment_mode,omitempty"` // online | cod
	PaymentKind   string          `json:"payment_kind,omitempty"` // normal | consignment_split | deferred_term | credit
	Channel       string          `json:"channel,omitempty"`
	CrossBorder   bool            `json:"cross_border,omitempty"`
	ActivityGoods bool            `json:"activity_goods,omitempty"`
	PlacedAt      time.Time       `json:"placed_at"`
	PaidAt        *time.Time      `json:"paid_at,omitempty"`
	GroupFormedAt *time.Time      `json:"group_formed_at,omitempty"`
}

// RecordOrderRefund records a refund of the order (operator). Payouts are
// not returned; a payout on the order raises dup.refund_after_payout.
type RecordOrderRefund struct {
	Ref
	OrderID  string          `json:"order_id"`
	RefundID string          `json:"refund_id"`
	Amount   decimal.Decimal `json:"amount"`
}

// RecordPlatformShippingRefund records that the platform itself refunded
// shipping for the order (operator).
type RecordPlatformShippingRefund struct {
	Ref
	OrderID  string          `json:"order_id"`
	RefundID string          `json:"refund_id"`
	Amount   decimal.Decimal `json:"amount"`
}

// --- payouts -------------------------------------------------------------

// InitiatePayout asks to pay a buyer. The client chooses PayoutID (a retry
// with the same ID and body is the same payout).
type InitiatePayout struct {
	Ref
	PayoutID             string          `json:"payout_id"`
	OrderID              string          `json:"order_id"`
	Amount               decimal.Decimal `json:"amount"`
	Type                 PayoutType      `json:"type"`
	Reason               string          `json:"reason"`
	Message              string          `json:"message,omitempty"` // to the buyer
	Funding              AccountKind     `json:"funding,omitempty"` // default: the profile's
	GoodsID              string          `json:"goods_id,omitempty"`
	Remark               string          `json:"remark,omitempty"` // internal
	SubmitForApproval    bool            `json:"submit_for_approval,omitempty"`
	SMSVerified          bool            `json:"sms_verified,omitempty"`
	AcknowledgeDuplicate bool            `json:"acknowledge_duplicate,omitempty"`
}

// ApprovePayout approves a payout submitted for approval (main account).
type ApprovePayout struct {
	Ref
	PayoutID string `json:"payout_id"`
}

// RejectPayout rejects a payout submitted for approval (main account).
type RejectPayout struct {
	Ref
	PayoutID string `json:"payout_id"`
	Reason   string `json:"reason,omitempty"`
}

// CompleteTopUp records that the merchant paid a scan-to-pay payout.
type CompleteTopUp struct {
	Ref
	PayoutID string `json:"payout_id"`
}

// ExpireTopUp ends a scan-to-pay payout whose top-up window passed (timer).
type ExpireTopUp struct {
	Ref
	PayoutID string `json:"payout_id"`
}

// MarkPayoutProcessing: payment execution took the payout (operator).
type MarkPayoutProcessing struct {
	Ref
	PayoutID string `json:"payout_id"`
}

// MarkPayoutSucceeded: the money reached the buyer (operator).
type MarkPayoutSucceeded struct {
	Ref
	PayoutID string `json:"payout_id"`
}

// MarkPayoutFailed: the payment failed (operator). BuyerAccount says it
// failed for the buyer's account (PDD sends an account card).
type MarkPayoutFailed struct {
	Ref
	PayoutID     string `json:"payout_id"`
	Reason       string `json:"reason,omitempty"`
	BuyerAccount bool   `json:"buyer_account,omitempty"`
}

// SubmitBuyerAccount: the buyer filled in the account card; the payout is
// retried at once (operator).
type SubmitBuyerAccount struct {
	Ref
	PayoutID string `json:"payout_id"`
}

// ResendAccountCard: the merchant resends an expired account card.
type ResendAccountCard struct {
	Ref
	PayoutID string `json:"payout_id"`
}

// ConfirmByBuyer: the buyer confirmed receipt of the payout (operator).
type ConfirmByBuyer struct {
	Ref
	PayoutID string `json:"payout_id"`
}

// ExpireCard expires a card whose window passed (timer): a buyer
// confirmation card (the payout closes), a collection card, or a PDD
// account card. ID is the payout or collection ID.
type ExpireCard struct {
	Ref
	ID string `json:"id"`
}

// ClosePayout closes a payout not succeeded after the platform's close
// delay (timer); the money is due back to the merchant later.
type ClosePayout struct {
	Ref
	PayoutID string `json:"payout_id"`
}

// RefundToMerchant returns a closed payout's money to its account (timer).
type RefundToMerchant struct {
	Ref
	PayoutID string `json:"payout_id"`
}

// --- collections (Taobao) ------------------------------------------------

// SendCollectionCard asks the buyer to pay a difference.
type SendCollectionCard struct {
	Ref
	CollectionID string           `json:"collection_id"`
	OrderID      string           `json:"order_id"`
	Amount       decimal.Decimal  `json:"amount"`
	Reason       CollectionReason `json:"reason"`
	Tag          string           `json:"tag,omitempty"`
	Remark       string           `json:"remark,omitempty"`
}

// PayCollection: the buyer paid the card (operator).
type PayCollection struct {
	Ref
	CollectionID string `json:"collection_id"`
}

// CancelCard cancels an unpaid collection card (merchant).
type CancelCard struct {
	Ref
	CollectionID string `json:"collection_id"`
}

// AcknowledgeDuplicateWarning marks a duplicate-compensation warning as
// seen by the merchant.
type AcknowledgeDuplicateWarning struct {
	Ref
	WarningID string `json:"warning_id"`
}

func (RegisterShop) CommandName() string                 { return "RegisterShop" }
func (EnrollShop) CommandName() string                   { return "EnrollShop" }
func (SetShopLimits) CommandName() string                { return "SetShopLimits" }
func (DisableTool) CommandName() string                  { return "DisableTool" }
func (UpdateShopStanding) CommandName() string           { return "UpdateShopStanding" }
func (OpenFundingAccount) CommandName() string           { return "OpenFundingAccount" }
func (TopUp) CommandName() string                        { return "TopUp" }
func (CreditProceeds) CommandName() string               { return "CreditProceeds" }
func (FreezeFunds) CommandName() string                  { return "FreezeFunds" }
func (UnfreezeFunds) CommandName() string                { return "UnfreezeFunds" }
func (SetArrears) CommandName() string                   { return "SetArrears" }
func (GrantStaffQuota) CommandName() string              { return "GrantStaffQuota" }
func (ChangeStaffQuota) CommandName() string             { return "ChangeStaffQuota" }
func (DisableStaffQuota) CommandName() string            { return "DisableStaffQuota" }
func (EnableStaffQuota) CommandName() string             { return "EnableStaffQuota" }
func (DeleteStaffQuota) CommandName() string             { return "DeleteStaffQuota" }
func (RegisterOrder) CommandName() string                { return "RegisterOrder" }
func (RecordOrderRefund) CommandName() string            { return "RecordOrderRefund" }
func (RecordPlatformShippingRefund) CommandName() string { return "RecordPlatformShippingRefund" }
func (InitiatePayout) CommandName() string               { return "InitiatePayout" }
func (ApprovePayout) CommandName() string                { return "ApprovePayout" }
func (RejectPayout) CommandName() string                 { return "RejectPayout" }
func (CompleteTopUp) CommandName() string                { return "CompleteTopUp" }
func (ExpireTopUp) CommandName() string                  { return "ExpireTopUp" }
func (MarkPayoutProcessing) CommandName() string         { return "MarkPayoutProcessing" }
func (MarkPayoutSucceeded) CommandName() string          { return "MarkPayoutSucceeded" }
func (MarkPayoutFailed) CommandName() string             { return "MarkPayoutFailed" }
func (SubmitBuyerAccount) CommandName() string           { return "SubmitBuyerAccount" }
func (ResendAccountCard) CommandName() string            { return "ResendAccountCard" }
func (ConfirmByBuyer) CommandName() string               { return "ConfirmByBuyer" }
func (ExpireCard) CommandName() string                   { return "ExpireCard" }
func (ClosePayout) CommandName() string                  { return "ClosePayout" }
func (RefundToMerchant) CommandName() string             { return "RefundToMerchant" }
func (SendCollectionCard) CommandName() string           { return "SendCollectionCard" }
func (PayCollection) CommandName() string                { return "PayCollection" }
func (CancelCard) CommandName() string                   { return "CancelCard" }
func (AcknowledgeDuplicateWarning) CommandName() string  { return "AcknowledgeDuplicateWarning" }

// rolesFor is the one table of which roles may send which command. Rules
// with their own codes (quota management, agreement, approval) are checked
// again in the decisions to report the platform's code.
var rolesFor = map[string][]Role{
	"RegisterShop":                 {RoleOperator},
	"EnrollShop":                   {RoleMain, RoleSub},
	"SetShopLimits":                {RoleMain},
	"DisableTool":                  {RoleMain, RoleOperator},
	"UpdateShopStanding":           {RoleOperator},
	"OpenFundingAccount":           {RoleMain, RoleOperator},
	"TopUp":                        {RoleMain},
	"CreditProceeds":               {RoleOperator},
	"FreezeFunds":                  {RoleOperator},
	"UnfreezeFunds":                {RoleOperator},
	"SetArrears":                   {RoleOperator},
	"GrantStaffQuota":              {RoleMain, RoleSub},
	"ChangeStaffQuota":             {RoleMain, RoleSub},
	"DisableStaffQuota":            {RoleMain, RoleSub},
	"EnableStaffQuota":             {RoleMain, RoleSub},
	"DeleteStaffQuota":             {RoleMain, RoleSub},
	"RegisterOrder":                {RoleOperator},
	"RecordOrderRefund":            {RoleOperator},
	"RecordPlatformShippingRefund": {RoleOperator},
	"InitiatePayout":               {RoleMain, RoleSub},
	"ApprovePayout":                {RoleMain, RoleSub},
	"RejectPayout":                 {RoleMain, RoleSub},
	"CompleteTopUp":                {RoleOperator},
	"ExpireTopUp":                  {RoleSystem, RoleOperator},
	"MarkPayoutProcessing":         {RoleOperator},
	"MarkPayoutSucceeded":          {RoleOperator},
	"MarkPayoutFailed":             {RoleOperator},
	"SubmitBuyerAccount":           {RoleOperator},
	"ResendAccountCard":            {RoleMain, RoleSub},
	"ConfirmByBuyer":               {RoleOperator},
	"ExpireCard":                   {RoleSystem, RoleOperator},
	"ClosePayout":                  {RoleSystem, RoleOperator},
	"RefundToMerchant":             {RoleSystem, RoleOperator},
	"SendCollectionCard":           {RoleMain, RoleSub},
	"PayCollection":                {RoleOperator},
	"CancelCard":                   {RoleMain, RoleSub},
	"AcknowledgeDuplicateWarning":  {RoleMain, RoleSub},
}

// AllowedRoles returns the roles that may send the named command.
func AllowedRoles(command string) []Role { return rolesFor[command] }
