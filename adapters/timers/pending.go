package timers

import (
	"container/heap"
	"sort"
	"time"

	"github.com/payoutledger/ledger/domain"
)

// key identifies a timer slot: a payout or card has at most one timer of
// each kind at a time (a resent account card replaces the expired one).
type key struct {
	kind       Kind
	stream, id string
}

// entry is a pending timer and where it sits in the due heap (index -1:
// being fired, or removed).
type entry struct {
	Timer
	index int
}

func (e *entry) key() key { return key{e.Kind, e.Stream, e.ID} }

// pendingSet is the set of timers derived from the events: a map for the
// events that end a window and a heap ordered by next attempt for the
// ticks, so that a tick costs O(due log n), not a scan of every timer.
// Not safe for concurrent use: the Scheduler holds its lock.
type pendingSet struct {
	byKey map[key]*entry
	due   dueHeap
}

func newPendingSet() *pendingSet { return &pendingSet{byKey: map[key]*entry{}} }

// put adds a timer, replacing the slot's previous one. A replaced timer
// being fired is not put back (see keep).
func (p *pendingSet) put(t Timer) {
	t.NextAttempt = t.Due
	k := key{t.Kind, t.Stream, t.ID}
	if old := p.byKey[k]; old != nil && old.index >= 0 {
		heap.Remove(&p.due, old.index)
	}
	e := &entry{Timer: t}
	p.byKey[k] = e
	heap.Push(&p.due, e)
}

// remove ends the slot's timer, if any.
func (p *pendingSet) remove(kind Kind, stream, id string) {
	k := key{kind, stream, id}
	e := p.byKey[k]
	if e == nil {
		return
	}
	delete(p.byKey, k)
	if e.index >= 0 {
		heap.Remove(&p.due, e.index)
	}
}

// removeAll ends every timer of a payout or card.
func (p *pendingSet) removeAll(stream, id string) {
	for _, k := range Kinds() {
		p.remove(k, stream, id)
	}
}

// takeDue removes from the heap the timers whose next attempt is at or
// before now, in firing order. They stay in byKey: an event that ends or
// replaces one of them while it is fired is still seen.
func (p *pendingSet) takeDue(now time.Time, max int) []*entry {
	var out []*entry
	for p.due.Len() > 0 && len(out) < max && !p.due[0].NextAttempt.After(now) {
		out = append(out, heap.Pop(&p.due).(*entry))
	}
	return out
}

// current reports whether e is still the slot's timer (not ended or
// replaced while it was being fired).
func (p *pendingSet) current(e *entry) bool { return p.byKey[e.key()] == e }

// done forgets a fired (or moot) timer unless it was replaced meanwhile.
func (p *pendingSet) done(e *entry) {
	if p.current(e) {
		delete(p.byKey, e.key())
	}
}

// keep puts a timer taken by takeDue back, to be tried at next, unless it
// was ended or replaced meanwhile.
func (p *pendingSet) keep(e *entry, next time.Time) {
	if !p.current(e) {
		return
	}
	e.NextAttempt = next
	heap.Push(&p.due, e)
}

// list returns copies of every pending timer, by due time.
func (p *pendingSet) list() []Timer {
	out := make([]Timer, 0, len(p.byKey))
	for _, e := range p.byKey {
		out = append(out, e.Timer)
	}
	sort.Slice(out, func(i, j int) bool { return before(out[i], out[j], false) })
	return out
}

