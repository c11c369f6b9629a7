package projtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/domain"
)

// Workload plays random commands against shops of the five platforms,
// decided by the real domain (domain.Execute on each shop's state), and
// appends the accepted events to a Log. Same seed, same log.
type Workload struct {
	Log   *Log
	Shops map[string]*domain.Shop // by stream
	Now   time.Time

	rng      *rand.Rand
	seed     int64
	ids      uint64
	streams  []string
	orders   map[string][]string // stream -> order IDs
	next     int
	Accepted int
	Rejected int
}

var (
	operator = domain.Actor{ID: "ops", Role: domain.RoleOperator}
	timer    = domain.Actor{ID: "timer", Role: domain.RoleSystem}
	admin    = domain.Actor{ID: "admin", Role: domain.RoleMain}
	subs     = []domain.Actor{{ID: "cs1", Role: domain.RoleSub}, {ID: "cs2", Role: domain.RoleSub}}
)

// NewWorkload sets up two shops per platform (one in Asia/Shanghai, one
// in Europe/Berlin, so that local days differ), enrolled, funded, with
// staff quotas and orders.
func NewWorkload(seed int64) *Workload {
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	w := &Workload{Log: NewLog(), Shops: map[string]*domain.Shop{}, rng: rand.New(rand.NewSource(seed)), seed: seed,
		orders: map[string][]string{}, Now: time.Date(2026, 11, 23, 9, 0, 0, 0, shanghai)}
	for _, p := range domain.Platforms() {
		for i, tz := range []string{"Asia/Shanghai", "Europe/Berlin"} {
			w.setup(domain.Ref{ShopRef: domain.ShopRef{Platform: p, ShopID: fmt.Sprintf("s%d", i+1)}}, tz)
		}
	}
	return w
}

func amt(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func amtp(s string) *decimal.Decimal { d := amt(s); return &d }

// Do decides one command on its shop and appends the events if accepted.
func (w *Workload) Do(a domain.Actor, cmd domain.Command) ([]domain.Payload, error) {
	ref := cmd.Shop()
	s := w.Shops[ref.Stream()]
	if s == nil {
		s = domain.NewShop(ref)
		w.Shops[ref.Stream()] = s
		w.streams = append(w.streams, ref.Stream())
	}
	req := domain.Request{Now: w.Now, Actor: a, IdempotencyKey: fmt.Sprintf("k%d", w.ids)}
	pl, err := domain.Execute(s, cmd, req)
	if err != nil {
		w.Rejected++
		return nil, err
	}
	w.Accepted++
	evs := domain.NewEvents(ref.Stream(), cmd.CommandName(), req, w.newID, pl)
	if err := w.Log.Append(ref.Stream(), evs); err != nil {
		panic(err) // the in-memory log cannot fail
	}
	return pl, nil
}

func (w *Workload) newID() uuid.UUID {
	w.ids++
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[:8], uint64(w.seed))
	binary.BigEndian.PutUint64(u[8:], w.ids)
	u[6] = (u[6] & 0x0f) | 0x70 // version 7 shape
	u[8] = (u[8] & 0x3f) | 0x80
	return u
}

func (w *Workload) must(a domain.Actor, cmd domain.Command) {
	if _, err := w.Do(a, cmd); err != nil {
		panic(fmt.Sprintf("workload setup %s on %s: %v", cmd.CommandName(), cmd.Shop().Stream(), err))
	}
}

