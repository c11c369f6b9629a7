package domain

import (
	"sort"
	"time"
)

func intp(n int) *int { return &n }

// Profiles are the five platforms of RULES.md. Every number here is a
// RULES.md parameter with its default; where a guide gives none the default
// is marked so in docs/rules.md.
var profiles = map[PlatformID]*Profile{
	Platform1688:   profile1688(),
	PlatformDouyin: profileDouyin(),
	PlatformJD:     profileJD(),
	PlatformPDD:    profilePDD(),
	PlatformTaobao: profileTaobao(),
}

// LookupProfile returns the profile of a platform.
func LookupProfile(p PlatformID) (*Profile, bool) {
	pr, ok := profiles[p]
	return pr, ok
}

// Platforms lists the known platforms in a stable order.
func Platforms() []PlatformID {
	out := make([]PlatformID, 0, len(profiles))
	for p := range profiles {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// RegisterProfile adds a platform (a sixth platform is data). It is meant
// for start-up configuration and tests; it is not safe to call while
// commands are being decided.
func RegisterProfile(p *Profile) { profiles[p.Platform] = p }

func profile1688() *Profile {
	return &Profile{
		Platform:       Platform1688,
		Direction:      DirectionPayout,
		Funding:        []AccountKind{AccountReserve},
		TopUpKinds:     []AccountKind{AccountReserve},
		DefaultFunding: AccountReserve,
		Ceilings: Limits{
			PerOrderMax:   decp("1000"),
			PerOrderCount: intp(1),
			DailyCount:    intp(1000),
			DailyAmount:   decp("5000"),
		},
		LimitCodes: LimitCodes{
			PerOrderMax:   "1688.payout.order_max",
			PerOrderCount: "1688.order.count",
			DailyCount:    "1688.shop.daily_count",
			DailyAmount:   "1688.shop.daily_amount",
		},
		Agreement:    &Rule{Code: "1688.enroll.agreement"},
		OrderStatus:  &StatusRule{Code: "1688.order.status", Allowed: []OrderStatus{OrderPaid, OrderShipped, OrderReceived}},
		PaymentKind:  &StringsRule{Code: "1688.order.payment_kind", Forbidden: []string{"consignment_split", "deferred_term", "credit"}},
		CashShare:    &ShareRule{Code: "1688.payout.half_cash", Percent: dec("50")},
		OrderCount:   &CountRule{CountReleased: true},
		Staff:        &StaffRules{PermissionCode: "1688.staff.permission", ManageCode: "1688.staff.permission"},
		Funds:        FundsRules{InsufficientCode: "1688.funds.insufficient", NoAccountCode: "1688.funds.insufficient"},
		Confirmation: &WindowRule{Code: "1688.confirm.window", Window: 72 * time.Hour},
	}
}

func profileDouyin() *Profile {
	return &Profile{
		Platform:       PlatformDouyin,
		Direction:      DirectionPayout,
		Funding:        []AccountKind{AccountProceeds, AccountReserve},
		TopUpKinds:     []AccountKind{AccountReserve},
		DefaultFunding: AccountProceeds,
		Ceilings: Limits{
			PerOrderCount: intp(5),
			DailyAmount:   decp("15000"),
		},
		LimitCodes: LimitCodes{
			PerOrderCount: "dy.order.count",
			DailyAmount:   "dy.shop.daily_amount",
		},
		ShopStatus:      &Rule{Code: "dy.shop.status"},
		PersonalAccount: &KindsRule{Code: "dy.shop.personal_account", Kinds: []AccountKind{AccountReserve}},
		Channel: &StringsRule{Code: "dy.order.channel", Allowed: []string{
			"douyin", "douyin_lite", "douyin_volcano", "douyin_search", "douyin_selected", "douyin_mall"}},
		PaymentMode: &StringsRule{Code: "dy.order.payment_mode", Allowed: []string{"online"}},
		OrderAge:    &AgeRule{Code: "dy.order.age", MaxMonths: 12, Basis: AgeFromPlaced},
		CrossBorder: &Rule{Code: "dy.order.cross_border"},
		OrderCap: &TieredCapRule{Code: "dy.order.cap", Tiers: []CapTier{
			{UpTo: decp("20"), Cap: decp("20")},
			{UpTo: decp("500"), Cap: nil}, // the order amount itself
			{UpTo: nil, Cap: decp("500")},
		}},
		OrderCount: &CountRule{},
		OrderRate:  &RateRule{Code: "dy.order.rate", Window: time.Minute},
		Staff: &StaffRules{PermissionCode: "dy.staff.permission", PerPayoutCode: "dy.staff.per_payout",
			DailyCode: "dy.staff.daily", ManageCode: "dy.staff.permission"},
		Funds:     FundsRules{InsufficientCode: "dy.funds.insufficient", NoAccountCode: "dy.funds.no_account"},
		Lifecycle: &LifecycleRule{Code: "dy.lifecycle", RequireProcessing: true},
	}
}

func profileJD() *Profile {
	return &Profile{
		Platform:       PlatformJD,
		Direction:      DirectionPayout,
		Funding:        []AccountKind{AccountWallet},
		TopUpKinds:     []AccountKind{AccountWallet},
		DefaultFunding: AccountWallet,
		// jd.limits: the guide says amount, time and count limits exist but
		// gives no numbers: unlimited by default, settable by the merchant.
		LimitCodes: LimitCodes{
			PerPayoutMax:  "jd.limits",
			PerOrderMax:   "jd.limits",
			PerOrderCount: "jd.limits",
			DailyCount:    "jd.limits",
			DailyAmount:   "jd.limits",
		},
		Agreement: &Rule{Code: "jd.enroll.agreement"},
		Enrollment: &EnrollmentRules{
			ShopTypeCode:    "jd.enroll.shop_type",
			AllowedEntities: []string{"jingxi_enterprise", "jingxi_individual", "small_shop_individual", "enterprise"},
			AllowedModes:    []string{"sop"},
			AfterSalesCode:  "jd.enroll.after_sales",
			WalletCode:      "jd.enroll.wallet",
			WalletKind:      AccountWallet,
		},
		Arrears:     &Rule{Code: "jd.funds.arrears"},
		OrderStatus: &StatusRule{Code: "jd.order.status", Forbidden: []OrderStatus{OrderUnpaid, OrderLocked, OrderCancelling, OrderCancelled}},
		OrderCount:  &CountRule{},
		Staff: &StaffRules{PermissionCode: "jd.staff.permission", PerPayoutCode: "jd.staff.per_payout",
			DailyCode: "jd.staff.daily", ManageCode: "jd.staff.permission"},
		Funds:   FundsRules{InsufficientCode: "jd.funds.insufficient", NoAccountCode: "jd.funds.insufficient"},
		SMS:     &Rule{Code: "jd.verify.sms"},
		Records: &RecordsRule{Code: "jd.records.export"},
	}
}

func profilePDD() *Profile {
	return &Profile{
		Platform:       PlatformPDD,
		Direction:      DirectionPayout,
		Funding:        []AccountKind{AccountProceeds},
		DefaultFunding: AccountProceeds,
		Ceilings: Limits{
			PerOrderCount: intp(3),
			DailyAmount:   decp("5000"), // the guide gives no number
		},
		LimitCodes: LimitCodes{
			PerOrderCount:       "pdd.order.count",
			DailyAmount:         "pdd.shop.daily_amount",
			ProceedsDailyAmount: "pdd.route.scan_only",
		},
		UnpaidBills:       &Rule{Code: "pdd.shop.unpaid_bills"},
		GroupFormed:       &Rule{Code: "pdd.order.group"},
		OrderAge:          &AgeRule{Code: "pdd.order.age", MaxMonths: 12, Basis: AgeFromGroupFormed},
		InputRequired:     &Rule{Code: "pdd.input.required"},
		PayoutMin:         &AmountRule{Code: "pdd.payout.min", Amount: dec("1")},
		PayoutMax:         &ActivityRule{Code: "pdd.payout.max", Normal: dec("200"), Activity: dec("100")}, // the guide gives no numbers
		OrderCount:        &CountRule{},
		OrderRate:         &RateRule{Code: "pdd.order.rate", Window: time.Minute},
		Staff:             &StaffRules{ScanOnExceed: true},
		Funds:             FundsRules{},
		Approval:          &Rule{Code: "pdd.route.approval"},
		ScanRoute:         &ScanRule{Code: "pdd.route.scan_only", FormedFromMonths: 3},
		TopUp:             &WindowRule{Code: "pdd.topup.window", Window: time.Hour},
		AccountCard:       &WindowRule{Code: "pdd.fail.account_card", Window: 72 * time.Hour},
		Close:             &CloseRule{Code: "pdd.fail.close", After: 7 * 24 * time.Hour, RefundMinDays: 3, RefundMaxDays: 5},
		RefundNotReturned: &Rule{Code: "pdd.refund.not_returned"},
	}
}

func profileTaobao() *Profile {
	return &Profile{
		Platform:  PlatformTaobao,
		Direction: DirectionCollection,
		Agreement: &Rule{Code: "tb.enroll.agreement"},
		Collection: &CollectionRules{
			ReasonCode:     "tb.collect.reason",
			Reasons:        []CollectionReason{ReasonShippingDifference, ReasonGoodsDifference, ReasonOtherDifference},
			OrderTotalCode: "tb.collect.order_total",
			Card:           WindowRule{Code: "tb.card.window", Window: 72 * time.Hour},
			CancelCode:     "tb.card.cancel",
		},
	}
}
