package projections_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/projections"
)

// The scripted scenario: commands across the five platforms through the
// real command handler on the real embedded JetStream store; the
// projections read the store through the runtime. Every expected value
// below was computed by hand from the script (the comments show the
// arithmetic), never by the code under test.

var (
	shanghai, _ = time.LoadLocation("Asia/Shanghai")
	start       = time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai) // a Monday
	operator    = domain.Actor{ID: "ops", Role: domain.RoleOperator}
	timer       = domain.Actor{ID: "timer", Role: domain.RoleSystem}
	admin       = domain.Actor{ID: "admin", Role: domain.RoleMain}
	csLin       = domain.Actor{ID: "cs-lin", Role: domain.RoleSub}

	acme  = domain.Ref{ShopRef: domain.ShopRef{Platform: domain.Platform1688, ShopID: "acme"}}
	panda = domain.Ref{ShopRef: domain.ShopRef{Platform: domain.PlatformDouyin, ShopID: "panda"}}
	north = domain.Ref{ShopRef: domain.ShopRef{Platform: domain.PlatformJD, ShopID: "north"}}
	sunny = domain.Ref{ShopRef: domain.ShopRef{Platform: domain.PlatformPDD, ShopID: "sunny"}}
	moon  = domain.Ref{ShopRef: domain.ShopRef{Platform: domain.PlatformTaobao, ShopID: "moon"}}
)

type script struct {
	t   *testing.T
	h   *handler.Handler
	now time.Time
}

func (s *script) do(a domain.Actor, c domain.Command) {
	s.t.Helper()
	_, err := s.h.Handle(context.Background(), c, handler.Meta{Actor: a})
	require.NoError(s.t, err, "%s on %s", c.CommandName(), c.Shop().Stream())
}

func (s *script) refused(code string, a domain.Actor, c domain.Command) {
	s.t.Helper()
	_, err := s.h.Handle(context.Background(), c, handler.Meta{Actor: a})
	var rej *domain.Rejection
	require.True(s.t, errors.As(err, &rej), "%s should be refused, got %v", c.CommandName(), err)
	require.Equal(s.t, code, rej.Code)
}

func amt(v string) decimal.Decimal { return decimal.RequireFromString(v) }

func amtp(v string) *decimal.Decimal { d := amt(v); return &d }

func intp(n int) *int { return &n }

func (s *script) order(ref domain.Ref, id, cash string, mod func(*domain.RegisterOrder)) {
	placed := s.now.Add(-48 * time.Hour)
	o := domain.RegisterOrder{Ref: ref, OrderID: id, Buyer: "b-" + id, CashPaid: amt(cash), OtherPaid: decimal.Zero,
		Status: domain.OrderShipped, PaymentMode: "online", PaymentKind: "normal", Channel: "douyin",
		PlacedAt: placed, PaidAt: &placed, GroupFormedAt: &placed}
	if mod != nil {
		mod(&o)
	}
	s.do(operator, o)
}

func pay(ref domain.Ref, id, order, amount string, typ domain.PayoutType) domain.InitiatePayout {
	return domain.InitiatePayout{Ref: ref, PayoutID: id, OrderID: order, Amount: amt(amount), Type: typ, Reason: "reason " + id}
}

