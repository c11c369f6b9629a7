package domain

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// Text bounds: every field has a limit (STYLE.md "put a limit on
// everything").
const (
	maxReasonRunes  = 200
	maxMessageRunes = 500
	maxRemarkRunes  = 500
)

// initiate decides InitiatePayout. The checks run in a fixed order, which is
// the precedence of codes documented in docs/rules.md: input, platform,
// shop, order eligibility, route and funding source, amount, per-order,
// per-day, staff quota, scan routing, SMS, funds, duplicates.
func (d *decision) initiate(c InitiatePayout) ([]Payload, error) {
	s, p := d.s, d.p

	// Input.
	if !validID(c.PayoutID) || !validID(c.OrderID) {
		return nil, reject(CodeInputInvalid, "payout ID and order ID must be 1-64 of A-Z a-z 0-9 _ -")
	}
	if p.InputRequired != nil && (c.Type == "" || c.Reason == "" || c.Amount.IsZero()) {
		return nil, reject(p.InputRequired.Code, "type, amount and reason are required")
	}
	if err := CheckAmount(c.Amount); err != nil {
		return nil, err
	}
	if !c.Type.valid() {
		return nil, reject(CodeInputInvalid, "payout type %q is unknown", c.Type)
	}
	if utf8.RuneCountInString(c.Reason) > maxReasonRunes || utf8.RuneCountInString(c.Message) > maxMessageRunes || utf8.RuneCountInString(c.Remark) > maxRemarkRunes {
		return nil, reject(CodeInputInvalid, "reason, message or remark too long")
	}
	if p.Direction != DirectionPayout {
		return nil, reject(CodeRouteUnavailable, "platform %s collects from buyers; it makes no payouts", p.Platform)
	}
	if s.Payouts[c.PayoutID] != nil || s.Collections[c.PayoutID] != nil {
		return nil, reject(CodePayoutExists, "payout ID %s is already used", c.PayoutID)
	}

	// Shop.
	if !s.ToolEnabled {
		code := CodeToolDisabled
		if p.Agreement != nil {
			code = p.Agreement.Code
		}
		return nil, reject(code, "the payout tool is not enabled for this shop")
	}
	if p.ShopStatus != nil && s.Status != ShopNormal {
		return nil, reject(p.ShopStatus.Code, "the shop is %s", s.Status)
	}
	if p.UnpaidBills != nil && s.UnpaidBills {
		return nil, reject(p.UnpaidBills.Code, "the shop has unpaid bills")
	}

	// Order eligibility.
	o, err := d.order(c.OrderID)
	if err != nil {
		return nil, err
	}
	if err := d.orderEligible(o); err != nil {
		return nil, err
	}

	// Route and funding source.
	funding := c.Funding
	if funding == "" {
		funding = p.DefaultFunding
	}
	route := RouteDirect
	switch {
	case c.SubmitForApproval:
		if p.Approval == nil {
			return nil, reject(CodeRouteUnavailable, "platform %s has no admin approval", p.Platform)
		}
		if d.req.Actor.Role == RoleMain {
			return nil, reject(p.Approval.Code, "the main account pays directly; approval is for staff accounts")
		}
		if funding == FundingScan {
			return nil, reject(CodeInputInvalid, "a payout submitted for approval is paid from the balance, not by scan")
		}
		route = RouteApproval
	case funding == FundingScan:
		if p.ScanRoute == nil {
			return nil, reject(CodeRouteUnavailable, "platform %s has no scan-to-pay", p.Platform)
		}
		route = RouteScan
	case p.Confirmation != nil:
		route = RouteConfirmation
	case p.SMS != nil:
		route = RouteSMS
	}
	var acct *Account
	if funding != FundingScan {
		if !p.fundingAllowed(funding) {
			return nil, reject(CodeFundsKind, "platform %s pays no payout from a %q account", p.Platform, funding)
		}
		if r := p.PersonalAccount; r != nil && s.Qualification == "personal" && !containsKind(r.Kinds, funding) {
			return nil, reject(r.Code, "a personal-qualification shop pays only from %v", r.Kinds).with("funding", string(funding))
		}
		if acct, err = d.account(funding); err != nil {
			return nil, err
		}
		if p.Arrears != nil && acct.Arrears.IsPositive() {
			return nil, reject(p.Arrears.Code, "the merchant account has arrears of %s", Money(acct.Arrears))
		}
	}

	// Amount of this payout.
	var checks []Check
	lim := s.EffectiveLimits()
	if r := p.PayoutMin; r != nil && c.Amount.LessThan(r.Amount) {
		return nil, rejectAmount(r.Code, "below the minimum payout", r.Amount, decimal.Zero, c.Amount)
	}
	if r := p.PayoutMax; r != nil {
		max := r.Normal
		if o.ActivityGoods {
			max = r.Activity
		}
		if c.Amount.GreaterThan(max) {
			return nil, rejectAmount(r.Code, "above the maximum payout", max, decimal.Zero, c.Amount).with("activity_goods", strconv.FormatBool(o.ActivityGoods))
		}
	}
	if lim.PerPayoutMax != nil && c.Amount.GreaterThan(*lim.PerPayoutMax) {
		return nil, rejectAmount(p.LimitCodes.PerPayoutMax, "above the per-payout limit", *lim.PerPayoutMax, decimal.Zero, c.Amount)
	}
	if r := p.CashShare; r != nil {
		// Amounts have two decimals, so the cent below the exact share is
		// the true maximum (cash 90.01 -> 45.00, not 45.005).
		max := o.CashPaid.Mul(r.Percent).Div(decimal.NewFromInt(100)).Truncate(2)
		if c.Amount.GreaterThan(max) {
			return nil, rejectAmount(r.Code, "above "+r.Percent.String()+"% of the cash paid", max, decimal.Zero, c.Amount)
		}
	}

	// Per order.
	_, orderSum := d.countingPayouts(o, "")
	if lim.PerOrderCount != nil {
		n := 0
		for _, id := range o.Payouts {
			if q := s.Payouts[id]; q != nil && (q.Status.Counts() || (p.OrderCount != nil && p.OrderCount.CountReleased)) {
				n++
			}
		}
		if n+1 > *lim.PerOrderCount {
			return nil, rejectCount(p.LimitCodes.PerOrderCount, "the order has reached its payout count", *lim.PerOrderCount, n)
		}
		checks = append(checks, Check{Rule: p.LimitCodes.PerOrderCount, Limit: decimal.NewFromInt(int64(*lim.PerOrderCount)), UsedAfter: decimal.NewFromInt(int64(n + 1))})
	}
	if r := p.OrderRate; r != nil {
		for _, id := range o.Payouts {
			q := s.Payouts[id]
			if q == nil || !q.Status.Counts() {
				continue
			}
			if since := d.now.Sub(q.InitiatedAt); since < r.Window {
				return nil, reject(r.Code, "one payout per order per %s; the last was %s ago", r.Window, since.Truncate(time.Second)).
					with("retry_after_seconds", strconv.FormatInt(int64((r.Window-since+time.Second-1)/time.Second), 10))
			}
		}
	}
	if r := p.OrderCap; r != nil {
		cap := tierCap(r.Tiers, o.Amount())
		if orderSum.Add(c.Amount).GreaterThan(cap) {
			return nil, rejectAmount(r.Code, "above the order's cumulative payout cap", cap, orderSum, c.Amount).with("order_amount", Money(o.Amount()))
		}
		checks = append(checks, Check{Rule: r.Code, Limit: cap, UsedAfter: orderSum.Add(c.Amount)})
	}
	if lim.PerOrderMax != nil {
		if orderSum.Add(c.Amount).GreaterThan(*lim.PerOrderMax) {
			return nil, rejectAmount(p.LimitCodes.PerOrderMax, "above the per-order limit", *lim.PerOrderMax, orderSum, c.Amount)
		}
		checks = append(checks, Check{Rule: p.LimitCodes.PerOrderMax, Limit: *lim.PerOrderMax, UsedAfter: orderSum.Add(c.Amount)})
	}

	// Per day (the shop's local calendar day).
	day := s.LocalDay(d.now)
	today := s.DayTotals(day)
	if lim.DailyCount != nil {
		if today.Count+1 > *lim.DailyCount {
			return nil, rejectCount(p.LimitCodes.DailyCount, "the shop has reached its daily payout count", *lim.DailyCount, today.Count)
		}
		checks = append(checks, Check{Rule: p.LimitCodes.DailyCount, Limit: decimal.NewFromInt(int64(*lim.DailyCount)), UsedAfter: decimal.NewFromInt(int64(today.Count + 1))})
	}
	if lim.DailyAmount != nil {
		if today.Amount.Add(c.Amount).GreaterThan(*lim.DailyAmount) {
			return nil, rejectAmount(p.LimitCodes.DailyAmount, "above the shop's daily payout amount", *lim.DailyAmount, today.Amount, c.Amount).with("day", day)
		}
		checks = append(checks, Check{Rule: p.LimitCodes.DailyAmount, Limit: *lim.DailyAmount, UsedAfter: today.Amount.Add(c.Amount)})
	}

	// Staff permission and quota: a sub-account paying from the balance.
	quotaCharged := false
	if d.req.Actor.Role == RoleSub && route != RouteApproval && route != RouteScan {
		if err := d.staffQuota(c.Amount, day, &checks); err != nil {
			return nil, err
		}
		quotaCharged = true
	}

	// Scan-to-pay is required instead of the balance (PDD). The shop and
	// order conditions hold for an approved payout too: approval replaces
	// the staff quota, not the balance's own limits.
	if r := p.ScanRoute; r != nil && (route == RouteDirect || route == RouteApproval) {
		if s.ZeroDeposit && !s.DepositPaid {
			return nil, reject(r.Code, "a zero-deposit shop without deposit pays by scan").with("reason", "zero_deposit")
		}
		if formed := o.GroupFormedAt; formed != nil && !formed.After(d.monthsAgo(r.FormedFromMonths)) {
			return nil, reject(r.Code, "an order formed %d or more months ago is paid by scan", r.FormedFromMonths).with("reason", "order_age")
		}
		if lim.ProceedsDailyAmount != nil && today.ProceedsAmount.Add(c.Amount).GreaterThan(*lim.ProceedsDailyAmount) {
			return nil, rejectAmount(r.Code, "the shop's daily proceeds-balance payouts reached their limit; pay by scan", *lim.ProceedsDailyAmount, today.ProceedsAmount, c.Amount).with("reason", "proceeds_daily")
		}
	}

	// SMS verification above the password-free threshold (JD).
	if p.SMS != nil && c.Amount.GreaterThan(s.PasswordFree) && !c.SMSVerified {
		return nil, rejectAmount(p.SMS.Code, "an SMS verification code is required above the password-free threshold", s.PasswordFree, decimal.Zero, c.Amount)
	}

	// Funds: the available balance (frozen and held excluded) covers it.
	// A payout waiting for approval is checked when approved.
	if acct != nil && route != RouteApproval {
		if avail := acct.Available(); c.Amount.GreaterThan(avail) {
			return nil, rejectAmount(orGeneric(p.Funds.InsufficientCode, CodeFundsInsufficient), "the available balance does not cover the payout; top up", avail, decimal.Zero, c.Amount).with("funding", string(funding))
		}
	}

	// Duplicate compensation.
	var warnings []Payload
	if ids, sum := d.countingPayouts(o, c.Type); len(ids) > 0 {
		if !c.AcknowledgeDuplicate {
			return nil, reject(CodeDupSameType, "the order already has a %s payout; resend with acknowledge_duplicate to confirm", c.Type).
				with("payout_ids", joinIDs(ids)).with("amount", Money(sum))
		}
		warnings = append(warnings, DuplicateCompensationWarned{
			WarningID: d.nextWarningID(), Kind: CodeDupSameType, OrderID: o.OrderID, PayoutIDs: ids,
			NewPayoutID: c.PayoutID, Amount: sum, Acknowledged: true,
		})
	}
	if c.Type == TypeShipping && o.PlatformShippingRefunded {
		ids, sum := d.countingPayouts(o, TypeShipping)
		warnings = append(warnings, DuplicateCompensationWarned{
			WarningID: warningID(d.s, len(warnings)), Kind: CodeDupPlatformShip, OrderID: o.OrderID, PayoutIDs: ids,
			NewPayoutID: c.PayoutID, Amount: sum.Add(c.Amount),
		})
	}

	ev := PayoutInitiated{
		PayoutID: c.PayoutID, OrderID: c.OrderID, Staff: d.req.Actor.ID, StaffRole: d.req.Actor.Role,
		Amount: c.Amount, Type: c.Type, Reason: c.Reason, Message: c.Message, Funding: funding,
		GoodsID: c.GoodsID, Remark: c.Remark, Route: route, InitiatedAt: d.now, Day: day,
		QuotaCharged: quotaCharged, Checks: checks,
	}
	switch route {
	case RouteConfirmation:
		ev.Status = StatusAwaitingConfirmation
		dl := d.now.Add(p.Confirmation.Window)
		ev.DeadlineAt = &dl
		ev.HoldsFunds = true
	case RouteApproval:
		ev.Status = StatusAwaitingApproval
	case RouteScan:
		ev.Status = StatusAwaitingTopUp
		if p.TopUp != nil {
			dl := d.now.Add(p.TopUp.Window)
			ev.DeadlineAt = &dl
		}
	default:
		ev.Status = StatusPending
		ev.HoldsFunds = true
	}
	return append([]Payload{ev}, warnings...), nil
}

