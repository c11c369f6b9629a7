package timers

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/payoutledger/ledger/domain"
)

// Kind names a timer. The names appear in idempotency keys, logs and
// metrics: a persisted contract, never renamed.
type Kind string

// The timer kinds. Which platform has which is profile data
// (domain.Profile: Confirmation, TopUp, AccountCard, Close, Collection).
const (
	// KindConfirmation: the buyer confirms a payout within the window
	// (1688.confirm.window); fires ExpireCard, the payout expires.
	KindConfirmation Kind = "confirmation"
	// KindTopUp: a scan-to-pay payout waits for its top-up
	// (pdd.topup.window); fires ExpireTopUp.
	KindTopUp Kind = "top_up"
	// KindAccountCard: the account card sent after a failure for the
	// buyer's account is valid for a while (pdd.fail.account_card); fires
	// ExpireCard, the payout keeps waiting and the merchant may resend.
	KindAccountCard Kind = "account_card"
	// KindCollectionCard: a collection card is valid for a while
	// (tb.card.window); fires ExpireCard.
	KindCollectionCard Kind = "collection_card"
	// KindClose: a payout not succeeded closes after the platform's delay
	// (pdd.fail.close); fires ClosePayout.
	KindClose Kind = "close"
	// KindRefund: a closed payout's money is due back to the merchant
	// (pdd.fail.close); fires RefundToMerchant.
	KindRefund Kind = "refund"
)

// Kinds lists every timer kind in the order ties on one due time fire.
func Kinds() []Kind {
	return []Kind{KindConfirmation, KindTopUp, KindAccountCard, KindCollectionCard, KindClose, KindRefund}
}

// rank orders the kinds for timers due at the same instant: a card or
// window ends before the payout closes, a close before its refund.
func (k Kind) rank() int {
	for i, x := range Kinds() {
		if x == k {
			return i
		}
	}
	return len(Kinds())
}

// Timer is one pending deadline.
type Timer struct {
	Kind   Kind
	Stream string         // the shop's stream ("pdd.shop1")
	Shop   domain.ShopRef // parsed from Stream
	ID     string         // payout ID, or collection ID for a collection card
	Due    time.Time      // when the command fires (the domain accepts it from this instant)
	// Attempts counts failed attempts (conflicts, store errors, a handler
	// whose clock is behind); NextAttempt is when the timer is tried
	// again (Due until a first failure).
	Attempts    int
	NextAttempt time.Time
	// Cause is the ID of the event that started the timer; the fired
	// command's events carry it as their causation ID.
	Cause string
}

// maxKeyBytes is the handler's bound on an idempotency key.
const maxKeyBytes = 200

// IdempotencyKey is the key the timer's command is sent with: the same
// timer gives the same key in every process and after every restart, so
// the command appends its events once. A key longer than the handler
// accepts (a long platform name) is replaced by a digest of it.
func (t Timer) IdempotencyKey() string {
	k := "timer:" + string(t.Kind) + ":" + t.Stream + ":" + t.ID + ":" + t.Due.UTC().Format(time.RFC3339Nano)
	if len(k) <= maxKeyBytes {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "timer:" + string(t.Kind) + ":sha256:" + hex.EncodeToString(sum[:])
}

// Command is the command the timer fires.
func (t Timer) Command() domain.Command {
	ref := domain.Ref{ShopRef: t.Shop}
	switch t.Kind {
	case KindTopUp:
		return domain.ExpireTopUp{Ref: ref, PayoutID: t.ID}
	case KindClose:
		return domain.ClosePayout{Ref: ref, PayoutID: t.ID}
	case KindRefund:
		return domain.RefundToMerchant{Ref: ref, PayoutID: t.ID}
	default: // the three cards
		return domain.ExpireCard{Ref: ref, ID: t.ID}
	}
}

// earlyCode is the rule code the domain answers when the timer's command
// comes before its window closed: the handler's clock is behind the
// scheduler's. That is not a reason to drop the timer.
func (t Timer) earlyCode() string {
	p, ok := domain.LookupProfile(t.Shop.Platform)
	if !ok {
		return ""
	}
	var w *domain.WindowRule
	switch t.Kind {
	case KindConfirmation:
		w = p.Confirmation
	case KindTopUp:
		w = p.TopUp
	case KindAccountCard:
		w = p.AccountCard
	case KindCollectionCard:
		if p.Collection != nil {
			w = &p.Collection.Card
		}
	case KindClose, KindRefund:
		if p.Close != nil {
			return p.Close.Code
		}
	}
	if w == nil {
		return ""
	}
	return w.Code
}

// CloseDue is when a payout of the profile initiated at initiatedAt may be
// closed: the instant the domain's ClosePayout decision accepts (initiation
// plus the profile's close delay). ok is false when the platform does not
// close payouts. PayoutInitiated does not carry this deadline, so it is
// computed here from the same profile data the decision reads.
func CloseDue(p *domain.Profile, initiatedAt time.Time) (due time.Time, ok bool) {
	if p == nil || p.Close == nil {
		return time.Time{}, false
	}
	return initiatedAt.Add(p.Close.After), true
}
