package timers_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/timers"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// started is what a case's set-up expects the scheduler to hold.
type started struct {
	ref  domain.Ref
	kind timers.Kind
	id   string
	due  time.Time
}

// TestTimerFiresAtItsDueTimeNotBefore: one case per timer kind per
// platform that has it. The scheduler, rebuilt from the log, holds the
// timer with the due time the domain decided; one second before it nothing
// fires; at it the command fires once, as the system actor "timer" with the
// timer's idempotency key, and appends the expected event.
func TestTimerFiresAtItsDueTimeNotBefore(t *testing.T) {
	holidays := map[string]bool{"2026-12-01": true} // the Tuesday after t0+7d
	cases := []struct {
		name     string
		platform domain.PlatformID
		holidays map[string]bool
		setup    func(e *env, ref domain.Ref) started
		want     func(t *testing.T, ev domain.Event)
	}{
		{
			name: "1688.confirm.window: the buyer's 3 days pass, the confirmation card expires", platform: domain.Platform1688,
			setup: func(e *env, ref domain.Ref) started {
				e.do(mainAcct, payout(ref, "P1", "O1", nil))
				return started{ref, timers.KindConfirmation, "P1", t0.Add(72 * time.Hour)}
			},
			want: func(t *testing.T, ev domain.Event) {
				require.Equal(t, domain.CardExpired{Card: "confirmation", ID: "P1"}, ev.Data)
			},
		},
		{
			name: "pdd.topup.window: the scan payout's hour passes, the top-up fails", platform: domain.PlatformPDD,
			setup: func(e *env, ref domain.Ref) started {
				e.do(mainAcct, payout(ref, "P1", "O1", func(c *domain.InitiatePayout) { c.Funding = domain.FundingScan }))
				return started{ref, timers.KindTopUp, "P1", t0.Add(time.Hour)}
			},
			want: func(t *testing.T, ev domain.Event) {
				require.Equal(t, domain.PayoutTopUpFailed{PayoutID: "P1"}, ev.Data)
			},
		},
		{
			name: "pdd.fail.account_card: the card sent on a buyer-account failure expires after 72 hours", platform: domain.PlatformPDD,
			setup: func(e *env, ref domain.Ref) started {
				e.do(mainAcct, payout(ref, "P1", "O1", nil))
				e.do(operator, domain.MarkPayoutProcessing{Ref: ref, PayoutID: "P1"})
				e.clk.Set(t0.Add(time.Hour))
				e.do(operator, domain.MarkPayoutFailed{Ref: ref, PayoutID: "P1", BuyerAccount: true})
				return started{ref, timers.KindAccountCard, "P1", t0.Add(time.Hour + 72*time.Hour)}
			},
			want: func(t *testing.T, ev domain.Event) {
				require.Equal(t, domain.CardExpired{Card: "account", ID: "P1"}, ev.Data)
			},
		},
		{
			name: "pdd.fail.account_card: a resent card gets a timer of its own", platform: domain.PlatformPDD,
			setup: func(e *env, ref domain.Ref) started {
				e.do(mainAcct, payout(ref, "P1", "O1", nil))
				e.do(operator, domain.MarkPayoutProcessing{Ref: ref, PayoutID: "P1"})
				e.do(operator, domain.MarkPayoutFailed{Ref: ref, PayoutID: "P1", BuyerAccount: true})
				e.clk.Set(t0.Add(72 * time.Hour))
				e.do(operator, domain.ExpireCard{Ref: ref, ID: "P1"})
				e.clk.Set(t0.Add(80 * time.Hour))
				e.do(mainAcct, domain.ResendAccountCard{Ref: ref, PayoutID: "P1"})
				return started{ref, timers.KindAccountCard, "P1", t0.Add(80*time.Hour + 72*time.Hour)}
			},
			want: func(t *testing.T, ev domain.Event) {
				require.Equal(t, domain.CardExpired{Card: "account", ID: "P1"}, ev.Data)
			},
		},
		{
			name: "pdd.fail.close: a payout not succeeded closes 7 days after initiation, refund due", platform: domain.PlatformPDD,
			setup: func(e *env, ref domain.Ref) started {
				e.do(mainAcct, payout(ref, "P1", "O1", nil))
				return started{ref, timers.KindClose, "P1", t0.Add(7 * 24 * time.Hour)}
			},
			want: func(t *testing.T, ev domain.Event) {
				closed := ev.Data.(domain.PayoutClosed)
				require.Equal(t, "P1", closed.PayoutID)
				require.NotNil(t, closed.RefundDueAt, "the payout held money: a refund is due")
			},
		},
		{
			name: "pdd.fail.close: a payout awaiting approval closes too, with no refund", platform: domain.PlatformPDD,
			setup: func(e *env, ref domain.Ref) started {
				e.do(subAcct, payout(ref, "P1", "O1", func(c *domain.InitiatePayout) { c.SubmitForApproval = true }))
				return started{ref, timers.KindClose, "P1", t0.Add(7 * 24 * time.Hour)}
			},
			want: func(t *testing.T, ev domain.Event) {
				require.Equal(t, domain.PayoutClosed{PayoutID: "P1"}, ev.Data)
			},
		},
		{
			name: "pdd.fail.close: the refund to the merchant fires 3 business days after the close", platform: domain.PlatformPDD,
			setup: func(e *env, ref domain.Ref) started {
				e.do(mainAcct, payout(ref, "P1", "O1", nil))
				closeAt := t0.Add(7 * 24 * time.Hour) // a Monday
				e.clk.Set(closeAt)
				e.do(operator, domain.ClosePayout{Ref: ref, PayoutID: "P1"})
				return started{ref, timers.KindRefund, "P1", closeAt.AddDate(0, 0, 3)} // Thursday
			},
			want: func(t *testing.T, ev domain.Event) {
				require.Equal(t, "P1", ev.Data.(domain.PayoutRefundedToMerchant).PayoutID)
			},
		},
		{
			name: "pdd.fail.close: the refund due date skips the handler's holidays", platform: domain.PlatformPDD, holidays: holidays,
			setup: func(e *env, ref domain.Ref) started {
				e.do(mainAcct, payout(ref, "P1", "O1", nil))
				closeAt := t0.Add(7 * 24 * time.Hour)
				e.clk.Set(closeAt)
				e.do(operator, domain.ClosePayout{Ref: ref, PayoutID: "P1"})
				return started{ref, timers.KindRefund, "P1", closeAt.AddDate(0, 0, 4)} // Friday: Tuesday is a holiday
			},
			want: func(t *testing.T, ev domain.Event) {
				require.Equal(t, "P1", ev.Data.(domain.PayoutRefundedToMerchant).PayoutID)
			},
		},
		{
			name: "tb.card.window: the collection card expires after 72 hours", platform: domain.PlatformTaobao,
			setup: func(e *env, ref domain.Ref) started {
				e.do(mainAcct, collection(ref, "C1", "O1"))
				return started{ref, timers.KindCollectionCard, "C1", t0.Add(72 * time.Hour)}
			},
			want: func(t *testing.T, ev domain.Event) {
				require.Equal(t, domain.CardExpired{Card: "collection", ID: "C1"}, ev.Data)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, handler.Config{Holidays: tc.holidays})
			ref := e.shop(tc.platform, "shop1", 1)
			st := tc.setup(e, ref)
			ctx := context.Background()
			obs := &observed{}
			s := e.scheduler(nil, obs)

			tm, ok := pendingOf(s, st.kind, st.id)
			require.True(t, ok, "no %s timer for %s in %+v", st.kind, st.id, s.Pending())
			require.True(t, st.due.Equal(tm.Due), "due %s, want %s", tm.Due, st.due)
			require.Equal(t, ref.Stream(), tm.Stream)

			before := e.head(ref)
			e.clk.Set(st.due.Add(-time.Second))
			n, err := s.FireDue(ctx)
			require.NoError(t, err)
			require.Zero(t, n, "nothing fires one second before the due time")
			require.Equal(t, before, e.head(ref))

			e.clk.Set(st.due)
			n, err = s.FireDue(ctx)
			require.NoError(t, err)
			require.Equal(t, 1, n)
			require.Equal(t, before+1, e.head(ref), "one event appended")
			ev := e.lastEvent(ref)
			require.Equal(t, timers.Actor, ev.Actor)
			require.Equal(t, tm.IdempotencyKey(), ev.IdempotencyKey)
			require.True(t, st.due.Equal(ev.OccurredAt), "decided at the due time")
			tc.want(t, ev)
			require.Equal(t, 1, obs.get(st.kind, timers.OutcomeFired))

			// Fired once: the ending event, read back, leaves nothing of
			// the kind for the ID, and another pass fires nothing.
			require.NoError(t, s.CatchUp(ctx))
			_, still := pendingOf(s, st.kind, st.id)
			require.False(t, still)
			n, err = s.FireDue(ctx)
			require.NoError(t, err)
			require.Zero(t, n)
			require.Equal(t, before+1, e.head(ref))
		})
	}
}