func (w *Workload) setup(ref domain.Ref, tz string) {
	p := ref.Platform
	reg := domain.RegisterShop{Ref: ref, Name: "shop " + ref.Stream(), TimeZone: tz, MainAccount: "admin"}
	if p == domain.PlatformJD {
		reg.EntityType, reg.CooperationMode, reg.AfterSalesSelfService = "enterprise", "sop", true
	}
	w.must(operator, reg)
	switch p {
	case domain.Platform1688:
		w.must(admin, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountReserve})
		w.must(admin, domain.TopUp{Ref: ref, Kind: domain.AccountReserve, Amount: amt("3000")})
		w.must(admin, domain.EnrollShop{Ref: ref, AcceptAgreement: true, Limits: domain.Limits{DailyAmount: amtp("4000")}})
		w.must(admin, domain.GrantStaffQuota{Ref: ref, Staff: "cs1"})
	case domain.PlatformDouyin:
		w.must(admin, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountProceeds})
		w.must(admin, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountReserve})
		w.must(operator, domain.CreditProceeds{Ref: ref, Amount: amt("5000")})
		w.must(admin, domain.TopUp{Ref: ref, Kind: domain.AccountReserve, Amount: amt("800")})
		w.must(admin, domain.GrantStaffQuota{Ref: ref, Staff: "cs1", PerPayout: amtp("50"), PerDay: amtp("120")})
		w.must(admin, domain.GrantStaffQuota{Ref: ref, Staff: "cs2", PerPayout: amtp("30"), PerDay: amtp("60")})
	case domain.PlatformJD:
		w.must(admin, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountWallet})
		w.must(admin, domain.TopUp{Ref: ref, Kind: domain.AccountWallet, Amount: amt("2000")})
		w.must(admin, domain.EnrollShop{Ref: ref, AcceptAgreement: true})
		w.must(admin, domain.SetShopLimits{Ref: ref, Limits: domain.Limits{DailyCount: intp(40)}, PasswordFreeThreshold: amtp("10")})
		w.must(admin, domain.GrantStaffQuota{Ref: ref, Staff: "cs1", PerPayout: amtp("40"), PerDay: amtp("100")})
	case domain.PlatformPDD:
		w.must(admin, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountProceeds})
		w.must(operator, domain.CreditProceeds{Ref: ref, Amount: amt("1500")})
		w.must(admin, domain.GrantStaffQuota{Ref: ref, Staff: "cs1", PerPayout: amtp("20"), PerDay: amtp("50")})
	case domain.PlatformTaobao:
		w.must(admin, domain.EnrollShop{Ref: ref, AcceptAgreement: true})
	}
	for i := 0; i < 4; i++ {
		w.newOrder(ref)
	}
}

func intp(n int) *int { return &n }

func (w *Workload) newOrder(ref domain.Ref) {
	w.next++
	id := fmt.Sprintf("O%d", w.next)
	placed := w.Now.Add(-48 * time.Hour)
	cash := decimal.NewFromInt(int64(20 + w.rng.Intn(600)))
	o := domain.RegisterOrder{Ref: ref, OrderID: id, Buyer: "b" + id, CashPaid: cash, OtherPaid: decimal.NewFromInt(int64(w.rng.Intn(20))),
		Status: domain.OrderShipped, PaymentMode: "online", PaymentKind: "normal", Channel: "douyin",
		PlacedAt: placed, PaidAt: &placed, GroupFormedAt: &placed}
	if _, err := w.Do(operator, o); err == nil {
		w.orders[ref.Stream()] = append(w.orders[ref.Stream()], id)
	}
}

// Run plays n random commands (accepted or not).
func (w *Workload) Run(n int) {
	for i := 0; i < n; i++ {
		w.Step()
	}
}

func (w *Workload) pick(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	return ss[w.rng.Intn(len(ss))]
}

func (w *Workload) money(lo, hi int) decimal.Decimal {
	cents := int64(lo*100 + w.rng.Intn((hi-lo)*100+1))
	return decimal.New(cents, -2)
}

// ids of a shop's payouts, collections and warnings, sorted (the domain's
// maps have no order; the workload must be deterministic).
func sortedKeys[K ~string, V any](m map[K]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, string(k))
	}
	sort.Strings(out)
	return out
}

