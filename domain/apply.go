package domain

// Apply evolves a shop's state by one event. It never fails and never
// validates (validation happened when the event was decided): replay and
// live use this same function, so a stored log always replays.
func Apply(s *Shop, p Payload) {
	s.Version++
	switch e := p.(type) {
	case ShopRegistered:
		s.Registered = true
		s.Name, s.TimeZone, s.MainAccount = e.Name, e.TimeZone, e.MainAccount
		s.Qualification, s.EntityType, s.CooperationMode = e.Qualification, e.EntityType, e.CooperationMode
		s.AfterSalesSelfService, s.ZeroDeposit, s.DepositPaid = e.AfterSalesSelfService, e.ZeroDeposit, e.DepositPaid
		s.ToolEnabled = e.ToolEnabled
		s.loc = nil
	case ShopEnrolled:
		s.ToolEnabled = true
		s.Limits = e.Limits
	case ShopLimitsSet:
		s.Limits = e.New
		s.PasswordFree = e.PasswordFreeThreshold
	case ToolDisabled:
		s.ToolEnabled = false
	case ShopStandingChanged:
		s.Status, s.UnpaidBills, s.DepositPaid = e.Status, e.UnpaidBills, e.DepositPaid

	case FundingAccountOpened:
		s.Accounts[e.Kind] = &Account{Kind: e.Kind}
	case FundsToppedUp:
		if a := s.Accounts[e.Kind]; a != nil {
			a.Balance = a.Balance.Add(e.Amount)
		}
	case ProceedsCredited:
		if a := s.Accounts[AccountProceeds]; a != nil {
			a.Balance = a.Balance.Add(e.Amount)
		}
	case FundsFrozen:
		if a := s.Accounts[e.Kind]; a != nil {
			a.Frozen = a.Frozen.Add(e.Amount)
		}
	case FundsUnfrozen:
		if a := s.Accounts[e.Kind]; a != nil {
			a.Frozen = a.Frozen.Sub(e.Amount)
		}
	case ArrearsChanged:
		if a := s.Accounts[e.Kind]; a != nil {
			a.Arrears = e.New
		}

	case StaffQuotaGranted:
		s.Staff[e.Staff] = &Quota{Staff: e.Staff, Enabled: true, PerPayout: e.PerPayout, PerDay: e.PerDay}
	case StaffQuotaChanged:
		if q := s.Staff[e.Staff]; q != nil {
			q.PerPayout, q.PerDay = e.PerPayout, e.PerDay
		}
	case StaffQuotaDisabled:
		if q := s.Staff[e.Staff]; q != nil {
			q.Enabled = false
		}
	case StaffQuotaEnabled:
		if q := s.Staff[e.Staff]; q != nil {
			q.Enabled = true
		}
	case StaffQuotaDeleted:
		delete(s.Staff, e.Staff)

	case OrderRegistered:
		if o := s.Orders[e.OrderID]; o != nil {
			o.OrderRegistered = e
		} else {
			s.Orders[e.OrderID] = &Order{OrderRegistered: e}
		}
	case OrderRefundRecorded:
		if o := s.Orders[e.OrderID]; o != nil {
			o.Refunds = append(o.Refunds, e.RefundID)
		}
	case PlatformShippingRefundRecorded:
		if o := s.Orders[e.OrderID]; o != nil {
			o.PlatformShippingRefunded = true
		}
	case DuplicateCompensationWarned:
		s.Warnings[e.WarningID] = &Warning{DuplicateCompensationWarned: e}
	case DuplicateWarningAcknowledged:
		if w := s.Warnings[e.WarningID]; w != nil {
			w.Acknowledged = true
		}

	case PayoutInitiated:
		applyInitiated(s, e)
	case PayoutApproved:
		if p := s.Payouts[e.PayoutID]; p != nil {
			p.Status = StatusPending
			holdFunds(s, p)
		}
	case PayoutRejected:
		transition(s, e.PayoutID, StatusRejected)
	case PayoutToppedUp:
		transition(s, e.PayoutID, StatusPending)
	case PayoutTopUpFailed:
		transition(s, e.PayoutID, StatusTopUpFailed)
	case PayoutProcessing:
		transition(s, e.PayoutID, StatusProcessing)
	case PayoutSucceeded:
		settle(s, e.PayoutID)
	case PayoutConfirmedByBuyer:
		settle(s, e.PayoutID)
	case PayoutFailed:
		transition(s, e.PayoutID, StatusFailed)
	case PayoutFailedForBuyerAccount:
		if p := s.Payouts[e.PayoutID]; p != nil {
			p.Status = StatusAwaitingBuyerAccount
			t := e.CardExpiresAt
			p.CardExpiresAt, p.CardExpired = &t, false
		}
	case AccountCardSent:
		if p := s.Payouts[e.PayoutID]; p != nil {
			t := e.CardExpiresAt
			p.CardExpiresAt, p.CardExpired = &t, false
		}
	case BuyerAccountSubmitted:
		transition(s, e.PayoutID, StatusProcessing)
	case CardExpired:
		switch e.Card {
		case "confirmation":
			transition(s, e.ID, StatusExpired)
		case "account":
			if p := s.Payouts[e.ID]; p != nil {
				p.CardExpired = true
			}
		case "collection":
			if c := s.Collections[e.ID]; c != nil {
				c.Status = CollectionExpired
			}
		}
	case PayoutClosed:
		if p := s.Payouts[e.PayoutID]; p != nil {
			p.RefundDueAt, p.RefundLatestAt = e.RefundDueAt, e.RefundLatestAt
			// The limits are released now (closed does not count); the money
			// stays held until it is back on the account (closed is not final).
			transition(s, e.PayoutID, StatusClosed)
		}
	case PayoutRefundedToMerchant:
		if p := s.Payouts[e.PayoutID]; p != nil {
			releaseFunds(s, p)
			p.Status = StatusRefunded
		}

	case CollectionCardSent:
		s.Collections[e.CollectionID] = &Collection{CollectionCardSent: e, Status: CollectionSent}
		if o := s.Orders[e.OrderID]; o != nil {
			o.Collections = append(o.Collections, e.CollectionID)
		}
	case CollectionPaid:
		if c := s.Collections[e.CollectionID]; c != nil {
			c.Status = CollectionPaidSt
		}
	case CollectionCardCancelled:
		if c := s.Collections[e.CollectionID]; c != nil {
			c.Status = CollectionCancelled
		}
	}
}

