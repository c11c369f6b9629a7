package domain

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// Decide is the decision function of the ledger: given a shop's current
// state, a command and the request (clock reading, actor), it returns the
// events to append, or a *Rejection carrying the rule code. It is pure: no
// I/O, no clock, no randomness. A rejected command changes nothing.
func Decide(s *Shop, cmd Command, req Request) ([]Payload, error) {
	name := cmd.CommandName()
	if !roleAllowed(name, req.Actor.Role) {
		return nil, reject(CodeAuthForbidden, "%s may not be sent by a %q account", name, req.Actor.Role).with("role", string(req.Actor.Role))
	}
	if req.Actor.ID == "" {
		return nil, reject(CodeInputInvalid, "the actor has no ID")
	}
	if cmd.Shop() != s.Ref {
		return nil, reject(CodeInputInvalid, "command for shop %s decided on the state of %s", cmd.Shop().Stream(), s.Ref.Stream())
	}
	if !freeTextStorable(cmd) {
		return nil, reject(CodeInputInvalid, "%s: free text (names, reasons, messages, remarks) must be valid UTF-8 without NUL characters", name)
	}
	if rs, ok := cmd.(RegisterShop); ok {
		return decideRegisterShop(s, rs)
	}
	if !s.Registered {
		return nil, reject(CodeShopUnknown, "shop %s is not registered", s.Ref.Stream())
	}
	p := s.Profile()
	if p == nil {
		return nil, reject(CodePlatformUnknown, "no profile for platform %q", s.Ref.Platform)
	}
	d := &decision{s: s, p: p, req: req, now: req.Now}
	switch c := cmd.(type) {
	case EnrollShop:
		return d.enroll(c)
	case SetShopLimits:
		return d.setLimits(c)
	case DisableTool:
		if !s.ToolEnabled {
			return nil, reject(CodeIllegalTransition, "the tool is already disabled")
		}
		return one(ToolDisabled{Reason: c.Reason})
	case UpdateShopStanding:
		if c.Status != ShopNormal && c.Status != ShopSuspended {
			return nil, reject(CodeInputInvalid, "status %q is not normal or suspended", c.Status)
		}
		return one(ShopStandingChanged{Status: c.Status, UnpaidBills: c.UnpaidBills, DepositPaid: c.DepositPaid, OldStatus: s.Status})
	case OpenFundingAccount, TopUp, CreditProceeds, FreezeFunds, UnfreezeFunds, SetArrears:
		return d.funding(c)
	case GrantStaffQuota, ChangeStaffQuota, DisableStaffQuota, EnableStaffQuota, DeleteStaffQuota:
		return d.staff(c)
	case RegisterOrder:
		return d.registerOrder(c)
	case RecordOrderRefund:
		return d.orderRefund(c)
	case RecordPlatformShippingRefund:
		return d.platformShippingRefund(c)
	case AcknowledgeDuplicateWarning:
		w := s.Warnings[c.WarningID]
		if w == nil {
			return nil, reject(CodeWarningUnknown, "no warning %q", c.WarningID)
		}
		if w.Acknowledged {
			return nil, reject(CodeIllegalTransition, "warning %s is already acknowledged", c.WarningID)
		}
		return one(DuplicateWarningAcknowledged{WarningID: c.WarningID, By: req.Actor.ID})
	case InitiatePayout:
		return d.initiate(c)
	case SendCollectionCard:
		return d.sendCollection(c)
	case PayCollection, CancelCard:
		return d.collectionStep(c)
	default:
		return d.lifecycle(cmd)
	}
}

// decision carries what every check needs.
type decision struct {
	s   *Shop
	p   *Profile
	req Request
	now time.Time
}

func one(p Payload) ([]Payload, error) { return []Payload{p}, nil }

func roleAllowed(command string, r Role) bool {
	for _, x := range rolesFor[command] {
		if x == r {
			return true
		}
	}
	return false
}

