package domain

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// PlatformID names a platform profile.
type PlatformID string

// The five platforms of RULES.md.
const (
	Platform1688   PlatformID = "1688"
	PlatformDouyin PlatformID = "douyin"
	PlatformJD     PlatformID = "jd"
	PlatformPDD    PlatformID = "pdd"
	PlatformTaobao PlatformID = "taobao"
)

// Direction says which way money moves.
type Direction string

const (
	DirectionPayout     Direction = "payout"     // merchant to buyer
	DirectionCollection Direction = "collection" // buyer to merchant (Taobao)
)

// AccountKind is a funding account kind.
type AccountKind string

const (
	AccountReserve  AccountKind = "reserve"  // prepaid, payouts only, top-ups allowed
	AccountProceeds AccountKind = "proceeds" // sales proceeds, no manual top-up
	AccountWallet   AccountKind = "wallet"   // JD enterprise wallet
	// FundingScan is not an account: the merchant pays this one payout by QR
	// code (PDD scan-to-pay).
	FundingScan AccountKind = "scan"
)

// PayoutType is what a payout compensates.
type PayoutType string

const (
	TypeShipping             PayoutType = "shipping"
	TypePriceDifference      PayoutType = "price_difference"
	TypeService              PayoutType = "service"
	TypeActivityCompensation PayoutType = "activity_compensation"
	TypeOther                PayoutType = "other"
)

func (t PayoutType) valid() bool {
	switch t {
	case TypeShipping, TypePriceDifference, TypeService, TypeActivityCompensation, TypeOther:
		return true
	}
	return false
}

// Role is who acts: a shop's main (administrator) or sub account, the
// platform operator (records orders, buyer actions and payment results), or
// the ledger's own timers.
type Role string

const (
	RoleMain     Role = "main"
	RoleSub      Role = "sub"
	RoleOperator Role = "operator"
	RoleSystem   Role = "system"
)

// Actor is the account a command is sent by.
type Actor struct {
	ID   string `json:"id"`
	Role Role   `json:"role"`
}

// ShopStatus is the shop's operating status.
type ShopStatus string

const (
	ShopNormal    ShopStatus = "normal"
	ShopSuspended ShopStatus = "suspended"
)

// OrderStatus is the order's status as the order system reports it.
type OrderStatus string

const (
	OrderUnpaid     OrderStatus = "unpaid"
	OrderPaid       OrderStatus = "paid"
	OrderShipped    OrderStatus = "shipped"
	OrderReceived   OrderStatus = "received"
	OrderCompleted  OrderStatus = "completed"
	OrderLocked     OrderStatus = "locked"
	OrderCancelling OrderStatus = "cancelling"
	OrderCancelled  OrderStatus = "cancelled"
	OrderClosed     OrderStatus = "closed"
)

func (s OrderStatus) valid() bool {
	switch s {
	case OrderUnpaid, OrderPaid, OrderShipped, OrderReceived, OrderCompleted, OrderLocked, OrderCancelling, OrderCancelled, OrderClosed:
		return true
	}
	return false
}

// CollectionReason is a Taobao collection reason (no custom reasons).
type CollectionReason string

const (
	ReasonShippingDifference CollectionReason = "shipping_difference"
	ReasonGoodsDifference    CollectionReason = "goods_difference"
	ReasonOtherDifference    CollectionReason = "other_difference"
)

// ShopRef identifies a shop and so its event stream: "<platform>.<shop ID>".
// The shop is the consistency boundary (DESIGN.md point 4): its limits,
// quotas, accounts and orders' payouts live in one stream.
type ShopRef struct {
	Platform PlatformID `json:"platform"`
	ShopID   string     `json:"shop_id"`
}

// Stream is the name of the shop's event stream.
func (r ShopRef) Stream() string { return string(r.Platform) + "." + r.ShopID }

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// validID: IDs become subject tokens and URL path segments, so they are
// restricted to a safe alphabet.
func validID(s string) bool { return idPattern.MatchString(s) }

// ParseStream splits a shop stream name back into its reference.
func ParseStream(stream string) (ShopRef, bool) {
	for i := 0; i < len(stream); i++ {
		if stream[i] == '.' {
			r := ShopRef{Platform: PlatformID(stream[:i]), ShopID: stream[i+1:]}
			return r, r.Platform != "" && validID(r.ShopID)
		}
	}
	return ShopRef{}, false
}

// freeTextStorable reports whether a command's free-text fields (the ones
// no pattern or enumeration checks) are storableText.
func freeTextStorable(cmd Command) bool {
	switch c := cmd.(type) {
	case InitiatePayout:
		return storableText(c.Reason, c.Message, c.GoodsID, c.Remark)
	case SendCollectionCard:
		return storableText(c.Tag, c.Remark)
	case RegisterShop:
		return storableText(c.Name, c.EntityType, c.CooperationMode)
	case RegisterOrder:
		return storableText(c.Buyer, c.Channel)
	case DisableTool:
		return storableText(c.Reason)
	case RejectPayout:
		return storableText(c.Reason)
	case MarkPayoutFailed:
		return storableText(c.Reason)
	}
	return true
}

// storableText: every read-model store keeps these strings exactly.
// PostgreSQL's text holds neither a NUL character nor invalid UTF-8, and
// JSON would replace invalid UTF-8: a payout accepted with either would
// stall a projection or be stored changed.
func storableText(ss ...string) bool {
	for _, s := range ss {
		if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
			return false
		}
	}
	return true
}
