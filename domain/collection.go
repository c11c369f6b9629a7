package domain

import (
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// sendCollection decides SendCollectionCard (Taobao: the buyer pays the
// merchant a difference).
func (d *decision) sendCollection(c SendCollectionCard) ([]Payload, error) {
	p, s := d.p, d.s
	r := p.Collection
	if r == nil {
		return nil, reject(CodeRouteUnavailable, "platform %s has no collection cards", p.Platform)
	}
	if !validID(c.CollectionID) || !validID(c.OrderID) {
		return nil, reject(CodeInputInvalid, "collection ID and order ID must be 1-64 of A-Z a-z 0-9 _ -")
	}
	if err := CheckAmount(c.Amount); err != nil {
		return nil, err
	}
	if !containsReason(r.Reasons, c.Reason) {
		return nil, reject(r.ReasonCode, "reason %q is not one of %v (no custom reasons)", c.Reason, r.Reasons)
	}
	if utf8.RuneCountInString(c.Tag) > 50 || utf8.RuneCountInString(c.Remark) > maxRemarkRunes {
		return nil, reject(CodeInputInvalid, "tag or remark too long")
	}
	if s.Payouts[c.CollectionID] != nil || s.Collections[c.CollectionID] != nil {
		return nil, reject(CodePayoutExists, "ID %s is already used", c.CollectionID)
	}
	if !s.ToolEnabled {
		return nil, reject(orGeneric(codeOf(p.Agreement), CodeToolDisabled), "the collection tool is not enabled for this shop")
	}
	o, err := d.order(c.OrderID)
	if err != nil {
		return nil, err
	}
	used := decimal.Zero
	for _, id := range o.Collections {
		if col := s.Collections[id]; col != nil && col.Status.Counts() {
			used = used.Add(col.Amount)
		}
	}
	if total := o.Amount(); used.Add(c.Amount).GreaterThan(total) {
		return nil, rejectAmount(r.OrderTotalCode, "collections would exceed the original order amount", total, used, c.Amount)
	}
	return one(CollectionCardSent{
		CollectionID: c.CollectionID, OrderID: c.OrderID, Staff: d.req.Actor.ID, Amount: c.Amount,
		Reason: c.Reason, Tag: c.Tag, Remark: c.Remark, SentAt: d.now, Day: s.LocalDay(d.now),
		ExpiresAt: d.now.Add(r.Card.Window),
	})
}

// collectionStep decides PayCollection and CancelCard.
func (d *decision) collectionStep(cmd Command) ([]Payload, error) {
	r := d.p.Collection
	if r == nil {
		return nil, reject(CodeRouteUnavailable, "platform %s has no collection cards", d.p.Platform)
	}
	var id string
	switch c := cmd.(type) {
	case PayCollection:
		id = c.CollectionID
	case CancelCard:
		id = c.CollectionID
	}
	col := d.s.Collections[id]
	if col == nil {
		return nil, reject(CodePayoutUnknown, "no collection card %q", id)
	}
	if _, ok := cmd.(CancelCard); ok {
		// Reading of tb.card.cancel: only an unpaid, open card can be
		// cancelled; cancelling releases its amount.
		if col.Status != CollectionSent {
			return nil, reject(r.CancelCode, "the card is %s: it cannot be cancelled", col.Status).with("status", string(col.Status))
		}
		return one(CollectionCardCancelled{CollectionID: id, By: d.req.Actor.ID})
	}
	if col.Status != CollectionSent {
		return nil, reject(CodeIllegalTransition, "the card is %s: it cannot be paid", col.Status).with("status", string(col.Status))
	}
	if !d.now.Before(col.ExpiresAt) {
		return nil, reject(r.Card.Code, "the card expired at %s; send a new one", col.ExpiresAt.Format(time.RFC3339))
	}
	return one(CollectionPaid{CollectionID: id, Amount: col.Amount})
}

func containsReason(rs []CollectionReason, r CollectionReason) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

func codeOf(r *Rule) string {
	if r == nil {
		return ""
	}
	return r.Code
}