func decideRegisterShop(s *Shop, c RegisterShop) ([]Payload, error) {
	if s.Registered {
		return nil, reject(CodeShopExists, "shop %s is already registered", s.Ref.Stream())
	}
	p, ok := LookupProfile(c.Platform)
	if !ok {
		return nil, reject(CodePlatformUnknown, "no profile for platform %q", c.Platform)
	}
	if !validID(c.ShopID) {
		return nil, reject(CodeInputInvalid, "shop ID %q must be 1-64 of A-Z a-z 0-9 _ -", c.ShopID)
	}
	if !validID(c.MainAccount) {
		return nil, reject(CodeInputInvalid, "main account %q must be 1-64 of A-Z a-z 0-9 _ -", c.MainAccount)
	}
	tz := c.TimeZone
	if tz == "" {
		tz = DefaultTimeZone
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return nil, reject(CodeInputInvalid, "unknown time zone %q", tz)
	}
	q := c.Qualification
	if q == "" {
		q = "enterprise"
	}
	if q != "enterprise" && q != "personal" {
		return nil, reject(CodeInputInvalid, "qualification %q is not enterprise or personal", q)
	}
	if len(c.Name) > 200 {
		return nil, reject(CodeInputInvalid, "name longer than 200 characters")
	}
	return one(ShopRegistered{
		Platform: c.Platform, ShopID: c.ShopID, Name: c.Name, TimeZone: tz, MainAccount: c.MainAccount,
		Qualification: q, EntityType: c.EntityType, CooperationMode: c.CooperationMode,
		AfterSalesSelfService: c.AfterSalesSelfService, ZeroDeposit: c.ZeroDeposit, DepositPaid: c.DepositPaid,
		ToolEnabled: p.Agreement == nil,
	})
}

func (d *decision) enroll(c EnrollShop) ([]Payload, error) {
	agreement := ""
	if d.p.Agreement != nil {
		agreement = d.p.Agreement.Code
	}
	if d.req.Actor.Role != RoleMain {
		return nil, reject(orGeneric(agreement, CodeAuthForbidden), "only the main account can accept the agreement")
	}
	if agreement != "" && !c.AcceptAgreement {
		return nil, reject(agreement, "the agreement must be accepted to enable the tool")
	}
	if e := d.p.Enrollment; e != nil {
		if !containsString(e.AllowedEntities, d.s.EntityType) || !containsString(e.AllowedModes, d.s.CooperationMode) {
			return nil, reject(e.ShopTypeCode, "entity type %q / cooperation mode %q may not use the tool", d.s.EntityType, d.s.CooperationMode)
		}
		if e.AfterSalesCode != "" && !d.s.AfterSalesSelfService {
			return nil, reject(e.AfterSalesCode, "self-service after-sales must be enabled first")
		}
		if e.WalletCode != "" && d.s.Accounts[e.WalletKind] == nil {
			return nil, reject(e.WalletCode, "the %s account must be opened first", e.WalletKind)
		}
	}
	limits := c.Limits
	if limits == (Limits{}) {
		// Re-enabling the tool without naming limits keeps the merchant's.
		limits = d.s.Limits
	}
	if err := d.checkLimits(limits); err != nil {
		return nil, err
	}
	return one(ShopEnrolled{By: d.req.Actor.ID, Limits: limits})
}

func (d *decision) setLimits(c SetShopLimits) ([]Payload, error) {
	limits := c.Limits
	if limits == (Limits{}) && c.PasswordFreeThreshold != nil {
		// Only the threshold was sent: the limits stay as they are.
		limits = d.s.Limits
	}
	if err := d.checkLimits(limits); err != nil {
		return nil, err
	}
	pf := d.s.PasswordFree
	if c.PasswordFreeThreshold != nil {
		if d.p.SMS == nil {
			return nil, reject(CodeLimitsUnsupported, "platform %s has no SMS verification threshold", d.p.Platform)
		}
		if err := checkNonNegative(*c.PasswordFreeThreshold); err != nil {
			return nil, err
		}
		pf = *c.PasswordFreeThreshold
	}
	return one(ShopLimitsSet{Old: d.s.Limits, New: limits, OldPasswordFreeThreshold: d.s.PasswordFree, PasswordFreeThreshold: pf})
}