func warningID(s *Shop, already int) string {
	return "W" + strconv.Itoa(len(s.Warnings)+already+1)
}

func joinIDs(ids []string) string {
	out := ""
	for i, id := range ids {
		if i > 0 {
			out += ","
		}
		out += id
	}
	return out
}

// tierCap returns the cap of the first tier covering amount.
func tierCap(tiers []CapTier, amount decimal.Decimal) decimal.Decimal {
	for _, t := range tiers {
		if t.UpTo == nil || amount.LessThanOrEqual(*t.UpTo) {
			if t.Cap == nil {
				return amount
			}
			return *t.Cap
		}
	}
	return amount
}

// monthsAgo is now minus n calendar months in the shop's zone.
func (d *decision) monthsAgo(n int) time.Time {
	return d.now.In(d.s.Location()).AddDate(0, -n, 0)
}

// orderEligible applies the order rules of the profile.
func (d *decision) orderEligible(o *Order) error {
	p := d.p
	if r := p.OrderStatus; r != nil {
		if len(r.Allowed) > 0 && !containsStatus(r.Allowed, o.Status) || containsStatus(r.Forbidden, o.Status) {
			return reject(r.Code, "no payout on an order that is %s", o.Status).with("status", string(o.Status))
		}
	}
	if r := p.PaymentKind; r != nil && o.PaymentKind != "" && containsString(r.Forbidden, o.PaymentKind) {
		return reject(r.Code, "no payout on a %s order", o.PaymentKind).with("payment_kind", o.PaymentKind)
	}
	if r := p.PaymentMode; r != nil && !containsString(r.Allowed, o.PaymentMode) {
		return reject(r.Code, "only %v orders; this one is %q", r.Allowed, o.PaymentMode)
	}
	if r := p.Channel; r != nil && !containsString(r.Allowed, o.Channel) {
		return reject(r.Code, "orders from channel %q are not eligible", o.Channel).with("channel", o.Channel)
	}
	if r := p.CrossBorder; r != nil && o.CrossBorder {
		return reject(r.Code, "no payout on a cross-border order")
	}
	if r := p.GroupFormed; r != nil && o.GroupFormedAt == nil {
		return reject(r.Code, "the group order is not formed")
	}
	if r := p.OrderAge; r != nil {
		basis := o.PlacedAt
		if r.Basis == AgeFromGroupFormed && o.GroupFormedAt != nil {
			basis = *o.GroupFormedAt
		}
		// Reading: "within the last 12 months" — an order exactly 12
		// calendar months old is out.
		if cutoff := d.monthsAgo(r.MaxMonths); !basis.After(cutoff) {
			return reject(r.Code, "the order is %d or more months old", r.MaxMonths).with("basis", string(r.Basis))
		}
	}
	return nil
}

