package domain

import (
	"errors"
	"fmt"

	"github.com/shopspring/decimal"
)

// Codes that belong to no single platform. Platform codes (e.g.
// "dy.order.count") are data in each Profile. This list is append-only: a
// code is a contract with clients and finance reports, never renamed.
const (
	CodeMoneyPrecision    = "money.precision"          // an amount with more than two decimals
	CodeMoneyNonPositive  = "money.non_positive"       // an amount <= 0
	CodeLimitsAboveCeil   = "limits.above_ceiling"     // a merchant limit above the platform ceiling
	CodeLimitsUnsupported = "limits.unsupported"       // a merchant limit the platform does not have
	CodeIllegalTransition = "state.illegal_transition" // a lifecycle step not allowed from the current status
	CodeDupSameType       = "dup.same_type"            // a second payout of the same type on one order
	CodeDupRefundAfter    = "dup.refund_after_payout"  // warning: order refunded after a payout
	CodeDupPlatformShip   = "dup.platform_shipping_refund"
	CodeInputInvalid      = "input.invalid"          // a malformed command (missing or bad field)
	CodeShopUnknown       = "shop.unknown"           // the shop is not registered
	CodeShopExists        = "shop.exists"            // RegisterShop on a registered shop
	CodePlatformUnknown   = "platform.unknown"       // no profile for the platform
	CodeOrderUnknown      = "order.unknown"          // the order is not registered
	CodePayoutUnknown     = "payout.unknown"         // no payout (or card) with that ID
	CodePayoutExists      = "payout.exists"          // a payout or collection ID already used
	CodeStaffUnknown      = "staff.unknown"          // no quota for that staff account
	CodeStaffExists       = "staff.exists"           // a quota for that staff account already exists
	CodeStaffMainOnly     = "staff.main_only"        // quota management by a non-main account (platforms without their own code)
	CodeAuthForbidden     = "auth.forbidden"         // the actor's role may not send this command
	CodeToolDisabled      = "tool.disabled"          // the tool is switched off (platforms without an agreement rule)
	CodeRouteUnavailable  = "route.unavailable"      // a route (scan, approval, collection) the platform does not offer
	CodeFundsNoAccount    = "funds.no_account"       // the funding account is not opened (platforms without their own code)
	CodeFundsInsufficient = "funds.insufficient"     // available balance too low (platforms without their own code)
	CodeFundsKind         = "funds.kind_not_allowed" // an account kind the platform does not use, or no manual top-up
	CodeFundsExists       = "funds.account_exists"   // the account is already opened
	CodeWarningUnknown    = "warning.unknown"        // no duplicate-compensation warning with that ID
	CodeRecordsQuery      = "records.query_invalid"  // a records query the platform cannot answer
	CodeIdempotencyReused = "idempotency.key_reused" // the same idempotency key with a different command
)

// Rejection is the typed error of a refused command. Code is the rule ID of
// RULES.md (or one of the generic codes above); Limit, Used and Requested
// are the numbers the rule checked, when it checked numbers.
//
// Test with errors.As(err, &rej) or errors.Is(err, &Rejection{Code: c}).
type Rejection struct {
	Code      string
	Message   string
	Unit      string           // "CNY", "count", "seconds", ... when numbers were checked
	Limit     *decimal.Decimal // the limit that applied
	Used      *decimal.Decimal // what was already used against it
	Requested *decimal.Decimal // what the command asked for
	Details   map[string]string
}

func (r *Rejection) Error() string {
	if r.Limit != nil {
		used, req := "0", "0"
		if r.Used != nil {
			used = r.Used.String()
		}
		if r.Requested != nil {
			req = r.Requested.String()
		}
		return fmt.Sprintf("%s: %s (limit %s, used %s, requested %s %s)", r.Code, r.Message, r.Limit, used, req, r.Unit)
	}
	return r.Code + ": " + r.Message
}

// Is matches another *Rejection by code, so errors.Is(err,
// &Rejection{Code: "dy.order.count"}) works through wrapping.
func (r *Rejection) Is(target error) bool {
	t, ok := target.(*Rejection)
	return ok && t.Code == r.Code
}

// CodeOf returns the rejection code carried by err, or "" if err is not a
// rejection.
func CodeOf(err error) string {
	var r *Rejection
	if errors.As(err, &r) {
		return r.Code
	}
	return ""
}

func reject(code, format string, args ...any) *Rejection {
	return &Rejection{Code: code, Message: fmt.Sprintf(format, args...)}
}

// rejectAmount reports an amount limit with the numbers checked.
func rejectAmount(code, msg string, limit, used, requested decimal.Decimal) *Rejection {
	return &Rejection{Code: code, Message: msg, Unit: "CNY", Limit: &limit, Used: &used, Requested: &requested}
}

// rejectCount reports a count limit with the numbers checked.
func rejectCount(code, msg string, limit, used int) *Rejection {
	l, u, one := decimal.NewFromInt(int64(limit)), decimal.NewFromInt(int64(used)), decimal.NewFromInt(1)
	return &Rejection{Code: code, Message: msg, Unit: "count", Limit: &l, Used: &u, Requested: &one}
}

func (r *Rejection) with(k, v string) *Rejection {
	if r.Details == nil {
		r.Details = map[string]string{}
	}
	r.Details[k] = v
	return r
}

// orGeneric picks a platform code when the profile defines one.
func orGeneric(code, generic string) string {
	if code != "" {
		return code
	}
	return generic
}