// checkLimits: every merchant limit is one the platform has, well formed,
// and at most the platform ceiling.
func (d *decision) checkLimits(l Limits) error {
	c, codes := d.p.Ceilings, d.p.LimitCodes
	amounts := []struct {
		name    string
		v, ceil *decimal.Decimal
		code    string
	}{
		{"per_payout_max", l.PerPayoutMax, c.PerPayoutMax, codes.PerPayoutMax},
		{"per_order_max", l.PerOrderMax, c.PerOrderMax, codes.PerOrderMax},
		{"daily_amount", l.DailyAmount, c.DailyAmount, codes.DailyAmount},
		{"proceeds_daily_amount", l.ProceedsDailyAmount, c.ProceedsDailyAmount, codes.ProceedsDailyAmount},
	}
	for _, a := range amounts {
		if a.v == nil {
			continue
		}
		if a.code == "" {
			return reject(CodeLimitsUnsupported, "platform %s has no merchant limit %s", d.p.Platform, a.name).with("limit", a.name)
		}
		if err := CheckAmount(*a.v); err != nil {
			return err
		}
		if a.ceil != nil && a.v.GreaterThan(*a.ceil) {
			return rejectAmount(CodeLimitsAboveCeil, a.name+" above the platform ceiling", *a.ceil, decimal.Zero, *a.v).with("limit", a.name)
		}
	}
	counts := []struct {
		name    string
		v, ceil *int
		code    string
	}{
		{"per_order_count", l.PerOrderCount, c.PerOrderCount, codes.PerOrderCount},
		{"daily_count", l.DailyCount, c.DailyCount, codes.DailyCount},
	}
	for _, a := range counts {
		if a.v == nil {
			continue
		}
		if a.code == "" {
			return reject(CodeLimitsUnsupported, "platform %s has no merchant limit %s", d.p.Platform, a.name).with("limit", a.name)
		}
		if *a.v < 1 {
			return reject(CodeInputInvalid, "%s must be at least 1", a.name)
		}
		if a.ceil != nil && *a.v > *a.ceil {
			r := rejectCount(CodeLimitsAboveCeil, a.name+" above the platform ceiling", *a.ceil, 0)
			req := decimal.NewFromInt(int64(*a.v))
			r.Requested = &req
			return r.with("limit", a.name)
		}
	}
	return nil
}

func (d *decision) account(kind AccountKind) (*Account, error) {
	a := d.s.Accounts[kind]
	if a == nil {
		return nil, reject(orGeneric(d.p.Funds.NoAccountCode, CodeFundsNoAccount), "no %s account is opened", kind).with("kind", string(kind))
	}
	return a, nil
}

func (d *decision) funding(cmd Command) ([]Payload, error) {
	switch c := cmd.(type) {
	case OpenFundingAccount:
		if !d.p.fundingAllowed(c.Kind) {
			return nil, reject(CodeFundsKind, "platform %s has no %q account", d.p.Platform, c.Kind)
		}
		if d.s.Accounts[c.Kind] != nil {
			return nil, reject(CodeFundsExists, "the %s account is already opened", c.Kind)
		}
		return one(FundingAccountOpened{Kind: c.Kind})
	case TopUp:
		if err := CheckAmount(c.Amount); err != nil {
			return nil, err
		}
		if !containsKind(d.p.TopUpKinds, c.Kind) {
			return nil, reject(CodeFundsKind, "the %s account of %s takes no manual top-up", c.Kind, d.p.Platform)
		}
		a, err := d.account(c.Kind)
		if err != nil {
			return nil, err
		}
		return one(FundsToppedUp{Kind: c.Kind, Amount: c.Amount, BalanceAfter: a.Balance.Add(c.Amount)})
	case CreditProceeds:
		if err := CheckAmount(c.Amount); err != nil {
			return nil, err
		}
		a, err := d.account(AccountProceeds)
		if err != nil {
			return nil, err
		}
		return one(ProceedsCredited{Amount: c.Amount, BalanceAfter: a.Balance.Add(c.Amount)})
	case FreezeFunds:
		if err := CheckAmount(c.Amount); err != nil {
			return nil, err
		}
		a, err := d.account(c.Kind)
		if err != nil {
			return nil, err
		}
		if avail := a.Available(); c.Amount.GreaterThan(avail) {
			return nil, rejectAmount(orGeneric(d.p.Funds.InsufficientCode, CodeFundsInsufficient), "cannot freeze more than is available", avail, decimal.Zero, c.Amount)
		}
		return one(FundsFrozen{Kind: c.Kind, Amount: c.Amount, FrozenAfter: a.Frozen.Add(c.Amount)})
	case UnfreezeFunds:
		if err := CheckAmount(c.Amount); err != nil {
			return nil, err
		}
		a, err := d.account(c.Kind)
		if err != nil {
			return nil, err
		}
		if c.Amount.GreaterThan(a.Frozen) {
			return nil, rejectAmount(CodeInputInvalid, "cannot unfreeze more than is frozen", a.Frozen, decimal.Zero, c.Amount)
		}
		return one(FundsUnfrozen{Kind: c.Kind, Amount: c.Amount, FrozenAfter: a.Frozen.Sub(c.Amount)})
	case SetArrears:
		if err := checkNonNegative(c.Amount); err != nil {
			return nil, err
		}
		a, err := d.account(c.Kind)
		if err != nil {
			return nil, err
		}
		return one(ArrearsChanged{Kind: c.Kind, Old: a.Arrears, New: c.Amount})
	}
	return nil, reject(CodeInputInvalid, "unknown funding command %s", cmd.CommandName())
}

