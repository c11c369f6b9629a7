package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// clock is the demo's virtual clock: the scenario moves it forward to show
// the timers (72-hour cards, 1-hour top-ups, 7-day close) without waiting.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

var (
	operator = domain.Actor{ID: "platform-ops", Role: domain.RoleOperator}
	timer    = domain.Actor{ID: "timer", Role: domain.RoleSystem}
	mainAcct = domain.Actor{ID: "admin", Role: domain.RoleMain}
	subAcct  = domain.Actor{ID: "cs-lin", Role: domain.RoleSub}
)

type runner struct {
	ctx      context.Context
	h        *handler.Handler
	clk      *clock
	out      io.Writer
	start    time.Time
	seq      int
	accepted int
	rejected map[string]int
	events   int
}

func amt(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func amtp(s string) *decimal.Decimal { d := amt(s); return &d }

// step sends one command and prints what the ledger decided.
func (r *runner) step(a domain.Actor, cmd domain.Command, note string) {
	r.seq++
	res, err := r.h.Handle(r.ctx, cmd, handler.Meta{Actor: a, IdempotencyKey: fmt.Sprintf("demo-%d", r.seq)})
	when := "+" + r.clk.now.Sub(r.start).String()
	who := fmt.Sprintf("%s/%s", a.Role, a.ID)
	label := cmd.CommandName()
	if note != "" {
		label += " " + note
	}
	var rej *domain.Rejection
	switch {
	case errors.As(err, &rej):
		r.rejected[rej.Code]++
		fmt.Fprintf(r.out, "  %-9s %-20s %-44s REJECTED %s\n", when, who, label, rej)
	case err != nil:
		fmt.Fprintf(r.out, "  %-9s %-20s %-44s ERROR %v\n", when, who, label, err)
	default:
		r.accepted++
		r.events += len(res.Events)
		names := make([]string, len(res.Events))
		for i, ev := range res.Events {
			names[i] = describe(ev.Data)
		}
		fmt.Fprintf(r.out, "  %-9s %-20s %-44s -> %s\n", when, who, label, strings.Join(names, ", "))
	}
}

func describe(p domain.Payload) string {
	switch e := p.(type) {
	case domain.PayoutInitiated:
		return fmt.Sprintf("PayoutInitiated(%s, %s, route %s)", domain.Money(e.Amount), e.Status, e.Route)
	case domain.DuplicateCompensationWarned:
		if e.Rule != "" {
			return fmt.Sprintf("DuplicateCompensationWarned(%s, %s)", e.Kind, e.Rule)
		}
		return fmt.Sprintf("DuplicateCompensationWarned(%s)", e.Kind)
	case domain.PayoutClosed:
		if e.RefundDueAt == nil {
			return "PayoutClosed(nothing to refund)"
		}
		return fmt.Sprintf("PayoutClosed(refund due %s)", e.RefundDueAt.Format("Mon 01-02 15:04"))
	case domain.CardExpired:
		return fmt.Sprintf("CardExpired(%s)", e.Card)
	}
	return p.EventType()
}

func (r *runner) advance(d time.Duration) { r.clk.now = r.clk.now.Add(d) }

func (r *runner) header(title string) { fmt.Fprintf(r.out, "\n== %s ==\n", title) }

func (r *runner) summary(ref domain.ShopRef) {
	s, err := r.h.State(r.ctx, ref)
	if err != nil {
		fmt.Fprintf(r.out, "  state: %v\n", err)
		return
	}
	days := make([]string, 0, len(s.Daily))
	for d := range s.Daily {
		days = append(days, d)
	}
	sort.Strings(days)
	for _, d := range days {
		t := s.Daily[d]
		fmt.Fprintf(r.out, "  daily %s %s: %d counting payouts, %s CNY\n", ref.Stream(), d, t.Count, domain.Money(t.Amount))
	}
	kinds := make([]string, 0, len(s.Accounts))
	for k := range s.Accounts {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		a := s.Accounts[domain.AccountKind(k)]
		fmt.Fprintf(r.out, "  account %-8s balance %10s  frozen %8s  held %8s  available %10s\n", k,
			domain.Money(a.Balance), domain.Money(a.Frozen), domain.Money(a.Held), domain.Money(a.Available()))
	}
}

func ref(p domain.PlatformID, shop string) domain.Ref {
	return domain.Ref{ShopRef: domain.ShopRef{Platform: p, ShopID: shop}}
}

func (r *runner) order(sh domain.Ref, id, cash, other string, mod func(*domain.RegisterOrder)) {
	placed := r.clk.now.Add(-48 * time.Hour)
	o := domain.RegisterOrder{Ref: sh, OrderID: id, Buyer: "buyer-" + id, CashPaid: amt(cash), OtherPaid: amt(other),
		Status: domain.OrderShipped, PaymentMode: "online", PaymentKind: "normal", Channel: "douyin",
		PlacedAt: placed, PaidAt: &placed, GroupFormedAt: &placed}
	if mod != nil {
		mod(&o)
	}
	r.step(operator, o, id+" "+cash+"+"+other)
}

// run plays a day (and the timers after it) across the five platforms.
func (r *runner) run() {
	r.start = r.clk.now

	r.header("Alibaba 1688 wholesale: reserve account, buyer confirms within 3 days")
	s := ref(domain.Platform1688, "acme-1688")
	r.step(operator, domain.RegisterShop{Ref: s, Name: "Acme Wholesale", MainAccount: "admin"}, "")
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "P1", OrderID: "O1", Amount: amt("10"), Type: domain.TypeShipping, Reason: "shipping"}, "before enrolling")
	r.step(mainAcct, domain.OpenFundingAccount{Ref: s, Kind: domain.AccountReserve}, "reserve")
	r.step(mainAcct, domain.TopUp{Ref: s, Kind: domain.AccountReserve, Amount: amt("2000")}, "2000")
	r.step(mainAcct, domain.EnrollShop{Ref: s, AcceptAgreement: true, Limits: domain.Limits{DailyAmount: amtp("6000")}}, "daily 6000 > ceiling")
	r.step(mainAcct, domain.EnrollShop{Ref: s, AcceptAgreement: true, Limits: domain.Limits{DailyAmount: amtp("3000")}}, "daily 3000")
	r.order(s, "O1", "90", "10", nil)
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "P1", OrderID: "O1", Amount: amt("45.01"), Type: domain.TypePriceDifference, Reason: "price drop"}, "45.01 on cash 90")
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "P1", OrderID: "O1", Amount: amt("45"), Type: domain.TypePriceDifference, Reason: "price drop"}, "45.00 on cash 90")
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "P2", OrderID: "O1", Amount: amt("5"), Type: domain.TypeShipping, Reason: "shipping"}, "second on O1")
	r.order(s, "O2", "200", "0", nil)
	r.step(subAcct, domain.InitiatePayout{Ref: s, PayoutID: "P3", OrderID: "O2", Amount: amt("5"), Type: domain.TypeShipping, Reason: "shipping"}, "by a sub without permission")
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "P4", OrderID: "O2", Amount: amt("20"), Type: domain.TypeService, Reason: "late delivery"}, "20 on O2")
	r.step(operator, domain.ConfirmByBuyer{Ref: s, PayoutID: "P1"}, "P1")
	r.advance(72 * time.Hour)
	r.step(operator, domain.ConfirmByBuyer{Ref: s, PayoutID: "P4"}, "P4 at 72h")
	r.step(timer, domain.ExpireCard{Ref: s, ID: "P4"}, "P4 at 72h")
	r.summary(s.ShopRef)

	r.clk.now = r.start
	r.header("Douyin: proceeds account, tiered per-order cap, 5 per order, one a minute")
	s = ref(domain.PlatformDouyin, "panda-dy")
	r.step(operator, domain.RegisterShop{Ref: s, Name: "Panda Tea", MainAccount: "admin"}, "")
	r.step(mainAcct, domain.OpenFundingAccount{Ref: s, Kind: domain.AccountProceeds}, "proceeds")
	r.step(operator, domain.CreditProceeds{Ref: s, Amount: amt("20000")}, "20000")
	r.step(mainAcct, domain.GrantStaffQuota{Ref: s, Staff: "cs-lin", PerPayout: amtp("50"), PerDay: amtp("60")}, "cs-lin 50/60")
	r.order(s, "D1", "15", "0", nil)
	r.order(s, "D2", "800", "0", nil)
	r.order(s, "D3", "300", "0", func(o *domain.RegisterOrder) { o.Channel = "toutiao" })
	r.step(subAcct, domain.InitiatePayout{Ref: s, PayoutID: "Y1", OrderID: "D1", Amount: amt("20"), Type: domain.TypeShipping, Reason: "shipping"}, "20 on a 15 order")
	r.step(subAcct, domain.InitiatePayout{Ref: s, PayoutID: "Y2", OrderID: "D1", Amount: amt("1"), Type: domain.TypeService, Reason: "sorry"}, "+1 on D1")
	r.step(subAcct, domain.InitiatePayout{Ref: s, PayoutID: "Y3", OrderID: "D2", Amount: amt("50.01"), Type: domain.TypeService, Reason: "sorry"}, "50.01 > per-payout 50")
	r.step(subAcct, domain.InitiatePayout{Ref: s, PayoutID: "Y3", OrderID: "D2", Amount: amt("45"), Type: domain.TypeService, Reason: "sorry"}, "45: day 65 > 60")
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "Y3", OrderID: "D2", Amount: amt("45"), Type: domain.TypeService, Reason: "sorry"}, "45 by main")
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "Y4", OrderID: "D2", Amount: amt("45"), Type: domain.TypeShipping, Reason: "shipping"}, "again within a minute")
	r.advance(time.Minute)
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "Y4", OrderID: "D2", Amount: amt("456"), Type: domain.TypeService, Reason: "broken"}, "456: 501 > cap 500")
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "Y4", OrderID: "D2", Amount: amt("455"), Type: domain.TypeService, Reason: "broken"}, "455, same type")
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "Y4", OrderID: "D2", Amount: amt("455"), Type: domain.TypeService, Reason: "broken", AcknowledgeDuplicate: true}, "455, acknowledged")
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "Y5", OrderID: "D3", Amount: amt("5"), Type: domain.TypeShipping, Reason: "shipping"}, "order from toutiao")
	r.step(operator, domain.MarkPayoutSucceeded{Ref: s, PayoutID: "Y3"}, "Y3 from pending")
	r.step(operator, domain.MarkPayoutProcessing{Ref: s, PayoutID: "Y3"}, "Y3")
	r.step(operator, domain.MarkPayoutSucceeded{Ref: s, PayoutID: "Y3"}, "Y3")
	r.step(operator, domain.MarkPayoutFailed{Ref: s, PayoutID: "Y4", Reason: "bank"}, "Y4")
	r.step(operator, domain.RecordOrderRefund{Ref: s, OrderID: "D2", RefundID: "R1", Amount: amt("800")}, "D2 refunded")
	r.summary(s.ShopRef)

	r.clk.now = r.start
	r.header("JD: enterprise wallet, SMS verification, arrears")
	s = ref(domain.PlatformJD, "north-jd")
	r.step(operator, domain.RegisterShop{Ref: s, Name: "North Electronics", MainAccount: "admin", EntityType: "natural_person", CooperationMode: "sop", AfterSalesSelfService: true}, "natural person")
	s2 := ref(domain.PlatformJD, "north-jd2")
	r.step(operator, domain.RegisterShop{Ref: s2, Name: "North Electronics Ltd", MainAccount: "admin", EntityType: "enterprise", CooperationMode: "sop", AfterSalesSelfService: true}, "enterprise")
	r.step(mainAcct, domain.EnrollShop{Ref: s, AcceptAgreement: true}, "natural-person shop")
	s = s2
	r.step(mainAcct, domain.EnrollShop{Ref: s, AcceptAgreement: true}, "before the wallet")
	r.step(mainAcct, domain.OpenFundingAccount{Ref: s, Kind: domain.AccountWallet}, "wallet")
	r.step(mainAcct, domain.TopUp{Ref: s, Kind: domain.AccountWallet, Amount: amt("500")}, "500")
	r.step(mainAcct, domain.EnrollShop{Ref: s, AcceptAgreement: true}, "")
	r.step(mainAcct, domain.SetShopLimits{Ref: s, PasswordFreeThreshold: amtp("5")}, "password-free 5")
	r.order(s, "J1", "120", "0", nil)
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "J1a", OrderID: "J1", Amount: amt("5"), Type: domain.TypeShipping, Reason: "shipping"}, "5 without SMS")
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "J1b", OrderID: "J1", Amount: amt("30"), Type: domain.TypePriceDifference, Reason: "price"}, "30 without SMS")
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "J1b", OrderID: "J1", Amount: amt("30"), Type: domain.TypePriceDifference, Reason: "price", SMSVerified: true}, "30 with SMS")
	r.step(operator, domain.SetArrears{Ref: s, Kind: domain.AccountWallet, Amount: amt("12.5")}, "arrears 12.50")
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "J1c", OrderID: "J1", Amount: amt("3"), Type: domain.TypeService, Reason: "sorry"}, "3 with arrears")
	r.summary(s.ShopRef)

	r.clk.now = r.start
	r.header("Pinduoduo: proceeds balance or scan-to-pay, admin approval, account cards, 7-day close")
	s = ref(domain.PlatformPDD, "sunny-pdd")
	r.step(operator, domain.RegisterShop{Ref: s, Name: "Sunny Fruit", MainAccount: "admin"}, "")
	r.step(mainAcct, domain.OpenFundingAccount{Ref: s, Kind: domain.AccountProceeds}, "proceeds")
	r.step(operator, domain.CreditProceeds{Ref: s, Amount: amt("3000")}, "3000")
	r.order(s, "G1", "80", "0", nil)
	r.order(s, "G2", "60", "0", func(o *domain.RegisterOrder) { o.GroupFormedAt = nil })
	r.order(s, "G3", "60", "0", func(o *domain.RegisterOrder) { t := r.clk.now.AddDate(0, -4, 0); o.GroupFormedAt = &t })
	r.order(s, "G4", "150", "0", nil)
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "Q1", OrderID: "G1", Amount: amt("8"), Type: domain.TypeShipping}, "no reason")
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "Q1", OrderID: "G1", Amount: amt("8"), Type: domain.TypeShipping, Reason: "return shipping"}, "8")
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "Q2", OrderID: "G2", Amount: amt("5"), Type: domain.TypeShipping, Reason: "shipping"}, "group not formed")
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "Q3", OrderID: "G3", Amount: amt("5"), Type: domain.TypeShipping, Reason: "shipping"}, "formed 4 months ago")
	r.step(mainAcct, domain.InitiatePayout{Ref: s, PayoutID: "Q3", OrderID: "G3", Amount: amt("5"), Type: domain.TypeShipping, Reason: "shipping", Funding: domain.FundingScan}, "by scan")
	r.step(subAcct, domain.InitiatePayout{Ref: s, PayoutID: "Q4", OrderID: "G4", Amount: amt("12"), Type: domain.TypePriceDifference, Reason: "price"}, "sub without quota")
	r.step(subAcct, domain.InitiatePayout{Ref: s, PayoutID: "Q4", OrderID: "G4", Amount: amt("12"), Type: domain.TypePriceDifference, Reason: "price", SubmitForApproval: true}, "for approval")
	r.step(subAcct, domain.InitiatePayout{Ref: s, PayoutID: "Q5", OrderID: "G1", Amount: amt("3"), Type: domain.TypeService, Reason: "sorry", SubmitForApproval: true}, "G1 again within a minute")
	r.step(subAcct, domain.ApprovePayout{Ref: s, PayoutID: "Q4"}, "by the sub")
	r.step(mainAcct, domain.ApprovePayout{Ref: s, PayoutID: "Q4"}, "by the admin")
	r.step(operator, domain.MarkPayoutProcessing{Ref: s, PayoutID: "Q1"}, "Q1")
	r.step(operator, domain.MarkPayoutFailed{Ref: s, PayoutID: "Q1", Reason: "buyer account closed", BuyerAccount: true}, "Q1 buyer account")
	r.advance(time.Hour)
	r.step(operator, domain.CompleteTopUp{Ref: s, PayoutID: "Q3"}, "Q3 at 1h")
	r.step(timer, domain.ExpireTopUp{Ref: s, PayoutID: "Q3"}, "Q3 at 1h")
	r.advance(71 * time.Hour)
	r.step(timer, domain.ExpireCard{Ref: s, ID: "Q1"}, "Q1 account card at 72h")
	r.step(operator, domain.SubmitBuyerAccount{Ref: s, PayoutID: "Q1"}, "Q1 late")
	r.advance(4 * 24 * time.Hour)
	r.step(timer, domain.ClosePayout{Ref: s, PayoutID: "Q1"}, "Q1 at 7 days")
	r.advance(5 * 24 * time.Hour)
	r.step(timer, domain.RefundToMerchant{Ref: s, PayoutID: "Q1"}, "Q1")
	r.summary(s.ShopRef)

	r.clk.now = r.start
	r.header("Taobao: collection cards (buyer pays the merchant), 72-hour window")
	s = ref(domain.PlatformTaobao, "moon-tb")
	r.step(operator, domain.RegisterShop{Ref: s, Name: "Moon Crafts", MainAccount: "admin"}, "")
	r.step(mainAcct, domain.EnrollShop{Ref: s, AcceptAgreement: true}, "")
	r.order(s, "T1", "100", "0", nil)
	r.step(subAcct, domain.SendCollectionCard{Ref: s, CollectionID: "K1", OrderID: "T1", Amount: amt("30"), Reason: domain.ReasonShippingDifference}, "30")
	r.step(subAcct, domain.SendCollectionCard{Ref: s, CollectionID: "K2", OrderID: "T1", Amount: amt("70.01"), Reason: domain.ReasonGoodsDifference}, "70.01")
	r.step(subAcct, domain.SendCollectionCard{Ref: s, CollectionID: "K2", OrderID: "T1", Amount: amt("70"), Reason: "gift wrap"}, "custom reason")
	r.step(subAcct, domain.SendCollectionCard{Ref: s, CollectionID: "K2", OrderID: "T1", Amount: amt("70"), Reason: domain.ReasonGoodsDifference}, "70")
	r.step(operator, domain.PayCollection{Ref: s, CollectionID: "K1"}, "K1")
	r.step(subAcct, domain.CancelCard{Ref: s, CollectionID: "K1"}, "K1 (paid)")
	r.advance(72 * time.Hour)
	r.step(operator, domain.PayCollection{Ref: s, CollectionID: "K2"}, "K2 at 72h")
	r.step(timer, domain.ExpireCard{Ref: s, ID: "K2"}, "K2 at 72h")

	codes := make([]string, 0, len(r.rejected))
	for c := range r.rejected {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	fmt.Fprintf(r.out, "\n%d commands accepted (%d events appended), %d rejected by rule:\n", r.accepted, r.events, len(codes))
	for _, c := range codes {
		fmt.Fprintf(r.out, "  %-28s %d\n", c, r.rejected[c])
	}
}
