package main

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/domain"
)

var (
	operator = domain.Actor{ID: "platform-ops", Role: domain.RoleOperator}
	admin    = domain.Actor{ID: "admin", Role: domain.RoleMain}
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

// platform is how the benchmark sets up and pays out on one platform: the
// shop's setup commands (generous limits, big balances) and the per-order
// rules the generator respects so that payouts are accepted, as a
// merchant's tool would (RULES.md, domain/profiles.go).
type platform struct {
	id domain.PlatformID
	// setup returns the commands that make a shop ready to pay out, then
	// the orders' registrations.
	setup func(ref domain.Ref, orders int, now time.Time) []step
	// perOrderMax: payouts an order can ever take (0: unlimited).
	perOrderMax int
	// perOrderEvery: the least time between two payouts on one order
	// (0: none). A margin is added for the clock reading the handler
	// takes after the generator's.
	perOrderEvery time.Duration
}

// platforms are the payout platforms the benchmark knows; -platforms picks
// among them. Another platform is one more entry.
var platforms = map[string]*platform{
	"jd": {
		id: domain.PlatformJD,
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
			placed := now.Add(-time.Hour)
			for i := range orders {
				steps = append(steps, step{operator, domain.RegisterOrder{Ref: ref, OrderID: orderID(i), Buyer: "buyer-" + orderID(i),
					CashPaid: decimal.NewFromInt(500), Status: domain.OrderPaid, PlacedAt: placed, PaidAt: &placed}})
			}
			return steps
		},
	},
	"douyin": {
		id: domain.PlatformDouyin,
		// Douyin: proceeds account, at most 5 payouts per order and one a
		// minute (dy.order.count, dy.order.rate), a tiered per-order cap
		// (500 CNY orders: up to 500), 15,000 CNY a day per shop.
		setup: func(ref domain.Ref, orders int, now time.Time) []step {
			steps := []step{
				{operator, domain.RegisterShop{Ref: ref, Name: "bench " + ref.ShopID, MainAccount: admin.ID}},
				{admin, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountProceeds}},
				{operator, domain.CreditProceeds{Ref: ref, Amount: big}},
			}
			placed := now.Add(-48 * time.Hour)
			for i := range orders {
				steps = append(steps, step{operator, domain.RegisterOrder{Ref: ref, OrderID: orderID(i), Buyer: "buyer-" + orderID(i),
					CashPaid: decimal.NewFromInt(500), Status: domain.OrderShipped, PaymentMode: "online", PaymentKind: "normal",
					Channel: "douyin", PlacedAt: placed, PaidAt: &placed}})
			}
			return steps
		},
		perOrderMax:   5,
		perOrderEvery: time.Minute,
	},
}

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

// perOrderMargin covers the handler's clock reading, taken a little after
// the generator decided an order was eligible.
const perOrderMargin = 500 * time.Millisecond

// shop is one benchmark shop and the generator's view of its orders.
type shop struct {
	ref  domain.Ref
	plat *platform

	mu     sync.Mutex
	next   int         // orders are paid out round robin: the next is the least recently used
	uses   []uint8     // payouts sent per order
	doneAt []time.Time // when the last payout on each order was answered
	busy   []bool      // a payout on the order is in flight
	seq    int         // payouts sent on this shop (payout IDs)
}

// workload is the set of shops and the payout generator over them.
type workload struct {
	shops []*shop
	// skipped counts shops passed over because none of their orders could
	// take a payout right now under a per-order rule (the client then
	// tries another shop, or waits).
	skipped atomic.Int64
}

func newWorkload(n, orders int, plats []*platform, prefix string) *workload {
	w := &workload{shops: make([]*shop, n)}
	for i := range w.shops {
		p := plats[i%len(plats)]
		w.shops[i] = &shop{
			ref:    domain.Ref{ShopRef: domain.ShopRef{Platform: p.id, ShopID: fmt.Sprintf("%s%05d", prefix, i)}},
			plat:   p,
			uses:   make([]uint8, orders),
			doneAt: make([]time.Time, orders),
			busy:   make([]bool, orders),
		}
	}
	return w
}

// orders is the number of orders of every shop.
func (w *workload) orders() int { return len(w.shops[0].uses) }

// payout is one InitiatePayout the generator chose, and how to tell the
// shop it was answered.
type payout struct {
	shop  *shop
	order int
	cmd   domain.InitiatePayout
	key   string
}

// pick chooses a payout a merchant could send now: a random shop, its
// least recently paid order, the order's next payout type. Douyin orders
// take 5 payouts at most and one a minute: a shop whose next order is not
// ready is skipped for another. ok is false when no shop has an order
// ready (all Douyin orders used up, and no JD shop in the mix).
func (w *workload) pick(rng *rand.Rand, now time.Time) (payout, bool) {
	n := len(w.shops)
	for try := 0; try < 16+n; try++ {
		var s *shop
		if try < 16 {
			s = w.shops[rng.IntN(n)]
		} else {
			s = w.shops[(try-16)%n] // a full scan before giving up
		}
		if p, ok := s.take(rng, now); ok {
			return p, true
		}
		w.skipped.Add(1)
	}
	return payout{}, false
}

func (s *shop) take(rng *rand.Rand, now time.Time) (payout, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.next
	p := s.plat
	if p.perOrderMax > 0 && int(s.uses[o]) >= p.perOrderMax {
		return payout{}, false
	}
	if p.perOrderEvery > 0 && (s.busy[o] || !s.doneAt[o].IsZero() && now.Sub(s.doneAt[o]) < p.perOrderEvery+perOrderMargin) {
		return payout{}, false
	}
	typ := payoutTypes[int(s.uses[o])%len(payoutTypes)]
	if s.uses[o] < 255 {
		s.uses[o]++
	}
	s.busy[o] = true
	s.next = (o + 1) % len(s.uses)
	s.seq++
	id := fmt.Sprintf("P%d", s.seq)
	cmd := domain.InitiatePayout{
		Ref: s.ref, PayoutID: id, OrderID: orderID(o),
		Amount: decimal.New(int64(100+rng.IntN(900)), -2), // 1.00 .. 9.99
		Type:   typ, Reason: "bench " + string(typ),
		SMSVerified: true, AcknowledgeDuplicate: true,
	}
	return payout{shop: s, order: o, cmd: cmd, key: "bench-" + s.ref.ShopID + "-" + id}, true
}

// done tells the shop its payout was answered (accepted or not).
func (p payout) done(at time.Time) {
	p.shop.mu.Lock()
	p.shop.busy[p.order] = false
	p.shop.doneAt[p.order] = at
	p.shop.mu.Unlock()
}