// Step plays one random command, or moves the clock.
func (w *Workload) Step() {
	st := w.streams[w.rng.Intn(len(w.streams))]
	s := w.Shops[st]
	ref := domain.Ref{ShopRef: s.Ref}
	p := s.Ref.Platform
	payout := w.pick(sortedKeys(s.Payouts))
	actor := admin
	if w.rng.Intn(3) == 0 {
		actor = subs[w.rng.Intn(len(subs))]
	}
	var cmd domain.Command
	switch r := w.rng.Intn(100); {
	case r < 8:
		// The clock: mostly minutes, sometimes hours or days, so that
		// per-minute rates, windows and local days all come into play.
		switch w.rng.Intn(10) {
		case 0:
			w.Now = w.Now.Add(time.Duration(20+w.rng.Intn(60)) * time.Hour)
		case 1, 2:
			w.Now = w.Now.Add(time.Duration(1+w.rng.Intn(8)) * time.Hour)
		default:
			w.Now = w.Now.Add(time.Duration(30+w.rng.Intn(300)) * time.Second)
		}
		return
	case r < 12:
		w.newOrder(ref)
		return
	case r < 40:
		if p == domain.PlatformTaobao {
			w.next++
			cmd = domain.SendCollectionCard{Ref: ref, CollectionID: fmt.Sprintf("K%d", w.next), OrderID: w.pick(w.orders[st]),
				Amount: w.money(1, 60), Reason: []domain.CollectionReason{domain.ReasonShippingDifference, domain.ReasonGoodsDifference, domain.ReasonOtherDifference}[w.rng.Intn(3)]}
			break
		}
		w.next++
		c := domain.InitiatePayout{Ref: ref, PayoutID: fmt.Sprintf("P%d", w.next), OrderID: w.pick(w.orders[st]),
			Amount: w.money(1, 60), Type: []domain.PayoutType{domain.TypeShipping, domain.TypePriceDifference, domain.TypeService, domain.TypeOther}[w.rng.Intn(4)],
			Reason: "reason", AcknowledgeDuplicate: w.rng.Intn(2) == 0, SMSVerified: w.rng.Intn(5) > 0}
		if p == domain.PlatformDouyin && w.rng.Intn(4) == 0 {
			c.Funding = domain.AccountReserve
		}
		if p == domain.PlatformPDD {
			switch w.rng.Intn(4) {
			case 0:
				c.Funding = domain.FundingScan
			case 1:
				c.SubmitForApproval = true
				actor = subs[0]
			}
		}
		cmd = c
	case r < 62:
		actor = operator
		switch w.rng.Intn(5) {
		case 0, 1:
			cmd = domain.MarkPayoutProcessing{Ref: ref, PayoutID: payout}
		case 2:
			cmd = domain.MarkPayoutSucceeded{Ref: ref, PayoutID: payout}
		case 3:
			cmd = domain.MarkPayoutFailed{Ref: ref, PayoutID: payout, Reason: "bank", BuyerAccount: w.rng.Intn(2) == 0}
		default:
			cmd = domain.ConfirmByBuyer{Ref: ref, PayoutID: payout}
		}
	case r < 74:
		in := func(sts ...domain.PayoutStatus) string { return w.payoutIn(s, sts...) }
		switch w.rng.Intn(7) {
		case 0:
			actor, cmd = admin, domain.ApprovePayout{Ref: ref, PayoutID: in(domain.StatusAwaitingApproval)}
		case 1:
			actor, cmd = admin, domain.RejectPayout{Ref: ref, PayoutID: in(domain.StatusAwaitingApproval), Reason: "no"}
		case 2:
			actor, cmd = operator, domain.CompleteTopUp{Ref: ref, PayoutID: in(domain.StatusAwaitingTopUp)}
		case 3:
			actor, cmd = timer, domain.ExpireTopUp{Ref: ref, PayoutID: in(domain.StatusAwaitingTopUp)}
		case 4:
			actor, cmd = operator, domain.SubmitBuyerAccount{Ref: ref, PayoutID: in(domain.StatusAwaitingBuyerAccount)}
		case 5:
			actor, cmd = admin, domain.ResendAccountCard{Ref: ref, PayoutID: in(domain.StatusAwaitingBuyerAccount)}
		default:
			actor, cmd = timer, domain.ClosePayout{Ref: ref, PayoutID: in(domain.StatusPending, domain.StatusProcessing, domain.StatusAwaitingBuyerAccount, domain.StatusAwaitingApproval)}
		}
	case r < 80:
		actor = timer
		if w.rng.Intn(2) == 0 {
			cmd = domain.RefundToMerchant{Ref: ref, PayoutID: w.payoutIn(s, domain.StatusClosed)}
		} else {
			id := w.payoutIn(s, domain.StatusAwaitingConfirmation, domain.StatusAwaitingBuyerAccount)
			if p == domain.PlatformTaobao {
				id = w.pick(sortedKeys(s.Collections))
			}
			cmd = domain.ExpireCard{Ref: ref, ID: id}
		}
	case r < 85:
		if p == domain.PlatformTaobao {
			col := w.pick(sortedKeys(s.Collections))
			if w.rng.Intn(3) == 0 {
				cmd = domain.CancelCard{Ref: ref, CollectionID: col}
			} else {
				actor, cmd = operator, domain.PayCollection{Ref: ref, CollectionID: col}
			}
			break
		}
		actor = operator
		w.next++
		if w.rng.Intn(2) == 0 {
			cmd = domain.RecordOrderRefund{Ref: ref, OrderID: w.pick(w.orders[st]), RefundID: fmt.Sprintf("R%d", w.next), Amount: w.money(1, 50)}
		} else {
			cmd = domain.RecordPlatformShippingRefund{Ref: ref, OrderID: w.pick(w.orders[st]), RefundID: fmt.Sprintf("R%d", w.next), Amount: w.money(1, 10)}
		}
	case r < 88:
		cmd = domain.AcknowledgeDuplicateWarning{Ref: ref, WarningID: w.pick(sortedKeys(s.Warnings))}
	case r < 94:
		kinds := sortedKeys(s.Accounts)
		kind := domain.AccountKind(w.pick(kinds))
		switch w.rng.Intn(6) {
		case 0:
			actor, cmd = admin, domain.TopUp{Ref: ref, Kind: kind, Amount: w.money(10, 300)}
		case 1:
			actor, cmd = operator, domain.CreditProceeds{Ref: ref, Amount: w.money(10, 300)}
		case 2:
			actor, cmd = operator, domain.FreezeFunds{Ref: ref, Kind: kind, Amount: w.money(1, 100)}
		case 3:
			actor, cmd = operator, domain.UnfreezeFunds{Ref: ref, Kind: kind, Amount: w.money(1, 100)}
		case 4:
			a := decimal.Zero
			if w.rng.Intn(3) == 0 {
				a = w.money(1, 20)
			}
			actor, cmd = operator, domain.SetArrears{Ref: ref, Kind: kind, Amount: a}
		default:
			actor, cmd = operator, domain.UpdateShopStanding{Ref: ref, Status: domain.ShopNormal}
		}
	default:
		staff := subs[w.rng.Intn(len(subs))].ID
		actor = admin
		switch w.rng.Intn(6) {
		case 0:
			cmd = domain.GrantStaffQuota{Ref: ref, Staff: staff, PerPayout: amtp("40"), PerDay: amtp("90")}
		case 1:
			cmd = domain.ChangeStaffQuota{Ref: ref, Staff: staff, PerPayout: amtp("60"), PerDay: w.moneyp(40, 200)}
		case 2:
			cmd = domain.DisableStaffQuota{Ref: ref, Staff: staff}
		case 3:
			cmd = domain.EnableStaffQuota{Ref: ref, Staff: staff}
		case 4:
			cmd = domain.DeleteStaffQuota{Ref: ref, Staff: staff}
		default:
			l := domain.Limits{DailyAmount: w.moneyp(100, 3000)}
			if p == domain.PlatformJD || p == domain.Platform1688 {
				l.DailyCount = intp(5 + w.rng.Intn(50))
			}
			cmd = domain.SetShopLimits{Ref: ref, Limits: l}
		}
	}
	_, err := w.Do(actor, cmd)
	var rej *domain.Rejection
	if err != nil && !errors.As(err, &rej) {
		panic(err)
	}
}

// payoutIn picks a payout of the shop in one of the statuses (any payout
// if none is).
func (w *Workload) payoutIn(s *domain.Shop, sts ...domain.PayoutStatus) string {
	var ids []string
	for _, id := range sortedKeys(s.Payouts) {
		for _, st := range sts {
			if s.Payouts[id].Status == st {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return w.pick(sortedKeys(s.Payouts))
	}
	return w.pick(ids)
}

func (w *Workload) moneyp(lo, hi int) *decimal.Decimal { d := w.money(lo, hi); return &d }
