package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/domain"
)

var (
	operator = domain.Actor{ID: "platform-ops", Role: domain.RoleOperator}
	admin    = domain.Actor{ID: "admin", Role: domain.RoleMain}
	timer    = domain.Actor{ID: "timer", Role: domain.RoleSystem}
	// Sub-accounts of the mix: staffQuota pays normal payouts on Douyin
	// (per-payout 50 CNY, a day far away) and is refused above 50;
	// staffDaily has a 20 CNY day on JD that the mix spends once a day
	// (the fill), then is refused for quota exhausted.
	staffQuota = domain.Actor{ID: "cs-a", Role: domain.RoleSub}
	staffDaily = domain.Actor{ID: "cs-q", Role: domain.RoleSub}
)

// payoutTypes rotate per order so that an order's first five payouts are
// of five different types: no duplicate-compensation warning (an extra
// event) until an order has had all five.
var payoutTypes = []domain.PayoutType{
	domain.TypeShipping, domain.TypePriceDifference, domain.TypeService,
	domain.TypeActivityCompensation, domain.TypeOther,
}

// big is a balance and a daily limit no benchmark run reaches.
var big = decimal.NewFromInt(1_000_000_000)

// step is one setup command and who sends it.
type step struct {
	actor domain.Actor
	cmd   domain.Command
}

// probeOrderID is the order the mix's probes (refused by construction)
// use on Douyin, PDD and 1688: it never takes a payout, so its per-order
// counts, rates and caps never decide first.
const probeOrderID = "OX"

// platform is how the benchmark sets up and pays out on one platform.
type platform struct {
	id domain.PlatformID
	// setup returns the commands that make a shop ready to pay out, then
	// the orders' registrations (the replay workload's log uses it too).
	setup func(ref domain.Ref, orders int, now time.Time) []step
	// order registers order i (setup and the mix's RegisterOrder).
	order func(ref domain.Ref, i int, now time.Time) domain.RegisterOrder
	// extra: the mix's own setup after setup (staff quotas, a small
	// reserve account, the probe order).
	extra func(ref domain.Ref, now time.Time) []step
	// perOrderMax: payouts an order can ever take (0: unlimited).
	perOrderMax int
	// perOrderEvery: the least time between two payouts on one order
	// (0: none).
	perOrderEvery time.Duration

	// The mix: payouts (collections) it sends per order before it
	// registers a new one, and the shop's daily ceilings it keeps count
	// of (0: none) with their rule codes.
	mixUses         int
	dailyCents      int64
	dailyCount      int64
	dailyAmountCode string
	dailyCountCode  string
	collection      bool // Taobao: collection cards, not payouts
}

// Daily limits the mix's shops are set up with (RULES.md ceilings, or the
// merchant's own below them).
const (
	douyinDailyCents  = 15_000_00 // dy.shop.daily_amount ceiling
	pddDailyCents     = 5_000_00  // pdd.shop.daily_amount default
	alibabaDailyCents = 2_000_00  // the merchant's limit (ceiling 5,000): a 1,000 CNY payout exceeds it once 1,000 are used
	alibabaDailyCount = 1000      // 1688.shop.daily_count ceiling
)

func jdOrder(ref domain.Ref, i int, now time.Time) domain.RegisterOrder {
	placed := now.Add(-time.Hour)
	return domain.RegisterOrder{Ref: ref, OrderID: orderID(i), Buyer: "buyer-" + orderID(i),
		CashPaid: decimal.NewFromInt(500), Status: domain.OrderPaid, PlacedAt: placed, PaidAt: &placed}
}

func douyinOrder(ref domain.Ref, i int, now time.Time) domain.RegisterOrder {
	placed := now.Add(-48 * time.Hour)
	return domain.RegisterOrder{Ref: ref, OrderID: orderID(i), Buyer: "buyer-" + orderID(i),
		CashPaid: decimal.NewFromInt(500), Status: domain.OrderShipped, PaymentMode: "online", PaymentKind: "normal",
		Channel: "douyin", PlacedAt: placed, PaidAt: &placed}
}

func alibabaOrder(ref domain.Ref, i int, now time.Time) domain.RegisterOrder {
	placed := now.Add(-24 * time.Hour)
	return domain.RegisterOrder{Ref: ref, OrderID: orderID(i), Buyer: "buyer-" + orderID(i),
		CashPaid: decimal.NewFromInt(500), Status: domain.OrderPaid, PaymentKind: "normal", PlacedAt: placed, PaidAt: &placed}
}

func pddOrder(ref domain.Ref, i int, now time.Time) domain.RegisterOrder {
	placed := now.Add(-24 * time.Hour)
	return domain.RegisterOrder{Ref: ref, OrderID: orderID(i), Buyer: "buyer-" + orderID(i),
		CashPaid: decimal.NewFromInt(500), Status: domain.OrderShipped, PaymentMode: "online",
		PlacedAt: placed, PaidAt: &placed, GroupFormedAt: &placed}
}