func containsStatus(ss []OrderStatus, s OrderStatus) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// staffQuota checks a sub-account's permission and quota for a payout from
// the balance. On platforms with ScanOnExceed the answer is "pay by scan or
// ask an admin" (the scan route's code) instead of a refusal.
func (d *decision) staffQuota(amount decimal.Decimal, day string, checks *[]Check) error {
	p, st := d.p, d.p.Staff
	code := func(which, reason string) string {
		if st != nil && st.ScanOnExceed && p.ScanRoute != nil {
			return p.ScanRoute.Code
		}
		return orGeneric(p.staffCode(which), CodeAuthForbidden)
	}
	q := d.s.Staff[d.req.Actor.ID]
	if q == nil || !q.Enabled {
		return reject(code("permission", "no_quota"), "staff %s has no enabled payout quota", d.req.Actor.ID).with("reason", "no_quota")
	}
	if q.PerPayout != nil && amount.GreaterThan(*q.PerPayout) {
		return rejectAmount(code("per_payout", "per_payout"), "above the staff per-payout quota", *q.PerPayout, decimal.Zero, amount).with("reason", "staff_per_payout")
	}
	if q.PerDay != nil {
		used := d.s.StaffDayTotals(d.req.Actor.ID, day).Amount
		if used.Add(amount).GreaterThan(*q.PerDay) {
			return rejectAmount(code("daily", "daily"), "above the staff daily quota", *q.PerDay, used, amount).with("reason", "staff_daily")
		}
		*checks = append(*checks, Check{Rule: code("daily", "daily"), Limit: *q.PerDay, UsedAfter: used.Add(amount)})
	}
	return nil
}
