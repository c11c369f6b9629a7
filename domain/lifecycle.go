package domain

import (
	"time"

	"github.com/shopspring/decimal"
)

// lifecycle decides the payout transitions and card expiries. An illegal
// transition is rejected with state.illegal_transition, never ignored; a
// transition on time's wrong side is rejected with the window's rule code.
func (d *decision) lifecycle(cmd Command) ([]Payload, error) {
	if e, ok := cmd.(ExpireCard); ok {
		return d.expireCard(e)
	}
	id := payoutIDOf(cmd)
	p := d.s.Payouts[id]
	if p == nil {
		return nil, reject(CodePayoutUnknown, "no payout %q", id)
	}
	pr := d.p
	illegal := func() error {
		return reject(CodeIllegalTransition, "%s is not allowed on a payout that is %s", cmd.CommandName(), p.Status).
			with("status", string(p.Status))
	}
	switch c := cmd.(type) {
	case ApprovePayout, RejectPayout:
		if pr.Approval == nil {
			return nil, reject(CodeRouteUnavailable, "platform %s has no admin approval", pr.Platform)
		}
		if d.req.Actor.Role != RoleMain {
			return nil, reject(pr.Approval.Code, "only an admin (main account) approves or rejects payouts")
		}
		if p.Status != StatusAwaitingApproval {
			return nil, illegal()
		}
		if r, ok := c.(RejectPayout); ok {
			return one(PayoutRejected{PayoutID: id, By: d.req.Actor.ID, Reason: r.Reason})
		}
		acct, err := d.account(p.Funding)
		if err != nil {
			return nil, err
		}
		if pr.Arrears != nil && acct.Arrears.IsPositive() {
			return nil, reject(pr.Arrears.Code, "the merchant account has arrears")
		}
		if avail := acct.Available(); p.Amount.GreaterThan(avail) {
			return nil, rejectAmount(orGeneric(pr.Funds.InsufficientCode, CodeFundsInsufficient), "the available balance does not cover the payout", avail, decimal.Zero, p.Amount)
		}
		return one(PayoutApproved{PayoutID: id, By: d.req.Actor.ID})

	case CompleteTopUp, ExpireTopUp:
		if pr.TopUp == nil {
			return nil, reject(CodeRouteUnavailable, "platform %s has no scan top-up", pr.Platform)
		}
		if p.Status != StatusAwaitingTopUp {
			return nil, illegal()
		}
		due := p.InitiatedAt.Add(pr.TopUp.Window)
		if _, ok := c.(CompleteTopUp); ok {
			if !d.now.Before(due) {
				return nil, reject(pr.TopUp.Code, "the top-up window closed at %s", due.Format(time.RFC3339))
			}
			return one(PayoutToppedUp{PayoutID: id})
		}
		if d.now.Before(due) {
			return nil, reject(pr.TopUp.Code, "the top-up window is open until %s", due.Format(time.RFC3339))
		}
		return one(PayoutTopUpFailed{PayoutID: id})

	case MarkPayoutProcessing:
		if p.Status != StatusPending {
			return nil, illegal()
		}
		return one(PayoutProcessing{PayoutID: id})

	case MarkPayoutSucceeded:
		switch p.Status {
		case StatusProcessing:
		case StatusPending:
			if pr.Lifecycle != nil && pr.Lifecycle.RequireProcessing {
				return nil, reject(pr.Lifecycle.Code, "a payout succeeds only from processing (pending -> processing -> succeeded)")
			}
		default:
			return nil, illegal()
		}
		return one(PayoutSucceeded{PayoutID: id, Amount: p.Amount, Funding: p.Funding})

	case MarkPayoutFailed:
		if p.Status != StatusPending && p.Status != StatusProcessing {
			return nil, illegal()
		}
		if c.BuyerAccount && pr.AccountCard != nil {
			return one(PayoutFailedForBuyerAccount{PayoutID: id, Reason: c.Reason, CardExpiresAt: d.now.Add(pr.AccountCard.Window)})
		}
		return one(PayoutFailed{PayoutID: id, Reason: c.Reason})

	case SubmitBuyerAccount:
		if p.Status != StatusAwaitingBuyerAccount || pr.AccountCard == nil {
			return nil, illegal()
		}
		if p.CardExpired || p.CardExpiresAt == nil || !d.now.Before(*p.CardExpiresAt) {
			return nil, reject(pr.AccountCard.Code, "the account card expired; the merchant may resend it")
		}
		return one(BuyerAccountSubmitted{PayoutID: id})

	case ResendAccountCard:
		if p.Status != StatusAwaitingBuyerAccount || pr.AccountCard == nil {
			return nil, illegal()
		}
		if !p.CardExpired && p.CardExpiresAt != nil && d.now.Before(*p.CardExpiresAt) {
			return nil, reject(pr.AccountCard.Code, "the account card is valid until %s; only an expired card is resent", p.CardExpiresAt.Format(time.RFC3339))
		}
		return one(AccountCardSent{PayoutID: id, CardExpiresAt: d.now.Add(pr.AccountCard.Window)})

	case ConfirmByBuyer:
		if pr.Confirmation == nil {
			return nil, reject(CodeRouteUnavailable, "platform %s has no buyer confirmation", pr.Platform)
		}
		if p.Status != StatusAwaitingConfirmation {
			return nil, illegal()
		}
		if due := p.InitiatedAt.Add(pr.Confirmation.Window); !d.now.Before(due) {
			return nil, reject(pr.Confirmation.Code, "the confirmation window closed at %s", due.Format(time.RFC3339))
		}
		return one(PayoutConfirmedByBuyer{PayoutID: id, Amount: p.Amount, Funding: p.Funding})

	case ClosePayout:
		if pr.Close == nil {
			return nil, reject(CodeIllegalTransition, "platform %s does not close payouts", pr.Platform)
		}
		switch p.Status {
		case StatusPending, StatusProcessing, StatusAwaitingBuyerAccount, StatusAwaitingApproval:
		default:
			return nil, illegal()
		}
		if due := p.InitiatedAt.Add(pr.Close.After); d.now.Before(due) {
			return nil, reject(pr.Close.Code, "a payout closes %s after initiation, at %s", pr.Close.After, due.Format(time.RFC3339))
		}
		ev := PayoutClosed{PayoutID: id}
		// Money left the merchant (held on the account, or paid by scan: a
		// scan payout that can close was topped up): it is due back later.
		if p.FundsHeld || p.Funding == FundingScan {
			loc := d.s.Location()
			due := AddBusinessDays(d.now, pr.Close.RefundMinDays, loc, d.req.Holidays)
			latest := AddBusinessDays(d.now, pr.Close.RefundMaxDays, loc, d.req.Holidays)
			ev.RefundDueAt, ev.RefundLatestAt = &due, &latest
		}
		return one(ev)

	case RefundToMerchant:
		if p.Status != StatusClosed || pr.Close == nil || p.RefundDueAt == nil {
			return nil, illegal() // a payout closed while awaiting approval took no money
		}
		if p.RefundDueAt != nil && d.now.Before(*p.RefundDueAt) {
			return nil, reject(pr.Close.Code, "the refund is due from %s", p.RefundDueAt.Format(time.RFC3339))
		}
		return one(PayoutRefundedToMerchant{PayoutID: id, Amount: p.Amount, Funding: p.Funding})
	}
	return nil, reject(CodeInputInvalid, "unknown command %s", cmd.CommandName())
}