// play runs the script.
func (s *script) play() {
	// --- 1688: reserve account, the buyer confirms within 72 h -------
	s.now = start
	s.do(operator, domain.RegisterShop{Ref: acme, Name: "Acme", MainAccount: "admin"})
	s.do(admin, domain.OpenFundingAccount{Ref: acme, Kind: domain.AccountReserve})
	s.do(admin, domain.TopUp{Ref: acme, Kind: domain.AccountReserve, Amount: amt("2000")})
	s.do(admin, domain.EnrollShop{Ref: acme, AcceptAgreement: true, Limits: domain.Limits{DailyAmount: amtp("3000")}})
	s.do(admin, domain.GrantStaffQuota{Ref: acme, Staff: "cs-lin"}) // 1688: permission only, no limits
	s.order(acme, "O1", "90", func(o *domain.RegisterOrder) { o.OtherPaid = amt("10") })
	s.do(admin, pay(acme, "P1", "O1", "45", domain.TypePriceDifference)) // 50% of cash 90
	s.order(acme, "O2", "200", nil)
	s.do(csLin, pay(acme, "P4", "O2", "20", domain.TypeService))
	s.do(operator, domain.ConfirmByBuyer{Ref: acme, PayoutID: "P1"})
	s.now = start.Add(72 * time.Hour) // Thu 26th 10:00
	s.do(timer, domain.ExpireCard{Ref: acme, ID: "P4"})

	// --- Douyin: proceeds, staff quota, duplicates, a refund ----------
	s.now = start
	s.do(operator, domain.RegisterShop{Ref: panda, Name: "Panda", MainAccount: "admin"})
	s.do(admin, domain.OpenFundingAccount{Ref: panda, Kind: domain.AccountProceeds})
	s.do(operator, domain.CreditProceeds{Ref: panda, Amount: amt("20000")})
	s.do(admin, domain.GrantStaffQuota{Ref: panda, Staff: "cs-lin", PerPayout: amtp("50"), PerDay: amtp("60")})
	s.order(panda, "D1", "15", nil)
	s.order(panda, "D2", "800", nil)
	s.do(csLin, pay(panda, "Y1", "D1", "20", domain.TypeShipping))                       // cap of a 15 order: 20
	s.refused("dy.staff.daily", csLin, pay(panda, "Y3", "D2", "45", domain.TypeService)) // 20 + 45 > 60
	s.do(admin, pay(panda, "Y3", "D2", "45", domain.TypeService))                        // the main account has no quota
	s.now = start.Add(time.Minute)
	y4 := pay(panda, "Y4", "D2", "455", domain.TypeService)
	s.refused("dup.same_type", admin, y4)
	y4.AcknowledgeDuplicate = true
	s.do(admin, y4) // cap of an 800 order: 500 = 45 + 455; warning W1
	s.do(operator, domain.MarkPayoutProcessing{Ref: panda, PayoutID: "Y3"})
	s.do(operator, domain.MarkPayoutSucceeded{Ref: panda, PayoutID: "Y3"})
	s.do(operator, domain.MarkPayoutFailed{Ref: panda, PayoutID: "Y4", Reason: "bank"})
	s.do(operator, domain.RecordOrderRefund{Ref: panda, OrderID: "D2", RefundID: "R1", Amount: amt("800")}) // W2
	s.do(admin, domain.AcknowledgeDuplicateWarning{Ref: panda, WarningID: "W2"})

	// --- JD: wallet, SMS above the password-free threshold, arrears ---
	s.now = start
	s.do(operator, domain.RegisterShop{Ref: north, Name: "North", MainAccount: "admin", EntityType: "enterprise", CooperationMode: "sop", AfterSalesSelfService: true})
	s.do(admin, domain.OpenFundingAccount{Ref: north, Kind: domain.AccountWallet})
	s.do(admin, domain.TopUp{Ref: north, Kind: domain.AccountWallet, Amount: amt("500")})
	s.do(admin, domain.EnrollShop{Ref: north, AcceptAgreement: true})
	s.do(admin, domain.SetShopLimits{Ref: north, Limits: domain.Limits{DailyCount: intp(10)}, PasswordFreeThreshold: amtp("5")})
	s.order(north, "J1", "120", nil)
	s.do(admin, pay(north, "J1a", "J1", "5", domain.TypeShipping)) // at the threshold: no SMS
	j1b := pay(north, "J1b", "J1", "30", domain.TypePriceDifference)
	s.refused("jd.verify.sms", admin, j1b)
	j1b.SMSVerified = true
	s.do(admin, j1b)
	s.do(operator, domain.SetArrears{Ref: north, Kind: domain.AccountWallet, Amount: amt("12.5")})
	s.do(operator, domain.MarkPayoutProcessing{Ref: north, PayoutID: "J1a"})
	s.do(operator, domain.MarkPayoutSucceeded{Ref: north, PayoutID: "J1a"})

	// --- PDD: scan top-up, admin approval, account card, 7-day close --
	s.now = start
	s.do(operator, domain.RegisterShop{Ref: sunny, Name: "Sunny", MainAccount: "admin"})
	s.do(admin, domain.OpenFundingAccount{Ref: sunny, Kind: domain.AccountProceeds})
	s.do(operator, domain.CreditProceeds{Ref: sunny, Amount: amt("3000")})
	s.order(sunny, "G1", "80", nil)
	s.order(sunny, "G3", "60", func(o *domain.RegisterOrder) { f := s.now.AddDate(0, -4, 0); o.GroupFormedAt = &f })
	s.order(sunny, "G4", "150", nil)
	s.do(admin, pay(sunny, "Q1", "G1", "8", domain.TypeShipping))
	q3 := pay(sunny, "Q3", "G3", "5", domain.TypeShipping)
	s.refused("pdd.route.scan_only", admin, q3) // formed 4 months ago: scan only
	q3.Funding = domain.FundingScan
	s.do(admin, q3)
	q4 := pay(sunny, "Q4", "G4", "12", domain.TypePriceDifference)
	q4.SubmitForApproval = true
	s.do(csLin, q4)
	s.do(admin, domain.ApprovePayout{Ref: sunny, PayoutID: "Q4"})
	s.do(operator, domain.MarkPayoutProcessing{Ref: sunny, PayoutID: "Q1"})
	s.do(operator, domain.MarkPayoutFailed{Ref: sunny, PayoutID: "Q1", Reason: "account closed", BuyerAccount: true})
	s.now = start.Add(time.Hour) // 11:00
	s.do(timer, domain.ExpireTopUp{Ref: sunny, PayoutID: "Q3"})
	q6 := pay(sunny, "Q6", "G1", "3", domain.TypeService)
	q6.SubmitForApproval = true
	s.do(csLin, q6)
	s.do(admin, domain.RejectPayout{Ref: sunny, PayoutID: "Q6", Reason: "duplicate"})
	q7 := pay(sunny, "Q7", "G4", "6", domain.TypeOther)
	q7.SubmitForApproval = true
	s.do(csLin, q7)
	s.now = start.Add(72 * time.Hour) // Thu 26th 10:00: the account card's 72 h are over
	s.do(timer, domain.ExpireCard{Ref: sunny, ID: "Q1"})
	s.now = start.Add(7 * 24 * time.Hour) // Mon 30th 10:00: 7 days
	s.do(timer, domain.ClosePayout{Ref: sunny, PayoutID: "Q1"})
	s.now = time.Date(2026, 12, 5, 10, 0, 0, 0, shanghai) // after the due date (Thu 3rd)
	s.do(timer, domain.RefundToMerchant{Ref: sunny, PayoutID: "Q1"})

	// --- Taobao: collection cards, a shop in Berlin -------------------
	s.now = time.Date(2026, 11, 24, 6, 0, 0, 0, shanghai) // Berlin: Mon 23rd 23:00
	s.do(operator, domain.RegisterShop{Ref: moon, Name: "Moon", MainAccount: "admin", TimeZone: "Europe/Berlin"})
	s.do(admin, domain.EnrollShop{Ref: moon, AcceptAgreement: true})
	s.order(moon, "T1", "100", nil)
	s.do(csLin, domain.SendCollectionCard{Ref: moon, CollectionID: "K1", OrderID: "T1", Amount: amt("30"), Reason: domain.ReasonShippingDifference})
	s.do(csLin, domain.SendCollectionCard{Ref: moon, CollectionID: "K2", OrderID: "T1", Amount: amt("70"), Reason: domain.ReasonGoodsDifference})
	s.do(operator, domain.PayCollection{Ref: moon, CollectionID: "K1"})
	s.now = s.now.Add(2 * time.Hour) // Berlin: Tue 24th 01:00
	s.do(csLin, domain.CancelCard{Ref: moon, CollectionID: "K2"})
	s.do(csLin, domain.SendCollectionCard{Ref: moon, CollectionID: "K3", OrderID: "T1", Amount: amt("50"), Reason: domain.ReasonOtherDifference})
	s.now = s.now.Add(72 * time.Hour) // Berlin: Fri 27th 01:00
	s.do(timer, domain.ExpireCard{Ref: moon, ID: "K3"})
}