// TestEndingEventsClearTimers: the event that ends a window removes its
// timer from the set rebuilt from the log; a close leaves only the refund.
func TestEndingEventsClearTimers(t *testing.T) {
	e := newEnv(t, handler.Config{})
	ctx := context.Background()
	pdd := e.shop(domain.PlatformPDD, "pdd1", 4)
	a1688 := e.shop(domain.Platform1688, "a1", 1)
	tb := e.shop(domain.PlatformTaobao, "tb1", 2)

	e.do(mainAcct, payout(a1688, "A1", "O1", nil))
	e.do(operator, domain.ConfirmByBuyer{Ref: a1688, PayoutID: "A1"})
	e.do(mainAcct, payout(pdd, "S1", "O1", func(c *domain.InitiatePayout) { c.Funding = domain.FundingScan }))
	e.do(operator, domain.CompleteTopUp{Ref: pdd, PayoutID: "S1"}) // top-up ends; close stays
	e.do(mainAcct, payout(pdd, "D1", "O2", nil))
	e.do(operator, domain.MarkPayoutProcessing{Ref: pdd, PayoutID: "D1"})
	e.do(operator, domain.MarkPayoutSucceeded{Ref: pdd, PayoutID: "D1"})
	e.do(mainAcct, payout(pdd, "F1", "O3", nil))
	e.do(operator, domain.MarkPayoutFailed{Ref: pdd, PayoutID: "F1", BuyerAccount: true})
	e.do(operator, domain.SubmitBuyerAccount{Ref: pdd, PayoutID: "F1"}) // card ends; close stays
	e.do(mainAcct, collection(tb, "C1", "O1"))
	e.do(operator, domain.PayCollection{Ref: tb, CollectionID: "C1"})
	e.do(mainAcct, collection(tb, "C2", "O2"))
	e.do(mainAcct, domain.CancelCard{Ref: tb, CollectionID: "C2"})

	s := e.scheduler(nil, nil)
	var got []string
	for _, tm := range s.Pending() {
		got = append(got, string(tm.Kind)+"/"+tm.ID)
	}
	require.ElementsMatch(t, []string{"close/S1", "close/F1"}, got)

	e.clk.Set(t0.Add(7 * 24 * time.Hour))
	n, err := s.FireDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.NoError(t, s.CatchUp(ctx))
	got = nil
	for _, tm := range s.Pending() {
		got = append(got, string(tm.Kind)+"/"+tm.ID)
	}
	require.ElementsMatch(t, []string{"refund/S1", "refund/F1"}, got)
}