func (d *decision) checkQuotaLimits(per, day *decimal.Decimal) error {
	// 1688 grants the permission only; a limit it does not have would be
	// enforced under no code of its own.
	st := d.p.Staff
	limited := st != nil && (st.ScanOnExceed || st.PerPayoutCode != "" && st.DailyCode != "")
	if !limited && (per != nil || day != nil) {
		return reject(CodeLimitsUnsupported, "platform %s has no per-payout or per-day staff quota; grant the permission without limits", d.p.Platform)
	}
	for _, v := range []*decimal.Decimal{per, day} {
		if v != nil {
			if err := CheckAmount(*v); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *decision) staff(cmd Command) ([]Payload, error) {
	if d.req.Actor.Role != RoleMain {
		return nil, reject(orGeneric(d.p.staffCode("manage"), CodeStaffMainOnly), "only the main account manages payout quotas")
	}
	var staff string
	switch c := cmd.(type) {
	case GrantStaffQuota:
		staff = c.Staff
	case ChangeStaffQuota:
		staff = c.Staff
	case DisableStaffQuota:
		staff = c.Staff
	case EnableStaffQuota:
		staff = c.Staff
	case DeleteStaffQuota:
		staff = c.Staff
	}
	if !validID(staff) {
		return nil, reject(CodeInputInvalid, "staff account %q must be 1-64 of A-Z a-z 0-9 _ -", staff)
	}
	q := d.s.Staff[staff]
	if g, ok := cmd.(GrantStaffQuota); ok {
		if q != nil {
			return nil, reject(CodeStaffExists, "staff %s already has a quota", staff)
		}
		if err := d.checkQuotaLimits(g.PerPayout, g.PerDay); err != nil {
			return nil, err
		}
		return one(StaffQuotaGranted{Staff: staff, PerPayout: g.PerPayout, PerDay: g.PerDay})
	}
	if q == nil {
		return nil, reject(CodeStaffUnknown, "staff %s has no quota", staff)
	}
	switch c := cmd.(type) {
	case ChangeStaffQuota:
		if err := d.checkQuotaLimits(c.PerPayout, c.PerDay); err != nil {
			return nil, err
		}
		return one(StaffQuotaChanged{Staff: staff, OldPerPayout: q.PerPayout, OldPerDay: q.PerDay, PerPayout: c.PerPayout, PerDay: c.PerDay})
	case DisableStaffQuota:
		if !q.Enabled {
			return nil, reject(CodeIllegalTransition, "the quota of %s is already disabled", staff)
		}
		return one(StaffQuotaDisabled{Staff: staff})
	case EnableStaffQuota:
		if q.Enabled {
			return nil, reject(CodeIllegalTransition, "the quota of %s is already enabled", staff)
		}
		return one(StaffQuotaEnabled{Staff: staff})
	default:
		return one(StaffQuotaDeleted{Staff: staff})
	}
}

func (d *decision) registerOrder(c RegisterOrder) ([]Payload, error) {
	if !validID(c.OrderID) {
		return nil, reject(CodeInputInvalid, "order ID %q must be 1-64 of A-Z a-z 0-9 _ -", c.OrderID)
	}
	for _, a := range []decimal.Decimal{c.CashPaid, c.OtherPaid} {
		if err := checkNonNegative(a); err != nil {
			return nil, err
		}
	}
	if !c.Status.valid() {
		return nil, reject(CodeInputInvalid, "order status %q is unknown", c.Status)
	}
	if c.PlacedAt.IsZero() {
		return nil, reject(CodeInputInvalid, "placed_at is required")
	}
	_, known := d.s.Orders[c.OrderID]
	return one(OrderRegistered{
		OrderID: c.OrderID, Buyer: c.Buyer, CashPaid: c.CashPaid, OtherPaid: c.OtherPaid, Status: c.Status,
		PaymentMode: c.PaymentMode, PaymentKind: c.PaymentKind, Channel: c.Channel, CrossBorder: c.CrossBorder,
		ActivityGoods: c.ActivityGoods, PlacedAt: c.PlacedAt, PaidAt: c.PaidAt, GroupFormedAt: c.GroupFormedAt,
		Update: known,
	})
}

func (d *decision) order(id string) (*Order, error) {
	o := d.s.Orders[id]
	if o == nil {
		return nil, reject(CodeOrderUnknown, "order %q is not registered", id)
	}
	return o, nil
}

// countingPayouts returns the order's payouts that count (optionally of
// one type) and their sum.
func (d *decision) countingPayouts(o *Order, typ PayoutType) ([]string, decimal.Decimal) {
	var ids []string
	sum := decimal.Zero
	for _, id := range o.Payouts {
		p := d.s.Payouts[id]
		if p == nil || !p.Status.Counts() || (typ != "" && p.Type != typ) {
			continue
		}
		ids = append(ids, id)
		sum = sum.Add(p.Amount)
	}
	return ids, sum
}

func (d *decision) nextWarningID() string { return fmt.Sprintf("W%d", len(d.s.Warnings)+1) }

// refund decides a refund recorded by the platform: the order refund
// (RecordOrderRefund) or the platform's own shipping refund
// (RecordPlatformShippingRefund). Neither returns payouts; both warn when
// the order already has counting payouts of the kind (all payouts for an
// order refund, shipping payouts for a shipping refund).
func (d *decision) refund(orderID, refundID string, amount decimal.Decimal, fact Payload, kind, rule string, typ PayoutType) ([]Payload, error) {
	o, err := d.order(orderID)
	if err != nil {
		return nil, err
	}
	if err := CheckAmount(amount); err != nil {
		return nil, err
	}
	if !validID(refundID) {
		return nil, reject(CodeInputInvalid, "refund ID %q must be 1-64 of A-Z a-z 0-9 _ -", refundID)
	}
	out := []Payload{fact}
	if ids, sum := d.countingPayouts(o, typ); len(ids) > 0 {
		out = append(out, DuplicateCompensationWarned{
			WarningID: d.nextWarningID(), Kind: kind, Rule: rule, OrderID: orderID,
			PayoutIDs: ids, RefundID: refundID, Amount: sum,
		})
	}
	return out, nil
}

func (d *decision) orderRefund(c RecordOrderRefund) ([]Payload, error) {
	return d.refund(c.OrderID, c.RefundID, c.Amount,
		OrderRefundRecorded{OrderID: c.OrderID, RefundID: c.RefundID, Amount: c.Amount},
		CodeDupRefundAfter, codeOf(d.p.RefundNotReturned), "")
}

func (d *decision) platformShippingRefund(c RecordPlatformShippingRefund) ([]Payload, error) {
	return d.refund(c.OrderID, c.RefundID, c.Amount,
		PlatformShippingRefundRecorded{OrderID: c.OrderID, RefundID: c.RefundID, Amount: c.Amount},
		CodeDupPlatformShip, "", TypeShipping)
}