// counting counts the events a source hands out.
type counting struct {
	projections.Source
	n atomic.Int64
}

func (c *counting) ReadAll(ctx context.Context, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	recs, err := c.Source.ReadAll(ctx, from, max)
	c.n.Add(int64(len(recs)))
	return recs, err
}

// LastPosition finds the head on the store itself: the probes read single
// events, which are not what this counter measures.
func (c *counting) LastPosition(ctx context.Context) (uint64, error) {
	return projections.HeadPosition(ctx, c.Source, 0)
}

func (c *counting) Subscribe(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	return c.Source.Subscribe(ctx, from, func(r eventstore.RecordedEvent) error {
		c.n.Add(1)
		return fn(r)
	})
}

func TestProjectionsOfTheScriptedScenario(t *testing.T) {
	ctx := context.Background()
	es, err := jetstream.Open(ctx, jetstream.Config{DataDir: t.TempDir()})
	require.NoError(t, err)
	defer es.Close()
	s := &script{t: t}
	s.h = handler.New(es, handler.Config{Clock: func() time.Time { return s.now }})

	views := t.TempDir()
	rm, err := projections.OpenEmbedded(views)
	require.NoError(t, err)
	src := &counting{Source: es}
	rt, err := projections.New(projections.Config{Source: src, Store: rm, DensePositions: true, BatchEvents: 16,
		BatchInterval: 5 * time.Millisecond, HeadInterval: 5 * time.Millisecond}, projections.All()...)
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(rctx) }()

	s.play() // the runtime follows live
	head := lastPosition(t, es)
	require.Equal(t, uint64(66), head, "events appended by the script (11 + 16 + 11 + 19 + 9)")
	for {
		ok := len(rt.Status()) == 6
		for _, st := range rt.Status() {
			require.Nil(t, st.Err)
			ok = ok && st.Applied == head && st.State == projections.StateLive
		}
		if ok {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	checkScenario(t, rt)
	cancel()
	require.NoError(t, <-done)
	require.NoError(t, rm.Close())

	// A restart of the embedded store resumes from its checkpoints: no
	// event is read again.
	rm, err = projections.OpenEmbedded(views)
	require.NoError(t, err)
	defer rm.Close()
	src = &counting{Source: es}
	rt, err = projections.New(projections.Config{Source: src, Store: rm, DensePositions: true, StopAtHead: true}, projections.All()...)
	require.NoError(t, err)
	require.NoError(t, rt.Run(ctx))
	require.Zero(t, src.n.Load(), "events read after a restart at the head")
	for _, st := range rt.Status() {
		require.Equal(t, head, st.Checkpoint)
		require.Zero(t, st.Events)
	}
	checkScenario(t, rt)

	// And a fresh replay of the JetStream log equals the stored rows.
	for _, f := range projections.All() {
		sc := f().Schema()
		want, err := projections.ReplayAll(ctx, es, []projections.Factory{f}, nil)
		require.NoError(t, err)
		got, err := projections.ReadSnapshot(ctx, rm, sc)
		require.NoError(t, err)
		require.Empty(t, projections.Diff(want[sc.Projection], got), sc.Projection)
	}
}

func lastPosition(t *testing.T, es eventstore.Store) uint64 {
	h, err := projections.HeadPosition(context.Background(), es, 0)
	require.NoError(t, err)
	return h
}

func view[P projections.Projector](t *testing.T, rt *projections.Runtime, name string, fn func(P)) {
	t.Helper()
	require.NoError(t, projections.View(rt, name, func(p P) error { fn(p); return nil }))
}

func money(d *decimal.Decimal) string {
	if d == nil {
		return "-"
	}
	return domain.Money(*d)
}

func count(n *int) string {
	if n == nil {
		return "-"
	}
	return fmt.Sprint(*n)
}

func local(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.In(shanghai).Format("01-02 15:04")
}

func checkScenario(t *testing.T, rt *projections.Runtime) {
	t.Run("quota usage", func(t *testing.T) {
		view(t, rt, projections.QuotaUsageName, func(q *projections.QuotaUsage) {
			shop := func(ref domain.Ref, day string) string {
				u := q.ShopDay(ref.ShopRef, day)
				return fmt.Sprintf("%d %s proceeds %s | limit %s/%s proceeds %s ceiling %s/%s | remaining %s/%s",
					u.Count, domain.Money(u.Amount), domain.Money(u.ProceedsAmount), count(u.DailyCount), money(u.DailyAmount),
					money(u.ProceedsDaily), count(u.CeilingCount), money(u.CeilingAmount), count(u.RemainingCount()), money(u.RemainingAmount()))
			}
			// 1688: P1 45 (succeeded) counts; P4 20 expired: released.
			// Merchant daily 3000, ceiling count 1000 and amount 5000.
			require.Equal(t, "1 45.00 proceeds 0.00 | limit 1000/3000.00 proceeds - ceiling 1000/5000.00 | remaining 999/2955.00", shop(acme, "2026-11-23"))
			// Douyin: Y1 20 (pending) + Y3 45 (succeeded); Y4 455 failed:
			// released. Ceiling 15000; all from proceeds.
			require.Equal(t, "2 65.00 proceeds 65.00 | limit -/15000.00 proceeds - ceiling -/15000.00 | remaining -/14935.00", shop(panda, "2026-11-23"))
			// JD: J1a 5 (succeeded) + J1b 30 (pending); merchant count 10.
			require.Equal(t, "2 35.00 proceeds 0.00 | limit 10/- proceeds - ceiling -/- | remaining 8/-", shop(north, "2026-11-23"))
			// PDD: Q4 12 (approved, pending) + Q7 6 (awaiting approval);
			// Q1 8 closed, Q3 5 top-up failed, Q6 3 rejected: released.
			// Both from proceeds. Ceiling 5000.
			require.Equal(t, "2 18.00 proceeds 18.00 | limit -/5000.00 proceeds - ceiling -/5000.00 | remaining -/4982.00", shop(sunny, "2026-11-23"))
			// Nothing counts on the day Q1 closed: the release goes to
			// the day it was initiated.
			require.Equal(t, "0 0.00 proceeds 0.00 | limit -/5000.00 proceeds - ceiling -/5000.00 | remaining -/5000.00", shop(sunny, "2026-11-30"))
			// Taobao (Berlin): enrolled on its local 23rd, no payouts.
			require.Equal(t, "0 0.00 proceeds 0.00 | limit -/- proceeds - ceiling -/- | remaining -/-", shop(moon, "2026-11-23"))

			staff := func(ref domain.Ref, day string) string {
				u := q.StaffDay(ref.ShopRef, "cs-lin", day)
				return fmt.Sprintf("%d %s | %s/%s | remaining %s enabled %t", u.Count, domain.Money(u.Amount),
					money(u.PerPayout), money(u.PerDay), money(u.Remaining()), u.QuotaEnabled)
			}
			// 1688: P4 20 charged to cs-lin, then expired: released; no limits.
			require.Equal(t, "0 0.00 | -/- | remaining - enabled true", staff(acme, "2026-11-23"))
			// Douyin: Y1 20 of 60 (the refused Y3 left nothing).
			require.Equal(t, "1 20.00 | 50.00/60.00 | remaining 40.00 enabled true", staff(panda, "2026-11-23"))
			// PDD: approval payouts are not charged to the quota; no quota.
			require.Equal(t, "0 0.00 | -/- | remaining - enabled false", staff(sunny, "2026-11-23"))
			sq, ok := q.StaffQuota(panda.ShopRef, "cs-lin")
			require.True(t, ok)
			require.Equal(t, "50.00/60.00 true", money(sq.PerPayout)+"/"+money(sq.PerDay)+" "+fmt.Sprint(sq.Enabled))
			l, ok := q.Limits(north.ShopRef)
			require.True(t, ok)
			require.Equal(t, "Asia/Shanghai 10 -", l.TimeZone+" "+count(l.Merchant.DailyCount)+" "+money(l.Effective.DailyAmount))
			l, _ = q.Limits(moon.ShopRef)
			require.Equal(t, "Europe/Berlin", l.TimeZone)
		})
	})

	t.Run("daily shop totals", func(t *testing.T) {
		view(t, rt, projections.DailyTotalsName, func(d *projections.DailyTotals) {
			lines := func(ls []projections.DayTotal) []string {
				var out []string
				for _, l := range ls {
					out = append(out, fmt.Sprintf("%s %s %s %d %s", l.Day, l.Kind, l.Outcome, l.Count, domain.Money(l.Amount)))
				}
				return out
			}
			require.Equal(t, []string{
				"2026-11-23 price_difference initiated 1 45.00",
				"2026-11-23 price_difference succeeded 1 45.00", // confirmed by the buyer at once
				"2026-11-23 service initiated 1 20.00",
				"2026-11-26 service expired 1 20.00", // the card expired 72 h later
			}, lines(d.Payouts(acme.ShopRef, "", "")))
			require.Equal(t, []string{
				"2026-11-23 service failed 1 455.00",
				"2026-11-23 service initiated 2 500.00", // 45 + 455
				"2026-11-23 service succeeded 1 45.00",
				"2026-11-23 shipping initiated 1 20.00",
			}, lines(d.Payouts(panda.ShopRef, "", "")))
			require.Equal(t, []string{
				"2026-11-23 price_difference initiated 1 30.00",
				"2026-11-23 shipping initiated 1 5.00",
				"2026-11-23 shipping succeeded 1 5.00",
			}, lines(d.Payouts(north.ShopRef, "", "")))
			require.Equal(t, []string{
				"2026-11-23 other initiated 1 6.00",
				"2026-11-23 price_difference initiated 1 12.00",
				"2026-11-23 service initiated 1 3.00",
				"2026-11-23 service rejected 1 3.00",
				"2026-11-23 shipping initiated 2 13.00", // Q1 8 + Q3 5
				"2026-11-23 shipping top_up_failed 1 5.00",
				"2026-11-30 shipping closed 1 8.00",
				"2026-12-05 shipping refunded 1 8.00",
			}, lines(d.Payouts(sunny.ShopRef, "", "")))
			require.Equal(t, []string{"2026-11-30 shipping closed 1 8.00"}, lines(d.Payouts(sunny.ShopRef, "2026-11-24", "2026-11-30")))
			// Berlin days: sent on the 23rd 23:00, cancelled and K3 sent
			// on the 24th 01:00, K3 expired on the 27th 01:00.
			require.Equal(t, []string{
				"2026-11-23 goods_difference sent 1 70.00",
				"2026-11-23 shipping_difference paid 1 30.00",
				"2026-11-23 shipping_difference sent 1 30.00",
				"2026-11-24 goods_difference cancelled 1 70.00",
				"2026-11-24 other_difference sent 1 50.00",
				"2026-11-27 other_difference expired 1 50.00",
			}, lines(d.Collections(moon.ShopRef, "", "")))
			require.Empty(t, d.Payouts(moon.ShopRef, "", ""))
		})
	})

	t.Run("duplicate warnings", func(t *testing.T) {
		view(t, rt, projections.DuplicateWarningsName, func(w *projections.DuplicateWarnings) {
			var got []string
			for _, x := range w.Order(panda.ShopRef, "D2") {
				got = append(got, fmt.Sprintf("%s %s rule=%q payouts=%v new=%s refund=%s %s %s by=%s at=%s", x.WarningID, x.Kind, x.Rule,
					x.PayoutIDs, x.NewPayoutID, x.RefundID, domain.Money(x.Amount), x.State, x.AcknowledgedBy, local(x.AcknowledgedAt)))
			}
			require.Equal(t, []string{
				// Y4 on top of Y3, confirmed with the payout itself.
				`W1 dup.same_type rule="" payouts=[Y3] new=Y4 refund= 45.00 acknowledged by=admin at=11-23 10:01`,
				// The refund of D2 while Y3 (succeeded, 45) counts.
				`W2 dup.refund_after_payout rule="" payouts=[Y3] new= refund=R1 45.00 acknowledged by=admin at=11-23 10:01`,
			}, got)
			var sum []string
			for _, o := range w.Summary(panda.ShopRef, "D2") {
				sum = append(sum, fmt.Sprintf("%s open=%d ack=%d payouts=%v refunds=%v last=%s", o.Kind, o.Open, o.Acknowledged, o.PayoutIDs, o.RefundIDs, domain.Money(o.LastAmount)))
			}
			sort.Strings(sum)
			require.Equal(t, []string{
				"dup.refund_after_payout open=0 ack=1 payouts=[Y3] refunds=[R1] last=45.00",
				"dup.same_type open=0 ack=1 payouts=[Y3 Y4] refunds=[] last=45.00",
			}, sum)
			require.Empty(t, w.Open(panda.ShopRef))
			require.Empty(t, w.Order(sunny.ShopRef, "G1"))
		})
	})

	t.Run("payout records", func(t *testing.T) {
		view(t, rt, projections.PayoutRecordsName, func(p *projections.PayoutRecords) {
			rec := func(ref domain.Ref, id string) string {
				r, ok := p.Get(ref.ShopRef, id)
				require.True(t, ok, id)
				return fmt.Sprintf("%s %s %s %s %s by %s/%s card=%s expired=%t due=%s..%s ok=%s fail=%q decided=%s updated=%s",
					r.PayoutID, r.Status, r.Route, r.Funding, domain.Money(r.Amount), r.Staff, r.StaffRole, local(r.CardExpiresAt), r.CardExpired,
					local(r.RefundDueAt), local(r.RefundLatestAt), local(r.SucceededAt), r.FailureReason, r.DecidedBy, local(&r.UpdatedAt))
			}
			require.Equal(t, `P1 succeeded buyer_confirmation reserve 45.00 by admin/main card=- expired=false due=-..- ok=11-23 10:00 fail="" decided= updated=11-23 10:00`, rec(acme, "P1"))
			require.Equal(t, `P4 expired buyer_confirmation reserve 20.00 by cs-lin/sub card=- expired=false due=-..- ok=- fail="" decided= updated=11-26 10:00`, rec(acme, "P4"))
			require.Equal(t, `Y4 failed direct proceeds 455.00 by admin/main card=- expired=false due=-..- ok=- fail="bank" decided= updated=11-23 10:01`, rec(panda, "Y4"))
			require.Equal(t, `J1b pending sms_verified wallet 30.00 by admin/main card=- expired=false due=-..- ok=- fail="" decided= updated=11-23 10:00`, rec(north, "J1b"))
			// Q1: failed for the buyer's account (card 72 h), card expired,
			// closed after 7 days (refund due 3 to 5 business days later:
			// Mon 30th -> Thu 3rd .. Mon 7th), refunded on the 5th.
			require.Equal(t, `Q1 refunded direct proceeds 8.00 by admin/main card=11-26 10:00 expired=true due=12-03 10:00..12-07 10:00 ok=- fail="account closed" decided= updated=12-05 10:00`, rec(sunny, "Q1"))
			require.Equal(t, `Q3 top_up_failed scan_top_up scan 5.00 by admin/main card=- expired=false due=-..- ok=- fail="" decided= updated=11-23 11:00`, rec(sunny, "Q3"))
			require.Equal(t, `Q4 pending admin_approval proceeds 12.00 by cs-lin/sub card=- expired=false due=-..- ok=- fail="" decided=admin updated=11-23 10:00`, rec(sunny, "Q4"))
			require.Equal(t, `Q6 rejected admin_approval proceeds 3.00 by cs-lin/sub card=- expired=false due=-..- ok=- fail="duplicate" decided=admin updated=11-23 11:00`, rec(sunny, "Q6"))

			ids := func(f projections.RecordsFilter) []string {
				recs, err := p.Search(f)
				require.NoError(t, err)
				var out []string
				for _, r := range recs {
					out = append(out, r.Shop.ShopID+"/"+r.PayoutID)
				}
				return out
			}
			q := func(mod func(*domain.RecordsQuery)) projections.RecordsFilter {
				f := projections.RecordsFilter{}
				mod(&f.RecordsQuery)
				return f
			}
			// By staff, across shops, in initiation order (then shop).
			require.Equal(t, []string{"acme/P4", "panda/Y1", "sunny/Q4", "sunny/Q6", "sunny/Q7"}, ids(q(func(r *domain.RecordsQuery) { r.Staff = "cs-lin" })))
			require.Equal(t, []string{"acme/P4"}, ids(q(func(r *domain.RecordsQuery) { r.Status = domain.StatusExpired })))
			require.Equal(t, []string{"sunny/Q3"}, ids(q(func(r *domain.RecordsQuery) { r.Status = domain.StatusTopUpFailed })))
			require.Equal(t, []string{"sunny/Q1"}, ids(q(func(r *domain.RecordsQuery) { r.Status = domain.StatusRefunded })))
			require.Equal(t, []string{"panda/Y3", "panda/Y4"}, ids(q(func(r *domain.RecordsQuery) { r.OrderID = "D2" })))
			require.Equal(t, []string{"panda/Y4"}, ids(q(func(r *domain.RecordsQuery) { r.PayoutID = "Y4" })))
			// Initiated in [10:00:30, 11:00:00): only Y4 (10:01).
			require.Equal(t, []string{"panda/Y4"}, ids(q(func(r *domain.RecordsQuery) {
				r.From, r.To = start.Add(30*time.Second), start.Add(time.Hour)
			})))
			require.Equal(t, []string{"sunny/Q6"}, ids(q(func(r *domain.RecordsQuery) { r.Staff, r.Limit, r.From = "cs-lin", 1, start.Add(time.Minute) })))

			// JD's export: payout ID, order ID, time range, validated by
			// the platform's rule.
			jd := projections.RecordsFilter{Platform: domain.PlatformJD, ShopID: "north"}
			jd.From, jd.To = start, start.Add(24*time.Hour)
			recs, err := p.Search(jd)
			require.NoError(t, err)
			require.Len(t, recs, 2)
			jd.From, jd.To = start, start
			_, err = p.Search(jd)
			var rej *domain.Rejection
			require.True(t, errors.As(err, &rej))
			require.Equal(t, "jd.records.export", rej.Code)
			var buf bytes.Buffer
			require.NoError(t, projections.WriteRecordsCSV(&buf, recs))
			rows, err := csv.NewReader(strings.NewReader(buf.String())).ReadAll()
			require.NoError(t, err)
			require.Equal(t, projections.RecordsCSVHeader, rows[0])
			require.Equal(t, "jd,north,J1a,J1,admin,main,shipping,5.00,succeeded,sms_verified,wallet,reason J1a,2026-11-23,2026-11-23T10:00:00+08:00,2026-11-23T10:00:00+08:00,,,2026-11-23T10:00:00+08:00,,",
				strings.Join(rows[1], ","))
			require.Equal(t, "J1b", rows[2][2])
			require.Len(t, rows, 3)
		})
	})

	t.Run("approvals queue", func(t *testing.T) {
		view(t, rt, projections.ApprovalsName, func(a *projections.Approvals) {
			show := func(rs []projections.ApprovalRequest) []string {
				var out []string
				for _, r := range rs {
					out = append(out, fmt.Sprintf("%s %s %s %s by=%s at=%s %q", r.PayoutID, domain.Money(r.Amount), r.State, r.Staff, r.DecidedBy, local(r.DecidedAt), r.RejectReason))
				}
				return out
			}
			// The admin sees what waits: Q7.
			require.Equal(t, []string{`Q7 6.00 pending cs-lin by= at=- ""`}, show(a.Pending(sunny.ShopRef)))
			// The staff sees its own, in every state.
			require.Equal(t, []string{
				`Q4 12.00 approved cs-lin by=admin at=11-23 10:00 ""`,
				`Q6 3.00 rejected cs-lin by=admin at=11-23 11:00 "duplicate"`,
				`Q7 6.00 pending cs-lin by= at=- ""`,
			}, show(a.ByStaff(sunny.ShopRef, "cs-lin")))
			require.Empty(t, a.ByStaff(sunny.ShopRef, "admin"))
			require.Empty(t, a.Pending(panda.ShopRef))
		})
	})

	t.Run("funding balances", func(t *testing.T) {
		view(t, rt, projections.FundingBalancesName, func(f *projections.FundingBalances) {
			bal := func(ref domain.Ref) []string {
				var out []string
				for _, b := range f.Shop(ref.ShopRef) {
					out = append(out, fmt.Sprintf("%s balance %s frozen %s held %s available %s arrears %s", b.Kind,
						domain.Money(b.Balance), domain.Money(b.Frozen), domain.Money(b.Held), domain.Money(b.Available()), domain.Money(b.Arrears)))
				}
				return out
			}
			// 2000 - P1 45 (paid); P4's 20 held, then released at expiry.
			require.Equal(t, []string{"reserve balance 1955.00 frozen 0.00 held 0.00 available 1955.00 arrears 0.00"}, bal(acme))
			// 20000 - Y3 45 (paid); Y1 20 still held; Y4 455 released.
			require.Equal(t, []string{"proceeds balance 19955.00 frozen 0.00 held 20.00 available 19935.00 arrears 0.00"}, bal(panda))
			// 500 - J1a 5 (paid); J1b 30 held; arrears 12.50.
			require.Equal(t, []string{"wallet balance 495.00 frozen 0.00 held 30.00 available 465.00 arrears 12.50"}, bal(north))
			// 3000; Q4 12 held since its approval; Q1 8 held until its
			// refund; Q3 by scan and Q7 (awaiting approval) hold nothing.
			require.Equal(t, []string{"proceeds balance 3000.00 frozen 0.00 held 12.00 available 2988.00 arrears 0.00"}, bal(sunny))
			require.Empty(t, bal(moon))
		})
	})
}
