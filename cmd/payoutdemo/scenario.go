package main

import (
	"net/http"
	"time"

	"github.com/payoutledger/ledger/adapters/timers"
	"github.com/payoutledger/ledger/domain"
)

// Statuses of accepted commands: 201 when a POST creates a resource in a
// collection (a shop, an account, a payout, a collection card, a quota, a
// refund), 200 for everything else.
var (
	created = accepted(http.StatusCreated)
	done    = accepted(http.StatusOK)
)

const rfc3339 = time.RFC3339

// order records (or updates) an order as the platform's order system
// reports it: paid and shipped two days ago (and the group formed then,
// on PDD). edit changes the body for the orders that differ.
func (d *demo) order(s shopRef, id, cash string, edit func(obj)) {
	placed := d.clk.Now().Add(-48 * time.Hour).Format(rfc3339)
	body := obj{"buyer": "buyer-" + id, "cash_paid": cash, "other_paid": "0", "status": string(domain.OrderShipped),
		"payment_mode": "online", "payment_kind": "normal", "placed_at": placed, "paid_at": placed}
	switch s.platform {
	case domain.PlatformDouyin:
		body["channel"] = "douyin"
	case domain.PlatformPDD:
		body["group_formed_at"] = placed
	}
	if edit != nil {
		edit(body)
	}
	d.step(d.tok.op(s), "PUT", s.path()+"/orders/"+id, body, done, "order "+id+", cash "+cash)
}

// payout is the body of an InitiatePayout.
func payout(id, order, amount string, t domain.PayoutType, reason string) obj {
	return obj{"payout_id": id, "order_id": order, "amount": amount, "type": string(t), "reason": reason}
}