func applyInitiated(s *Shop, e PayoutInitiated) {
	p := &Payout{PayoutInitiated: e, Status: e.Status, UpdatedAt: e.InitiatedAt}
	s.Payouts[e.PayoutID] = p
	if o := s.Orders[e.OrderID]; o != nil {
		o.Payouts = append(o.Payouts, e.PayoutID)
	}
	d := s.day(e.Day)
	d.Count++
	d.Amount = d.Amount.Add(e.Amount)
	if e.Funding == AccountProceeds {
		d.ProceedsAmount = d.ProceedsAmount.Add(e.Amount)
	}
	if e.QuotaCharged {
		sd := s.staffDay(e.Staff, e.Day)
		sd.Count++
		sd.Amount = sd.Amount.Add(e.Amount)
	}
	if e.HoldsFunds {
		holdFunds(s, p)
	}
}

func holdFunds(s *Shop, p *Payout) {
	if p.FundsHeld {
		return
	}
	if a := s.Accounts[p.Funding]; a != nil {
		a.Held = a.Held.Add(p.Amount)
		p.FundsHeld = true
	}
}

func releaseFunds(s *Shop, p *Payout) {
	if !p.FundsHeld {
		return
	}
	if a := s.Accounts[p.Funding]; a != nil {
		a.Held = a.Held.Sub(p.Amount)
	}
	p.FundsHeld = false
}

// transition moves a payout to a status, releasing its limit holds when it
// leaves the counting statuses and its funds when it ends unpaid.
func transition(s *Shop, id string, to PayoutStatus) {
	p := s.Payouts[id]
	if p == nil {
		return
	}
	from := p.Status
	p.Status = to
	if from.Counts() && !to.Counts() {
		d := s.day(p.Day)
		d.Count--
		d.Amount = d.Amount.Sub(p.Amount)
		if p.Funding == AccountProceeds {
			d.ProceedsAmount = d.ProceedsAmount.Sub(p.Amount)
		}
		if p.QuotaCharged {
			sd := s.staffDay(p.Staff, p.Day)
			sd.Count--
			sd.Amount = sd.Amount.Sub(p.Amount)
		}
	}
	if to.Final() && to != StatusSucceeded {
		releaseFunds(s, p)
	}
}

// settle: the money left the account for the buyer.
func settle(s *Shop, id string) {
	p := s.Payouts[id]
	if p == nil {
		return
	}
	if p.FundsHeld {
		if a := s.Accounts[p.Funding]; a != nil {
			a.Held = a.Held.Sub(p.Amount)
			a.Balance = a.Balance.Sub(p.Amount)
		}
		p.FundsHeld = false
	}
	p.Status = StatusSucceeded
}