func payoutIDOf(cmd Command) string {
	switch c := cmd.(type) {
	case ApprovePayout:
		return c.PayoutID
	case RejectPayout:
		return c.PayoutID
	case CompleteTopUp:
		return c.PayoutID
	case ExpireTopUp:
		return c.PayoutID
	case MarkPayoutProcessing:
		return c.PayoutID
	case MarkPayoutSucceeded:
		return c.PayoutID
	case MarkPayoutFailed:
		return c.PayoutID
	case SubmitBuyerAccount:
		return c.PayoutID
	case ResendAccountCard:
		return c.PayoutID
	case ConfirmByBuyer:
		return c.PayoutID
	case ClosePayout:
		return c.PayoutID
	case RefundToMerchant:
		return c.PayoutID
	}
	return ""
}

// expireCard: a card whose window has passed expires; before that the
// window's rule code refuses it.
func (d *decision) expireCard(c ExpireCard) ([]Payload, error) {
	pr := d.p
	if p := d.s.Payouts[c.ID]; p != nil {
		switch {
		case p.Status == StatusAwaitingConfirmation && pr.Confirmation != nil:
			if due := p.InitiatedAt.Add(pr.Confirmation.Window); d.now.Before(due) {
				return nil, reject(pr.Confirmation.Code, "the buyer may confirm until %s", due.Format(time.RFC3339))
			}
			return one(CardExpired{Card: "confirmation", ID: c.ID})
		case p.Status == StatusAwaitingBuyerAccount && pr.AccountCard != nil && !p.CardExpired && p.CardExpiresAt != nil:
			if d.now.Before(*p.CardExpiresAt) {
				return nil, reject(pr.AccountCard.Code, "the account card is valid until %s", p.CardExpiresAt.Format(time.RFC3339))
			}
			return one(CardExpired{Card: "account", ID: c.ID})
		}
		return nil, reject(CodeIllegalTransition, "payout %s (%s) has no open card", c.ID, p.Status).with("status", string(p.Status))
	}
	if col := d.s.Collections[c.ID]; col != nil {
		if col.Status != CollectionSent || pr.Collection == nil {
			return nil, reject(CodeIllegalTransition, "collection card %s is %s", c.ID, col.Status).with("status", string(col.Status))
		}
		if d.now.Before(col.ExpiresAt) {
			return nil, reject(pr.Collection.Card.Code, "the card is valid until %s", col.ExpiresAt.Format(time.RFC3339))
		}
		return one(CardExpired{Card: "collection", ID: c.ID})
	}
	return nil, reject(CodePayoutUnknown, "no payout or collection %q", c.ID)
}

// AddBusinessDays returns t moved n business days forward in loc, skipping
// Saturdays, Sundays and the given holidays ("2006-01-02"), keeping the
// time of day.
func AddBusinessDays(t time.Time, n int, loc *time.Location, holidays map[string]bool) time.Time {
	lt := t.In(loc)
	for n > 0 {
		lt = lt.AddDate(0, 0, 1)
		if wd := lt.Weekday(); wd == time.Saturday || wd == time.Sunday || holidays[lt.Format("2006-01-02")] {
			continue
		}
		n--
	}
	return lt
}