// with returns b with more fields.
func with(b obj, kv ...any) obj {
	out := obj{}
	for k, v := range b {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// register registers a shop (operator) with the extra attributes given.
func (d *demo) register(s shopRef, name string, kv ...any) {
	body := with(obj{"platform": string(s.platform), "shop_id": s.id, "name": name, "main_account": mainAccount}, kv...)
	d.step(d.tok.op(s), "POST", "/v1/shops", body, created, "")
}

// play is the day (and the days after it) across the five platforms.
// Every step declares the answer it expects.
func (d *demo) play() {
	start := d.clk.Now()
	at := func(days int, hh, mm int) time.Time {
		y, m, dd := start.Date()
		return time.Date(y, m, dd+days, hh, mm, 0, 0, start.Location())
	}
	d.day1688()
	d.clk.set(at(0, 10, 30))
	d.dayDouyin()
	d.clk.set(at(0, 11, 0))
	d.dayJD()
	d.clk.set(at(0, 14, 0))
	d.dayPDD(at(0, 15, 0))
	d.clk.set(at(0, 16, 0))
	d.dayTaobao()

	// The days after: the clock moves from deadline to deadline and the
	// timers of payoutd fire the commands nobody else sends.
	op1688, opPDD, opTB := d.tok.op(acme1688), d.tok.op(sunnyPDD), d.tok.op(moonTB)
	d.header("The days after: the timers")
	d.advance(at(3, 10, 0), "the 3-day buyer confirmation of 1688 payout P4 ends",
		timer(timers.KindConfirmation, acme1688, "P4", at(3, 10, 0)))
	d.step(op1688, "POST", acme1688.path()+"/payouts/P4/confirm", nil, rule(domain.CodeIllegalTransition), "the buyer confirms after the timer expired P4")
	d.advance(at(3, 14, 0), "the 72-hour account card of PDD payout Q1 ends",
		timer(timers.KindAccountCard, sunnyPDD, "Q1", at(3, 14, 0)))
	d.step(opPDD, "POST", sunnyPDD.path()+"/payouts/Q1/buyer-account", nil, rule("pdd.fail.account_card"), "the buyer fills in the expired card; the merchant may resend one")
	d.advance(at(3, 16, 0), "the 72-hour Taobao collection card K2 ends",
		timer(timers.KindCollectionCard, moonTB, "K2", at(3, 16, 0)))
	d.step(opTB, "POST", moonTB.path()+"/collections/K2/pay", nil, rule(domain.CodeIllegalTransition), "the buyer pays after the timer expired K2")
	d.advance(at(7, 14, 0), "7 days after initiation, PDD payout Q1 has not succeeded: it closes",
		timer(timers.KindClose, sunnyPDD, "Q1", at(7, 14, 0)))
	// Monday 14:00 plus 3 business days: Thursday 14:00.
	d.advance(at(10, 14, 0), "Q1's money is due back to the merchant 3 business days after the close",
		timer(timers.KindRefund, sunnyPDD, "Q1", at(10, 14, 0)))
	d.step(d.tok.sub[sunnyPDD], "POST", sunnyPDD.path()+"/payouts",
		with(payout("Q7", "G4", "6", domain.TypeService, "late delivery"), "submit_for_approval", true), created, "a new request waits in the admin's queue")
}

func (d *demo) day1688() {
	s := acme1688
	main, sub, op := d.tok.main[s], d.tok.sub[s], d.tok.op(s)
	pay := s.path() + "/payouts"
	d.header("Alibaba 1688 wholesale: reserve account, one payout per order, the buyer confirms within 3 days")
	d.register(s, "Acme Wholesale")
	d.step(main, "POST", pay, payout("P1", "O1", "10", domain.TypeShipping, "shipping"), rule("1688.enroll.agreement"), "before enrolling")
	d.step(main, "POST", s.path()+"/accounts", obj{"kind": "reserve"}, created, "")
	d.step(main, "POST", s.path()+"/accounts/reserve/top-ups", obj{"amount": "2000"}, done, "")
	d.step(main, "POST", s.path()+"/enrollment", obj{"accept_agreement": true, "limits": obj{"daily_amount": "6000"}},
		rule(domain.CodeLimitsAboveCeil), "daily limit 6000 above the platform's 5000")
	d.step(main, "POST", s.path()+"/enrollment", obj{"accept_agreement": true, "limits": obj{"daily_amount": "3000"}}, done, "daily limit 3000")
	d.order(s, "O1", "90", func(b obj) { b["other_paid"] = "10" }) // and 10 in red packets
	d.step(main, "POST", pay, payout("P1", "O1", "45.01", domain.TypePriceDifference, "price drop"), rule("1688.payout.half_cash"), "45.01 on cash 90")
	d.step(main, "POST", pay, payout("P1", "O1", "45", domain.TypePriceDifference, "price drop"), created, "45.00 on cash 90")
	d.step(main, "POST", pay, payout("P2", "O1", "5", domain.TypeShipping, "shipping"), rule("1688.order.count"), "a second payout on O1")
	d.order(s, "O2", "200", nil)
	d.step(sub, "POST", pay, payout("P3", "O2", "5", domain.TypeShipping, "shipping"), rule("1688.staff.permission"), "the sub-account has no permission")
	d.step(main, "POST", pay, payout("P4", "O2", "20", domain.TypeService, "late delivery"), created, "the buyer never confirms this one")
	d.step(op, "POST", pay+"/P1/confirm", nil, done, "the buyer confirms P1")
}

func (d *demo) dayDouyin() {
	s := pandaDY
	main, sub, op := d.tok.main[s], d.tok.sub[s], d.tok.op(s)
	pay := s.path() + "/payouts"
	d.header("Douyin: proceeds account, tiered per-order cap, staff quotas, one payout per order a minute")
	d.register(s, "Panda Tea")
	d.step(main, "POST", s.path()+"/accounts", obj{"kind": "proceeds"}, created, "")
	d.step(op, "POST", s.path()+"/accounts/proceeds/credits", obj{"amount": "20000"}, done, "sales proceeds settle")
	d.step(main, "POST", s.path()+"/staff/cs-lin/quota", obj{"per_payout": "50", "per_day": "60"}, created, "quota: 50 a payout, 60 a day")
	d.step(sub, "PUT", s.path()+"/staff/cs-lin/quota", obj{"per_payout": "500", "per_day": "1000"}, rule("dy.staff.permission"),
		"a sub-account may not manage quotas, not even its own")
	d.order(s, "D1", "15", nil)
	d.order(s, "D2", "800", nil)
	d.order(s, "D3", "300", func(b obj) { b["channel"] = "toutiao" })
	d.step(sub, "POST", pay, payout("Y1", "D1", "20", domain.TypeShipping, "shipping"), created, "20 on a 15 order: the <=20 tier allows 20")
	d.step(sub, "POST", pay, payout("Y2", "D1", "1", domain.TypeService, "sorry"), rule("dy.order.rate"), "D1 again within a minute")
	d.step(sub, "POST", pay, payout("Y3", "D2", "50.01", domain.TypeService, "sorry"), rule("dy.staff.per_payout"), "")
	d.step(sub, "POST", pay, payout("Y3", "D2", "45", domain.TypeService, "sorry"), rule("dy.staff.daily"), "20 + 45 above 60 a day")
	d.step(main, "POST", pay, payout("Y3", "D2", "45", domain.TypeService, "sorry"), created, "the main account has no quota")
	d.retry(expect{status: http.StatusCreated, replay: true}, "the answer was lost: the client retries with the same Idempotency-Key")
	d.step(main, "POST", pay, payout("Y4", "D2", "45", domain.TypeShipping, "shipping"), rule("dy.order.rate"), "D2 again within a minute")
	d.advance(d.clk.Now().Add(time.Minute), "one minute later")
	d.step(main, "POST", pay, payout("Y4", "D2", "456", domain.TypeService, "broken"), rule("dy.order.cap"), "45 + 456 above the 500 cap of an order over 500")
	d.step(main, "POST", pay, payout("Y4", "D2", "455", domain.TypeService, "broken"), rule(domain.CodeDupSameType), "a second service payout on D2")
	d.step(main, "POST", pay, with(payout("Y4", "D2", "455", domain.TypeService, "broken"), "acknowledge_duplicate", true), created,
		"the merchant confirms the duplicate")
	d.step(main, "POST", pay, payout("Y5", "D3", "5", domain.TypeShipping, "shipping"), rule("dy.order.channel"), "an order from Toutiao")
	d.step(op, "POST", pay+"/Y3/succeeded", nil, rule("dy.lifecycle"), "payment results: succeeded before processing")
	d.step(op, "POST", pay+"/Y3/processing", nil, done, "")
	d.step(op, "POST", pay+"/Y3/succeeded", nil, done, "")
	d.step(op, "POST", pay+"/Y4/failed", obj{"reason": "bank rejected"}, done, "")
	d.step(op, "POST", s.path()+"/orders/D2/refunds", obj{"refund_id": "R1", "amount": "800"}, created, "the buyer is refunded after two payouts")
	d.step(anonymous, "POST", pay, payout("Y6", "D1", "1", domain.TypeService, "sorry"), refused(http.StatusUnauthorized, "auth.missing_token"), "")
}

func (d *demo) dayJD() {
	person, s := northJD, northJD2
	main, sub, op := d.tok.main[s], d.tok.sub[s], d.tok.op(s)
	pay := s.path() + "/payouts"
	d.header("JD: enterprise wallet, SMS verification above the password-free threshold, arrears")
	d.register(person, "North Electronics", "entity_type", "natural_person", "cooperation_mode", "sop", "after_sales_self_service", true)
	d.register(s, "North Electronics Ltd", "entity_type", "enterprise", "cooperation_mode", "sop", "after_sales_self_service", true)
	d.step(d.tok.main[person], "POST", person.path()+"/enrollment", obj{"accept_agreement": true}, rule("jd.enroll.shop_type"), "a natural-person shop")
	d.step(main, "POST", s.path()+"/enrollment", obj{"accept_agreement": true}, rule("jd.enroll.wallet"), "before the wallet is opened")
	d.step(main, "POST", s.path()+"/accounts", obj{"kind": "wallet"}, created, "")
	d.step(main, "POST", s.path()+"/accounts/wallet/top-ups", obj{"amount": "500"}, done, "")
	d.step(sub, "POST", s.path()+"/accounts/wallet/top-ups", obj{"amount": "500"}, refused(http.StatusForbidden, "auth.forbidden"),
		"top-ups are the main account's")
	d.step(main, "POST", s.path()+"/enrollment", obj{"accept_agreement": true}, done, "")
	d.step(main, "PUT", s.path()+"/limits", obj{"password_free_threshold": "5"}, done, "no SMS code up to 5")
	d.order(s, "J1", "120", nil)
	d.order(s, "J2", "1000", nil)
	d.step(main, "POST", pay, payout("J1a", "J1", "5", domain.TypeShipping, "shipping"), created, "5 without an SMS code")
	d.step(main, "POST", pay, payout("J1b", "J1", "30", domain.TypePriceDifference, "price"), rule("jd.verify.sms"), "30 without an SMS code")
	d.step(main, "POST", pay, with(payout("J1b", "J1", "30", domain.TypePriceDifference, "price"), "sms_verified", true), created, "30 with the SMS code")
	d.step(main, "POST", pay, with(payout("J2a", "J2", "480", domain.TypeService, "broken screen"), "sms_verified", true),
		rule("jd.funds.insufficient"), "500 in the wallet, 35 held")
	d.step(op, "POST", pay+"/J1a/processing", nil, done, "")
	d.step(op, "POST", pay+"/J1a/succeeded", nil, done, "")
	d.step(op, "PUT", s.path()+"/accounts/wallet/arrears", obj{"amount": "12.5"}, done, "the merchant account owes 12.50")
	d.step(main, "POST", pay, payout("J1c", "J1", "3", domain.TypeService, "sorry"), rule("jd.funds.arrears"), "")
}

func (d *demo) dayPDD(topUpDue time.Time) {
	s := sunnyPDD
	main, sub, op := d.tok.main[s], d.tok.sub[s], d.tok.op(s)
	pay := s.path() + "/payouts"
	d.header("Pinduoduo: goods balance or scan-to-pay, admin approval, account cards, the 7-day close")
	d.register(s, "Sunny Fruit")
	d.step(main, "POST", s.path()+"/accounts", obj{"kind": "proceeds"}, created, "")
	d.step(op, "POST", s.path()+"/accounts/proceeds/credits", obj{"amount": "3000"}, done, "")
	d.order(s, "G1", "80", nil)
	d.order(s, "G2", "60", func(b obj) { delete(b, "group_formed_at") })
	d.order(s, "G3", "60", func(b obj) { b["group_formed_at"] = d.clk.Now().AddDate(0, -4, 0).Format(rfc3339) })
	d.order(s, "G4", "150", nil)
	d.order(s, "G5", "90", nil)
	d.step(main, "POST", pay, payout("Q1", "G1", "8", domain.TypeShipping, ""), rule("pdd.input.required"), "no reason")
	d.step(main, "POST", pay, payout("Q1", "G1", "8", domain.TypeShipping, "return shipping"), created, "")
	d.step(main, "POST", pay, payout("Q2", "G2", "5", domain.TypeShipping, "shipping"), rule("pdd.order.group"), "the group is not formed")
	d.step(main, "POST", pay, payout("Q3", "G3", "5", domain.TypeShipping, "shipping"), rule("pdd.route.scan_only"), "the group formed 4 months ago")
	d.step(main, "POST", pay, with(payout("Q3", "G3", "5", domain.TypeShipping, "shipping"), "funding", string(domain.FundingScan)), created,
		"paid by scanning a QR code within the hour")
	d.step(sub, "POST", pay, payout("Q4", "G4", "12", domain.TypePriceDifference, "price"), rule("pdd.route.scan_only"), "a sub-account without a quota")
	d.step(sub, "POST", pay, with(payout("Q4", "G4", "12", domain.TypePriceDifference, "price"), "submit_for_approval", true), created,
		"... submits it for the admin's approval instead")
	d.step(sub, "POST", pay, with(payout("Q5", "G1", "3", domain.TypeService, "sorry"), "submit_for_approval", true), rule("pdd.order.rate"), "G1 again within a minute")
	d.step(sub, "POST", pay, with(payout("Q6", "G5", "30", domain.TypeOther, "goodwill"), "submit_for_approval", true), created, "")
	d.step(sub, "POST", pay+"/Q4/approve", nil, rule("pdd.route.approval"), "a sub-account approves its own request")
	d.step(main, "POST", pay+"/Q4/approve", nil, done, "")
	d.step(main, "POST", pay+"/Q6/reject", obj{"reason": "not our fault"}, done, "")
	d.step(op, "POST", pay+"/Q4/processing", nil, done, "")
	d.step(op, "POST", pay+"/Q4/succeeded", nil, done, "")
	d.step(op, "POST", pay+"/Q1/processing", nil, done, "")
	d.step(op, "POST", pay+"/Q1/failed", obj{"reason": "buyer account closed", "buyer_account": true}, done, "an account card goes to the buyer")
	d.advance(topUpDue, "the 1-hour top-up window of Q3 ends unpaid", timer(timers.KindTopUp, s, "Q3", topUpDue))
	d.step(op, "POST", pay+"/Q3/top-up", nil, rule(domain.CodeIllegalTransition), "the merchant pays the QR code after the window")
}

func (d *demo) dayTaobao() {
	s := moonTB
	main, sub, op := d.tok.main[s], d.tok.sub[s], d.tok.op(s)
	col := s.path() + "/collections"
	d.header("Taobao: collection cards (the buyer pays the merchant a difference), 72 hours to pay")
	d.register(s, "Moon Crafts")
	d.step(main, "POST", s.path()+"/enrollment", obj{"accept_agreement": true}, done, "")
	d.order(s, "T1", "100", nil)
	card := func(id, amount string, reason domain.CollectionReason) obj {
		return obj{"collection_id": id, "order_id": "T1", "amount": amount, "reason": string(reason)}
	}
	d.step(sub, "POST", col, card("K1", "30", domain.ReasonShippingDifference), created, "")
	d.step(sub, "POST", col, card("K2", "70.01", domain.ReasonGoodsDifference), rule("tb.collect.order_total"), "30 + 70.01 above the order's 100")
	d.step(sub, "POST", col, card("K2", "70", "gift wrap"), rule("tb.collect.reason"), "a custom reason")
	d.step(sub, "POST", col, card("K2", "70", domain.ReasonGoodsDifference), created, "the buyer never pays this one")
	d.step(op, "POST", col+"/K1/pay", nil, done, "the buyer pays K1")
	d.step(sub, "POST", col+"/K1/cancel", nil, rule("tb.card.cancel"), "a paid card")
}