func taobaoOrder(ref domain.Ref, i int, now time.Time) domain.RegisterOrder {
	placed := now.Add(-24 * time.Hour)
	return domain.RegisterOrder{Ref: ref, OrderID: orderID(i), Buyer: "buyer-" + orderID(i),
		CashPaid: decimal.NewFromInt(500), Status: domain.OrderPaid, PlacedAt: placed, PaidAt: &placed}
}

// withOrders appends the registration of orders 0..n-1.
func withOrders(steps []step, ref domain.Ref, n int, now time.Time, order func(domain.Ref, int, time.Time) domain.RegisterOrder) []step {
	for i := range n {
		steps = append(steps, step{operator, order(ref, i, now)})
	}
	return steps
}

// probeOrder registers the probe order with a cash amount of its own.
func probeOrder(order func(domain.Ref, int, time.Time) domain.RegisterOrder, ref domain.Ref, cash int64, now time.Time) step {
	o := order(ref, 0, now)
	o.OrderID, o.Buyer, o.CashPaid = probeOrderID, "buyer-"+probeOrderID, decimal.NewFromInt(cash)
	return step{operator, o}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func decp(s string) *decimal.Decimal { d := dec(s); return &d }

// platforms are the payout platforms the benchmark knows; -platforms picks
// among them. Another platform is one more entry.
var platforms = map[string]*platform{
	"jd": {
		id:    domain.PlatformJD,
		order: jdOrder,
		// JD has no ceilings: the merchant's daily limit is set (the
		// check runs) far above what a run reaches.
		setup: func(ref domain.Ref, orders int, now time.Time) []step {
			daily := big
			steps := []step{
				{operator, domain.RegisterShop{Ref: ref, Name: "bench " + ref.ShopID, MainAccount: admin.ID,
					EntityType: "enterprise", CooperationMode: "sop", AfterSalesSelfService: true}},
				{admin, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountWallet}},
				{admin, domain.TopUp{Ref: ref, Kind: domain.AccountWallet, Amount: big}},
				{admin, domain.EnrollShop{Ref: ref, AcceptAgreement: true, Limits: domain.Limits{DailyAmount: &daily}}},
			}
			return withOrders(steps, ref, orders, now, jdOrder)
		},
		extra: func(ref domain.Ref, now time.Time) []step {
			return []step{{admin, domain.GrantStaffQuota{Ref: ref, Staff: staffDaily.ID, PerPayout: decp("20"), PerDay: decp("20")}}}
		},
		mixUses: len(payoutTypes),
	},
	"douyin": {
		id:    domain.PlatformDouyin,
		order: douyinOrder,
		// Douyin: proceeds account, at most 5 payouts per order and one a
		// minute (dy.order.count, dy.order.rate), a tiered per-order cap
		// (500 CNY orders: up to 500), 15,000 CNY a day per shop.
		setup: func(ref domain.Ref, orders int, now time.Time) []step {
			steps := []step{
				{operator, domain.RegisterShop{Ref: ref, Name: "bench " + ref.ShopID, MainAccount: admin.ID}},
				{admin, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountProceeds}},
				{operator, domain.CreditProceeds{Ref: ref, Amount: big}},
			}
			return withOrders(steps, ref, orders, now, douyinOrder)
		},
		extra: func(ref domain.Ref, now time.Time) []step {
			return []step{
				// A steward account holding 1 CNY: payouts from it are
				// refused for insufficient funds.
				{admin, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountReserve}},
				{admin, domain.TopUp{Ref: ref, Kind: domain.AccountReserve, Amount: dec("1")}},
				{admin, domain.GrantStaffQuota{Ref: ref, Staff: staffQuota.ID, PerPayout: decp("50"), PerDay: decp("1000000")}},
				probeOrder(douyinOrder, ref, 500, now),
			}
		},
		perOrderMax:   5,
		perOrderEvery: time.Minute,
		mixUses:       5, dailyCents: douyinDailyCents, dailyAmountCode: "dy.shop.daily_amount",
	},
	"1688": {
		id:    domain.Platform1688,
		order: alibabaOrder,
		// 1688: reserve account, one payout per order ever, the buyer
		// confirms within 72 hours or the payout closes (ExpireCard).
		setup: func(ref domain.Ref, orders int, now time.Time) []step {
			steps := []step{
				{operator, domain.RegisterShop{Ref: ref, Name: "bench " + ref.ShopID, MainAccount: admin.ID}},
				{admin, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountReserve}},
				{admin, domain.TopUp{Ref: ref, Kind: domain.AccountReserve, Amount: big}},
				{admin, domain.EnrollShop{Ref: ref, AcceptAgreement: true, Limits: domain.Limits{DailyAmount: decp("2000")}}},
			}
			return withOrders(steps, ref, orders, now, alibabaOrder)
		},
		extra: func(ref domain.Ref, now time.Time) []step {
			return []step{probeOrder(alibabaOrder, ref, 2000, now)} // half of 2,000: a 1,000 CNY payout passes 1688.payout.half_cash
		},
		perOrderMax: 1,
		mixUses:     1, dailyCents: alibabaDailyCents, dailyCount: alibabaDailyCount,
		dailyAmountCode: "1688.shop.daily_amount", dailyCountCode: "1688.shop.daily_count",
	},
	"pdd": {
		id:    domain.PlatformPDD,
		order: pddOrder,
		// PDD: goods balance, 3 payouts per order and one a minute, 200
		// CNY per payout, 5,000 a day; closes after 7 days.
		setup: func(ref domain.Ref, orders int, now time.Time) []step {
			steps := []step{
				{operator, domain.RegisterShop{Ref: ref, Name: "bench " + ref.ShopID, MainAccount: admin.ID}},
				{admin, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountProceeds}},
				{operator, domain.CreditProceeds{Ref: ref, Amount: big}},
			}
			return withOrders(steps, ref, orders, now, pddOrder)
		},
		extra: func(ref domain.Ref, now time.Time) []step {
			return []step{probeOrder(pddOrder, ref, 500, now)}
		},
		perOrderMax:   3,
		perOrderEvery: time.Minute,
		mixUses:       3, dailyCents: pddDailyCents, dailyAmountCode: "pdd.shop.daily_amount",
	},
	"taobao": {
		id:    domain.PlatformTaobao,
		order: taobaoOrder,
		// Taobao collects from the buyer: collection cards, paid,
		// cancelled or expired after 72 hours.
		setup: func(ref domain.Ref, orders int, now time.Time) []step {
			steps := []step{
				{operator, domain.RegisterShop{Ref: ref, Name: "bench " + ref.ShopID, MainAccount: admin.ID}},
				{admin, domain.EnrollShop{Ref: ref, AcceptAgreement: true}},
			}
			return withOrders(steps, ref, orders, now, taobaoOrder)
		},
		extra:      func(domain.Ref, time.Time) []step { return nil },
		mixUses:    20, // 20 cards of at most 9.99 stay below the order's 500 (tb.collect.order_total)
		collection: true,
	},
}