// apply evolves the set by one event of a shop's stream. Every due time is
// the one the event carries, except the close, which PayoutInitiated does
// not carry (CloseDue computes it as the decision does).
func (p *pendingSet) apply(ref domain.ShopRef, ev domain.Event) {
	stream, cause := ev.Stream, ev.ID.String()
	add := func(kind Kind, id string, due time.Time) {
		p.put(Timer{Kind: kind, Stream: stream, Shop: ref, ID: id, Due: due, Cause: cause})
	}
	switch e := ev.Data.(type) {
	case domain.PayoutInitiated:
		switch {
		case e.Status == domain.StatusAwaitingConfirmation && e.DeadlineAt != nil:
			add(KindConfirmation, e.PayoutID, *e.DeadlineAt)
		case e.Status == domain.StatusAwaitingTopUp && e.DeadlineAt != nil:
			add(KindTopUp, e.PayoutID, *e.DeadlineAt)
		}
		pr, _ := domain.LookupProfile(ref.Platform)
		if due, ok := CloseDue(pr, e.InitiatedAt); ok {
			add(KindClose, e.PayoutID, due)
		}
	case domain.PayoutToppedUp:
		p.remove(KindTopUp, stream, e.PayoutID)
	case domain.PayoutFailedForBuyerAccount:
		add(KindAccountCard, e.PayoutID, e.CardExpiresAt)
	case domain.AccountCardSent:
		add(KindAccountCard, e.PayoutID, e.CardExpiresAt)
	case domain.BuyerAccountSubmitted:
		p.remove(KindAccountCard, stream, e.PayoutID)
	case domain.CardExpired:
		switch e.Card {
		case "confirmation":
			p.removeAll(stream, e.ID) // the payout expired: final
		case "account":
			p.remove(KindAccountCard, stream, e.ID)
		case "collection":
			p.remove(KindCollectionCard, stream, e.ID)
		}
	case domain.PayoutClosed:
		p.removeAll(stream, e.PayoutID)
		if e.RefundDueAt != nil {
			add(KindRefund, e.PayoutID, *e.RefundDueAt)
		}
	// Final statuses: nothing is left to fire for the payout.
	case domain.PayoutRejected:
		p.removeAll(stream, e.PayoutID)
	case domain.PayoutTopUpFailed:
		p.removeAll(stream, e.PayoutID)
	case domain.PayoutSucceeded:
		p.removeAll(stream, e.PayoutID)
	case domain.PayoutFailed:
		p.removeAll(stream, e.PayoutID)
	case domain.PayoutConfirmedByBuyer:
		p.removeAll(stream, e.PayoutID)
	case domain.PayoutRefundedToMerchant:
		p.removeAll(stream, e.PayoutID)
	case domain.CollectionCardSent:
		add(KindCollectionCard, e.CollectionID, e.ExpiresAt)
	case domain.CollectionPaid:
		p.remove(KindCollectionCard, stream, e.CollectionID)
	case domain.CollectionCardCancelled:
		p.remove(KindCollectionCard, stream, e.CollectionID)
	}
}

// relevant lists the event types apply looks at: the others are not even
// decoded, which is most of the cost of rebuilding the set from the log.
var relevant = map[string]bool{
	"PayoutInitiated": true, "PayoutToppedUp": true, "PayoutFailedForBuyerAccount": true,
	"AccountCardSent": true, "BuyerAccountSubmitted": true, "CardExpired": true, "PayoutClosed": true,
	"PayoutRejected": true, "PayoutTopUpFailed": true, "PayoutSucceeded": true, "PayoutFailed": true,
	"PayoutConfirmedByBuyer": true, "PayoutRefundedToMerchant": true, "CollectionCardSent": true,
	"CollectionPaid": true, "CollectionCardCancelled": true,
}

// before orders timers: by next attempt (byAttempt) or due time, then due
// time, kind, stream and ID, so that every scheduler fires in one order.
func before(a, b Timer, byAttempt bool) bool {
	if byAttempt && !a.NextAttempt.Equal(b.NextAttempt) {
		return a.NextAttempt.Before(b.NextAttempt)
	}
	if !a.Due.Equal(b.Due) {
		return a.Due.Before(b.Due)
	}
	if a.Kind != b.Kind {
		return a.Kind.rank() < b.Kind.rank()
	}
	if a.Stream != b.Stream {
		return a.Stream < b.Stream
	}
	return a.ID < b.ID
}

// dueHeap is a min-heap of entries by next attempt.
type dueHeap []*entry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return before(h[i].Timer, h[j].Timer, true) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *dueHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *dueHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	e.index = -1
	*h = old[:n-1]
	return e
}