// allPlatforms is the mix's default: the five platforms, round robin.
const allPlatforms = "jd,douyin,1688,pdd,taobao"

// platformNames lists the known platforms for -help.
func platformNames() string {
	return strings.Join(slices.Sorted(maps.Keys(platforms)), ", ")
}

// parsePlatforms reads -platforms.
func parsePlatforms(s string) ([]*platform, error) {
	var out []*platform
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		p, ok := platforms[name]
		if !ok {
			return nil, fmt.Errorf("-platforms: %q is not one of %s", name, platformNames())
		}
		out = append(out, p)
	}
	return out, nil
}

func orderID(i int) string { return fmt.Sprintf("O%d", i) }

// shop is one benchmark shop and the mix's model of it (mix.go), guarded
// by mu.
type shop struct {
	ref  domain.Ref
	plat *platform
	// setupOrders: orders registered at setup when not the workload's
	// (the one shop of -mix initiate takes every client's payouts).
	setupOrders int

	mu sync.Mutex
	mixState
}

// workload is the set of shops.
type workload struct {
	shops   []*shop
	nOrders int // orders registered per shop at setup
}

func newWorkload(n, orders int, plats []*platform, prefix string) *workload {
	w := &workload{shops: make([]*shop, n), nOrders: orders}
	for i := range w.shops {
		p := plats[i%len(plats)]
		w.shops[i] = &shop{
			ref:  domain.Ref{ShopRef: domain.ShopRef{Platform: p.id, ShopID: fmt.Sprintf("%s%05d", prefix, i)}},
			plat: p,
		}
	}
	return w
}

// orders is the number of orders of every shop at setup but those with
// their own (ordersOf).
func (w *workload) orders() int { return w.nOrders }

// ordersOf is the number of orders s gets at setup.
func (w *workload) ordersOf(s *shop) int {
	if s.setupOrders > 0 {
		return s.setupOrders
	}
	return w.nOrders
}

// oneShopOrders is the one shop's orders when it has its own, else 0.
func (w *workload) oneShopOrders() int {
	if one := oneShop(w.shops); one != nil {
		return one.setupOrders
	}
	return 0
}

// giveOneShopOrders sets up the one shop (oneShop) with n orders instead
// of the workload's (n 0: no change).
func (w *workload) giveOneShopOrders(n int) {
	if one := oneShop(w.shops); one != nil && n > 0 {
		one.setupOrders = n
	}
}
