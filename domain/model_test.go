package domain

// The seeded model checker of STYLE.md ("A seeded model checker", after
// TigerBeetle's auditor and VOPR). TestModel drives random command
// sequences over several shops (one per platform and a few more) on an
// injected clock, and checks every answer of domain.Execute against a small
// reference model written here from RULES.md, independently of the
// domain's state maps (the domain's state is only read to be compared).
// After every step it asserts the invariants (limits, counting rule, money
// never negative, day totals equal to the reference's sums, rejections
// change nothing); at the end of a run, replay and the event codec.
//
// Replaying a failure. On failure rapid prints the seed of the failing run:
//
//	[rapid] failed after 7 tests: step 139 at ...: CompleteTopUp ...
//	To reproduce, specify -run="TestModel" -rapid.seed=3283240753013815420
//
// and
//
//	go test ./domain/ -run 'TestModel$' -rapid.seed=3283240753013815420 -v
//
// replays exactly that run ("failed after 0 tests") and prints its steps:
// a run is a pure function of rapid's seed (one rapid draw seeds the run's
// PCG generator; no choice iterates a Go map). rapid then shrinks, which
// here means trying smaller run seeds that fail at the same place; the
// "run seed N" line of the output names the run shown. rapid saves that
// case under domain/testdata/rapid/TestModel/ (replay it with
// -rapid.failfile=...; pass -rapid.nofailfile to write none, and
// -rapid.shrinktime=1s to shorten shrinking).
//
// A longer soak: -rapid.checks=3000 (the default is rapid's 100 runs,
// about 7 s with -race on two cores). -v logs what the workload reached.
//
// The decoder fuzz target FuzzDecodeBody is at the end of the file.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

// mdlMinSteps and mdlMaxSteps bound one run's random workload (after the
// set-up of its shops). Tuned so that the default 100 runs stay well under
// 20 s with -race on two cores.
const (
	mdlMinSteps = 40
	mdlMaxSteps = 320
)

var (
	mdlAsMain  = Actor{ID: "M1", Role: RoleMain}
	mdlAsOp    = Actor{ID: "OP", Role: RoleOperator}
	mdlAsTimer = Actor{ID: "timer", Role: RoleSystem}

	// mdlCST is China Standard Time written out by hand: Asia/Shanghai has
	// had no daylight saving since 1991, so the reference computes local
	// days without the zone database (and without the domain's loader).
	mdlCST = time.FixedZone("CST-reference", 8*3600)

	// mdlHolidays are passed with every request (refund due dates skip
	// them); Spring Festival, Labour Day and National Day weeks.
	mdlHolidays = map[string]bool{}
)

func init() {
	for _, span := range [][2]string{
		{"2026-01-01", "2026-01-01"}, {"2026-02-16", "2026-02-22"}, {"2026-05-01", "2026-05-05"},
		{"2026-10-01", "2026-10-07"}, {"2027-01-01", "2027-01-01"}, {"2027-02-05", "2027-02-11"},
	} {
		from, _ := time.Parse("2006-01-02", span[0])
		to, _ := time.Parse("2006-01-02", span[1])
		for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
			mdlHolidays[d.Format("2006-01-02")] = true
		}
	}
}

// Limit names (the reference's own keys for Limits' fields).
const (
	mdlPerPayout  = "per_payout_max"
	mdlOrderMax   = "per_order_max"
	mdlOrderCount = "per_order_count"
	mdlDayCount   = "daily_count"
	mdlDayAmount  = "daily_amount"
	mdlProceeds   = "proceeds_daily_amount"
)

var mdlLimitNames = []string{mdlPerPayout, mdlOrderMax, mdlOrderCount, mdlDayCount, mdlDayAmount, mdlProceeds}

func mdlIsCount(name string) bool { return name == mdlOrderCount || name == mdlDayCount }

// mdlPlatform is the reference's reading of one platform in RULES.md.
type mdlPlatform struct {
	funding      []AccountKind // accounts a payout may be paid from (the shop opens them all)
	defFunding   AccountKind
	topUp        []AccountKind // accounts that take a manual top-up
	agreement    string        // the agreement rule's code; "" = the tool starts enabled
	limits       map[string]string
	ceil         map[string]decimal.Decimal
	noAccount    string
	insufficient string
	staffPerm    string
	staffPer     string
	staffDaily   string
	quotaLimits  bool // a quota may carry per-payout and per-day limits
}

func mdlD(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func mdlDP(s string) *decimal.Decimal { d := mdlD(s); return &d }

var mdlPlatforms = map[PlatformID]*mdlPlatform{
	Platform1688: {
		funding: []AccountKind{AccountReserve}, defFunding: AccountReserve, topUp: []AccountKind{AccountReserve},
		agreement: "1688.enroll.agreement",
		limits: map[string]string{mdlOrderMax: "1688.payout.order_max", mdlOrderCount: "1688.order.count",
			mdlDayCount: "1688.shop.daily_count", mdlDayAmount: "1688.shop.daily_amount"},
		ceil: map[string]decimal.Decimal{mdlOrderMax: mdlD("1000"), mdlOrderCount: mdlD("1"),
			mdlDayCount: mdlD("1000"), mdlDayAmount: mdlD("5000")},
		noAccount: "1688.funds.insufficient", insufficient: "1688.funds.insufficient",
		// 1688 grants the permission only (limits.unsupported for a quota
		// with limits).
		staffPerm: "1688.staff.permission", staffPer: CodeAuthForbidden, staffDaily: CodeAuthForbidden,
	},
	PlatformDouyin: {
		funding: []AccountKind{AccountProceeds, AccountReserve}, defFunding: AccountProceeds, topUp: []AccountKind{AccountReserve},
		limits:    map[string]string{mdlOrderCount: "dy.order.count", mdlDayAmount: "dy.shop.daily_amount"},
		ceil:      map[string]decimal.Decimal{mdlOrderCount: mdlD("5"), mdlDayAmount: mdlD("15000")},
		noAccount: "dy.funds.no_account", insufficient: "dy.funds.insufficient",
		staffPerm: "dy.staff.permission", staffPer: "dy.staff.per_payout", staffDaily: "dy.staff.daily",
		quotaLimits: true,
	},
	PlatformJD: {
		funding: []AccountKind{AccountWallet}, defFunding: AccountWallet, topUp: []AccountKind{AccountWallet},
		agreement: "jd.enroll.agreement",
		limits: map[string]string{mdlPerPayout: "jd.limits", mdlOrderMax: "jd.limits", mdlOrderCount: "jd.limits",
			mdlDayCount: "jd.limits", mdlDayAmount: "jd.limits"},
		ceil:      map[string]decimal.Decimal{},
		noAccount: "jd.funds.insufficient", insufficient: "jd.funds.insufficient",
		staffPerm: "jd.staff.permission", staffPer: "jd.staff.per_payout", staffDaily: "jd.staff.daily",
		quotaLimits: true,
	},
	PlatformPDD: {
		funding: []AccountKind{AccountProceeds}, defFunding: AccountProceeds,
		limits: map[string]string{mdlOrderCount: "pdd.order.count", mdlDayAmount: "pdd.shop.daily_amount",
			mdlProceeds: "pdd.route.scan_only"},
		ceil:      map[string]decimal.Decimal{mdlOrderCount: mdlD("3"), mdlDayAmount: mdlD("5000")},
		noAccount: CodeFundsNoAccount, insufficient: CodeFundsInsufficient,
		// PDD does not refuse a sub-account: it must pay by scan or ask an admin.
		staffPerm: "pdd.route.scan_only", staffPer: "pdd.route.scan_only", staffDaily: "pdd.route.scan_only",
		quotaLimits: true,
	},
	PlatformTaobao: {
		agreement: "tb.enroll.agreement", limits: map[string]string{}, ceil: map[string]decimal.Decimal{},
	},
}

var mdlDouyinChannels = []string{"douyin", "douyin_lite", "douyin_volcano", "douyin_search", "douyin_selected", "douyin_mall"}

var mdlPayoutTypes = []PayoutType{TypeShipping, TypePriceDifference, TypeService, TypeActivityCompensation, TypeOther}

// --- the reference model ----------------------------------------------------

type mdlAccount struct {
	balance, frozen, arrears decimal.Decimal
}

type mdlQuota struct {
	enabled           bool
	perPayout, perDay *decimal.Decimal
}

type mdlOrder struct {
	id            string
	cash, other   decimal.Decimal
	status        OrderStatus
	mode, kind    string
	channel       string
	cross         bool
	activity      bool
	placed        time.Time
	formed        *time.Time
	payouts       []string // in initiation order
	collections   []string
	shipRefunded  bool
	refundCounter int
}

func (o *mdlOrder) amount() decimal.Decimal { return o.cash.Add(o.other) }

type mdlPayout struct {
	id, order, staff string
	amount           decimal.Decimal
	typ              PayoutType
	funding          AccountKind
	status           PayoutStatus
	day              string
	initiated        time.Time
	held             bool // the amount is reserved on the funding account now
	quota            bool // charged to the staff's daily quota
	cardExp          time.Time
	cardExpired      bool
	refundDue        time.Time
}

type mdlCollection struct {
	id, order string
	amount    decimal.Decimal
	status    CollectionStatus
	expires   time.Time
}

// mdlBound is the largest limit in force at any acceptance under a key
// (inf: one acceptance was unlimited). Counting sums only fall between
// acceptances (nothing re-enters a counting status), so a sum above its
// bound means the domain let a limit be crossed, even when the merchant
// lowered the limit later.
type mdlBound struct {
	inf bool
	v   decimal.Decimal
}

type mdlShop struct {
	ref      ShopRef
	platform PlatformID
	pf       *mdlPlatform
	zone     *time.Location

	toolEnabled  bool
	status       ShopStatus
	unpaidBills  bool
	zeroDeposit  bool
	depositPaid  bool
	personal     bool
	limits       map[string]decimal.Decimal // merchant limits
	passwordFree decimal.Decimal

	accounts map[AccountKind]*mdlAccount
	quotas   map[string]*mdlQuota
	orders   map[string]*mdlOrder
	orderIDs []string
	payouts  map[string]*mdlPayout
	payIDs   []string
	colls    map[string]*mdlCollection
	collIDs  []string
	warnings map[string]bool // warning ID -> acknowledged
	warnIDs  []string
	bounds   map[string]*mdlBound

	nextPayout, nextColl, nextOrder int

	live *Shop     // the domain's state, driven by Execute
	log  []Payload // every accepted event, in order
	envs []Event   // the same events in envelopes, for the codec round trip
}

func (m *mdlShop) cref() Ref { return Ref{ShopRef: m.ref} }

func (m *mdlShop) localDay(t time.Time) string { return t.In(m.zone).Format("2006-01-02") }

// eff is the limit in force: the merchant's, else the platform ceiling.
func (m *mdlShop) eff(name string) (decimal.Decimal, bool) {
	if v, ok := m.limits[name]; ok {
		return v, true
	}
	v, ok := m.pf.ceil[name]
	return v, ok
}

// mdlCounts is the counting rule of RULES.md with the documented reading for
// a payout awaiting the buyer's account (it is being retried: it counts).
func mdlCounts(s PayoutStatus) bool {
	switch s {
	case StatusPending, StatusProcessing, StatusAwaitingConfirmation, StatusAwaitingApproval,
		StatusAwaitingTopUp, StatusAwaitingBuyerAccount, StatusSucceeded:
		return true
	}
	return false
}

// counting returns an order's counting payouts (of one type, or all) and
// their sum.
func (m *mdlShop) counting(o *mdlOrder, typ PayoutType) ([]string, decimal.Decimal) {
	var ids []string
	sum := decimal.Zero
	for _, id := range o.payouts {
		p := m.payouts[id]
		if mdlCounts(p.status) && (typ == "" || p.typ == typ) {
			ids = append(ids, id)
			sum = sum.Add(p.amount)
		}
	}
	return ids, sum
}

func (m *mdlShop) dayUse(day string) (n int, amount, proceeds decimal.Decimal) {
	for _, id := range m.payIDs {
		p := m.payouts[id]
		if p.day == day && mdlCounts(p.status) {
			n++
			amount = amount.Add(p.amount)
			if p.funding == AccountProceeds {
				proceeds = proceeds.Add(p.amount)
			}
		}
	}
	return n, amount, proceeds
}

func (m *mdlShop) staffUse(staff, day string) decimal.Decimal {
	sum := decimal.Zero
	for _, id := range m.payIDs {
		p := m.payouts[id]
		if p.quota && p.staff == staff && p.day == day && mdlCounts(p.status) {
			sum = sum.Add(p.amount)
		}
	}
	return sum
}

func (m *mdlShop) heldOn(kind AccountKind) decimal.Decimal {
	sum := decimal.Zero
	for _, id := range m.payIDs {
		if p := m.payouts[id]; p.held && p.funding == kind {
			sum = sum.Add(p.amount)
		}
	}
	return sum
}

func (m *mdlShop) available(kind AccountKind) decimal.Decimal {
	a := m.accounts[kind]
	return a.balance.Sub(a.frozen).Sub(m.heldOn(kind))
}

func (m *mdlShop) bound(key string, v decimal.Decimal, limited bool) {
	b := m.bounds[key]
	if b == nil {
		b = &mdlBound{v: v, inf: !limited}
		m.bounds[key] = b
		return
	}
	if !limited {
		b.inf = true
	} else if v.GreaterThan(b.v) {
		b.v = v
	}
}

// mdlCents: a valid amount has at most two decimals (never rounded).
func mdlCents(d decimal.Decimal) bool { return d.Mul(decimal.NewFromInt(100)).IsInteger() }

func mdlValidAmount(d decimal.Decimal) bool { return d.IsPositive() && mdlCents(d) }

// mdlDyCap is dy.order.cap: <= 20 -> 20; <= 500 -> the order amount; else 500.
func mdlDyCap(amount decimal.Decimal) decimal.Decimal {
	switch {
	case amount.LessThanOrEqual(mdlD("20")):
		return mdlD("20")
	case amount.LessThanOrEqual(mdlD("500")):
		return amount
	}
	return mdlD("500")
}

// mdlBusinessDays moves t n business days forward in zone (weekends and
// mdlHolidays skipped), keeping the time of day.
func mdlBusinessDays(t time.Time, n int, zone *time.Location) time.Time {
	y, mo, d := t.In(zone).Date()
	h, mi, s := t.In(zone).Clock()
	for i := 1; ; i++ {
		c := time.Date(y, mo, d+i, h, mi, s, t.Nanosecond(), zone)
		if c.Weekday() == time.Saturday || c.Weekday() == time.Sunday || mdlHolidays[c.Format("2006-01-02")] {
			continue
		}
		if n--; n == 0 {
			return c
		}
	}
}

func mdlHasKind(ks []AccountKind, k AccountKind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func mdlHasString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func mdlLimitsFromMap(l map[string]decimal.Decimal) Limits {
	var out Limits
	amt := func(name string) *decimal.Decimal {
		if v, ok := l[name]; ok {
			return &v
		}
		return nil
	}
	cnt := func(name string) *int {
		if v, ok := l[name]; ok {
			n := int(v.IntPart())
			return &n
		}
		return nil
	}
	out.PerPayoutMax, out.PerOrderMax, out.DailyAmount, out.ProceedsDailyAmount = amt(mdlPerPayout), amt(mdlOrderMax), amt(mdlDayAmount), amt(mdlProceeds)
	out.PerOrderCount, out.DailyCount = cnt(mdlOrderCount), cnt(mdlDayCount)
	return out
}

func mdlLimitsToMap(l Limits) map[string]decimal.Decimal {
	out := map[string]decimal.Decimal{}
	for name, v := range map[string]*decimal.Decimal{mdlPerPayout: l.PerPayoutMax, mdlOrderMax: l.PerOrderMax, mdlDayAmount: l.DailyAmount, mdlProceeds: l.ProceedsDailyAmount} {
		if v != nil {
			out[name] = *v
		}
	}
	for name, v := range map[string]*int{mdlOrderCount: l.PerOrderCount, mdlDayCount: l.DailyCount} {
		if v != nil {
			out[name] = decimal.NewFromInt(int64(*v))
		}
	}
	return out
}

// limitsOK: every merchant limit is one the platform has, well formed and
// at most its ceiling (limits.*, money.*, input.invalid otherwise).
func (m *mdlShop) limitsOK(l map[string]decimal.Decimal) bool {
	for name, v := range l {
		if _, ok := m.pf.limits[name]; !ok {
			return false
		}
		if mdlIsCount(name) && v.LessThan(decimal.NewFromInt(1)) || !mdlIsCount(name) && !mdlValidAmount(v) {
			return false
		}
		if c, ok := m.pf.ceil[name]; ok && v.GreaterThan(c) {
			return false
		}
	}
	return true
}

// --- the world: shops, clock, execution --------------------------------------

type mdlWorld struct {
	t     *rapid.T
	now   time.Time
	shops []*mdlShop
	rng   *rand.Rand
	seq   uint64 // requests and event IDs
	step  int
	stats *mdlStats

	// forced, when set, is the item the next pickPayout or pickCollection
	// returns (the edge action aims a command at one item).
	forced *mdlTarget
}

type mdlTarget struct {
	m  *mdlShop
	id string
}

// mdlStats say what the workload reached (logged with -v): a model checker
// whose commands are all rejected early proves little.
type mdlStats struct {
	runs, steps, accepted int
	rejected              map[string]int // by code
	events                map[string]int // by type
	final                 map[PayoutStatus]int
}

func (st *mdlStats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d runs, %d steps, %d commands accepted\n", st.runs, st.steps, st.accepted)
	fmt.Fprintf(&b, "events: %v\n", st.events)
	fmt.Fprintf(&b, "rejections: %v\n", st.rejected)
	fmt.Fprintf(&b, "final payout statuses: %v", st.final)
	return b.String()
}

func (w *mdlWorld) fatalf(format string, args ...any) {
	w.t.Fatalf("step %d at %s: %s", w.step, w.now.In(mdlCST).Format(time.RFC3339Nano), fmt.Sprintf(format, args...))
}

func (w *mdlWorld) nextEventID() uuid.UUID {
	w.seq++
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[8:], w.seq)
	return u
}

// Every choice comes from the run's PCG generator, seeded by one rapid
// draw: rapid's own draws favour small values (a run would mostly be 20
// steps long and pick the first element of every list), and the workload
// must be uniform to reach deep states. The run stays a pure function of
// rapid's seed, so -rapid.seed replays it.

func (w *mdlWorld) intn(lo, hi int) int { return lo + w.rng.IntN(hi-lo+1) }

func (w *mdlWorld) chance(num, den int) bool { return w.rng.IntN(den) < num }

func mdlPick[E any](w *mdlWorld, xs []E) E { return xs[w.rng.IntN(len(xs))] }

// exec runs one command through domain.Execute at the world's clock. A
// rejection must be a *Rejection with a code that moved nothing (version
// and a deep copy of the state); an acceptance must produce events, each
// counted in the version.
func (w *mdlWorld) exec(m *mdlShop, actor Actor, cmd Command) ([]Payload, *Rejection) {
	w.seq++
	before := m.live.Version
	snap := mdlDeepCopy(m.live)
	req := Request{
		Now: w.now, Actor: actor, Holidays: mdlHolidays,
		IdempotencyKey: fmt.Sprintf("k%d", w.seq), CorrelationID: fmt.Sprintf("c%d", w.seq),
	}
	evs, err := Execute(m.live, cmd, req)
	if err != nil {
		r, ok := err.(*Rejection)
		if !ok {
			w.fatalf("%s %+v: error %T %v is not a *Rejection", cmd.CommandName(), cmd, err, err)
		}
		if r.Code == "" {
			w.fatalf("%s: rejection without a code: %v", cmd.CommandName(), r)
		}
		if evs != nil {
			w.fatalf("%s: rejected (%s) but returned events %v", cmd.CommandName(), r.Code, evs)
		}
		if m.live.Version != before || !mdlShopsEqual(snap, m.live) {
			w.fatalf("%s: rejected (%s) but the state moved", cmd.CommandName(), r.Code)
		}
		w.stats.rejected[r.Code]++
		w.t.Logf("#%d %s %s %s by %s: rejected %v", w.step, w.now.In(mdlCST).Format(time.RFC3339), m.ref.Stream(), cmd.CommandName(), actor.ID, r)
		return nil, r
	}
	if len(evs) == 0 {
		w.fatalf("%s: accepted with no event", cmd.CommandName())
	}
	if m.live.Version != before+uint64(len(evs)) {
		w.fatalf("%s: version %d after %d events from %d", cmd.CommandName(), m.live.Version, len(evs), before)
	}
	w.stats.accepted++
	for _, e := range evs {
		w.stats.events[e.EventType()]++
	}
	m.log = append(m.log, evs...)
	m.envs = append(m.envs, NewEvents(m.ref.Stream(), cmd.CommandName(), req, w.nextEventID, evs)...)
	w.t.Logf("#%d %s %s %s by %s: %+v -> %d events", w.step, w.now.In(mdlCST).Format(time.RFC3339), m.ref.Stream(), cmd.CommandName(), actor.ID, cmd, len(evs))
	for _, e := range evs {
		if wa, ok := e.(DuplicateCompensationWarned); ok {
			if _, seen := m.warnings[wa.WarningID]; seen {
				w.fatalf("warning ID %s reused (the earlier warning is overwritten)", wa.WarningID)
			}
			// A same-type warning is raised by a command that acknowledged it.
			if wa.Acknowledged != (wa.Kind == CodeDupSameType) {
				w.fatalf("warning %+v: acknowledged %v", wa, wa.Acknowledged)
			}
			m.warnings[wa.WarningID] = wa.Acknowledged
			m.warnIDs = append(m.warnIDs, wa.WarningID)
		}
	}
	return evs, nil
}

// expect compares the reference's verdict with the domain's answer.
func (w *mdlWorld) expect(want bool, cmd Command, rej *Rejection) {
	if want && rej != nil {
		w.fatalf("%s %+v: rejected (%v), the reference accepts", cmd.CommandName(), cmd, rej)
	}
	if !want && rej == nil {
		w.fatalf("%s %+v: accepted, the reference rejects", cmd.CommandName(), cmd)
	}
}

func (w *mdlWorld) oneEvent(evs []Payload, typ string) Payload {
	if len(evs) != 1 || evs[0].EventType() != typ {
		w.fatalf("events %+v, want one %s", evs, typ)
	}
	return evs[0]
}

// --- set-up -------------------------------------------------------------------

func (w *mdlWorld) setup() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, mdlCST)
	w.now = start.Add(time.Duration(w.intn(0, 365*24*60)) * time.Minute).UTC()
	platforms := []PlatformID{Platform1688, PlatformDouyin, PlatformJD, PlatformPDD, PlatformTaobao}
	all := platforms
	for n := w.intn(0, 2); n > 0; n-- {
		platforms = append(platforms, mdlPick(w, all))
	}
	for i, pl := range platforms {
		w.setupShop(fmt.Sprintf("shop%d", i+1), pl)
	}
}

func (w *mdlWorld) setupShop(id string, pl PlatformID) {
	m := &mdlShop{
		ref: ShopRef{Platform: pl, ShopID: id}, platform: pl, pf: mdlPlatforms[pl], zone: mdlCST,
		status: ShopNormal, limits: map[string]decimal.Decimal{}, accounts: map[AccountKind]*mdlAccount{},
		quotas: map[string]*mdlQuota{}, orders: map[string]*mdlOrder{}, payouts: map[string]*mdlPayout{},
		colls: map[string]*mdlCollection{}, warnings: map[string]bool{}, bounds: map[string]*mdlBound{},
	}
	m.live = NewShop(m.ref)
	w.shops = append(w.shops, m)

	zone := mdlPick(w, []string{"", "", "Asia/Shanghai", "UTC"})
	if zone == "UTC" {
		m.zone = time.UTC
	}
	reg := RegisterShop{Ref: m.cref(), Name: "shop " + id, TimeZone: zone, MainAccount: mdlAsMain.ID}
	switch pl {
	case PlatformJD:
		reg.EntityType, reg.CooperationMode, reg.AfterSalesSelfService = "enterprise", "sop", true
	case PlatformDouyin:
		if w.chance(1, 6) {
			reg.Qualification, m.personal = "personal", true
		}
	case PlatformPDD:
		reg.ZeroDeposit, reg.DepositPaid = w.chance(1, 4), w.chance(1, 2)
		m.zeroDeposit, m.depositPaid = reg.ZeroDeposit, reg.DepositPaid
	}
	_, rej := w.exec(m, mdlAsOp, reg)
	w.expect(true, reg, rej)
	m.toolEnabled = m.pf.agreement == ""
	w.check(m)

	for _, k := range m.pf.funding {
		if !w.openAccount(m, mdlAsMain, k) {
			w.fatalf("set-up: cannot open %s", k)
		}
		if amt := w.drawSetupFunds(); amt.IsPositive() {
			if mdlHasKind(m.pf.topUp, k) {
				w.topUp(m, mdlAsMain, k, amt)
			} else {
				w.creditProceeds(m, amt)
			}
		}
	}
	lim := w.drawLimits(m, true)
	if m.pf.agreement != "" {
		if !w.enroll(m, mdlAsMain, true, lim) {
			w.fatalf("set-up: cannot enroll")
		}
	} else if len(lim) > 0 {
		if !w.setLimits(m, lim, nil) {
			w.fatalf("set-up: cannot set limits")
		}
	}
	if pl == PlatformJD && w.chance(1, 2) {
		w.setLimits(m, lim, mdlDP(mdlPick(w, []string{"0", "5", "20", "50"})))
	}
	if pl != PlatformTaobao {
		for i, s := range []string{"S1", "S2"} {
			if i == 0 || w.chance(2, 3) {
				per, day := w.drawQuota(true)
				if !m.pf.quotaLimits {
					per, day = nil, nil
				}
				w.staffCmd(m, mdlAsMain, GrantStaffQuota{Ref: m.cref(), Staff: s, PerPayout: per, PerDay: day})
			}
		}
	}
	for n := w.intn(2, 5); n > 0; n-- {
		w.registerOrder(m, "")
	}
}

func (w *mdlWorld) drawSetupFunds() decimal.Decimal {
	switch w.intn(0, 7) {
	case 0:
		return decimal.Zero
	case 1:
		return decimal.NewFromInt(int64(w.intn(1, 5000))).Shift(-2)
	}
	return decimal.NewFromInt(int64(w.intn(200, 3000)))
}

// --- generators ------------------------------------------------------------------

var mdlBoundaryAmounts = []string{
	"0.01", "0.99", "1", "5", "9.99", "10", "19.99", "20", "20.01", "25", "30", "45", "45.01", "49.99", "50",
	"50.01", "100", "100.01", "199.99", "200", "200.01", "499.99", "500", "500.01", "1000", "1000.01", "5000",
}

// drawAmount: tier boundaries, random cents, and now and then an invalid
// amount (zero, negative, three decimals).
func (w *mdlWorld) drawAmount() decimal.Decimal {
	switch k := w.intn(0, 39); {
	case k < 14:
		return mdlD(mdlPick(w, mdlBoundaryAmounts))
	case k < 30:
		return decimal.NewFromInt(int64(w.intn(100, 3000))).Shift(-2)
	case k < 35:
		return decimal.NewFromInt(int64(w.intn(1, 60000))).Shift(-2)
	case k < 38:
		return decimal.NewFromInt(int64(w.intn(1, 60)))
	}
	return mdlD(mdlPick(w, []string{"0", "-1", "-0.01", "1.005", "0.001", "20.001"}))
}

// drawLimits draws merchant limits, small enough to be hit. valid=false
// sometimes adds one above the ceiling, malformed or unsupported.
func (w *mdlWorld) drawLimits(m *mdlShop, valid bool) map[string]decimal.Decimal {
	out := map[string]decimal.Decimal{}
	for _, name := range mdlLimitNames {
		_, supported := m.pf.limits[name]
		if !supported && (valid || !w.chance(1, 12)) {
			continue
		}
		if !w.chance(1, 2) {
			continue
		}
		var v decimal.Decimal
		switch name {
		case mdlOrderCount:
			hi := 4
			if c, ok := m.pf.ceil[name]; ok {
				hi = int(c.IntPart())
			}
			v = decimal.NewFromInt(int64(w.intn(1, hi)))
		case mdlDayCount:
			v = decimal.NewFromInt(int64(w.intn(1, 6)))
		case mdlDayAmount:
			v = mdlD(mdlPick(w, []string{"30", "50", "80", "100", "200", "500"}))
		case mdlOrderMax:
			v = mdlD(mdlPick(w, []string{"10", "30", "50", "100", "1000"}))
		case mdlPerPayout:
			v = mdlD(mdlPick(w, []string{"5", "10", "30", "50"}))
		case mdlProceeds:
			v = mdlD(mdlPick(w, []string{"20", "50", "100"}))
		}
		if !valid && w.chance(1, 8) {
			if c, ok := m.pf.ceil[name]; ok && w.chance(1, 2) {
				if mdlIsCount(name) {
					v = c.Add(decimal.NewFromInt(1))
				} else {
					v = c.Add(mdlD("0.01"))
				}
			} else if mdlIsCount(name) {
				v = decimal.Zero
			} else {
				v = mdlD(mdlPick(w, []string{"0", "-5", "10.001"}))
			}
		}
		out[name] = v
	}
	return out
}

func (w *mdlWorld) drawQuota(valid bool) (per, day *decimal.Decimal) {
	if !w.chance(1, 3) {
		per = mdlDP(mdlPick(w, []string{"1", "5", "10", "20", "50", "100", "200"}))
	}
	if !w.chance(1, 3) {
		day = mdlDP(mdlPick(w, []string{"10", "20", "30", "50", "100", "300"}))
	}
	if !valid && w.chance(1, 10) {
		per = mdlDP(mdlPick(w, []string{"0", "-1", "1.001"}))
	}
	return per, day
}

func (w *mdlWorld) merchantActor() Actor {
	id := mdlPick(w, []string{"M1", "M1", "M1", "M1", "S1", "S1", "S1", "S2", "S2", "S3"})
	if id == "M1" {
		return mdlAsMain
	}
	return Actor{ID: id, Role: RoleSub}
}

func (w *mdlWorld) payoutShops() []*mdlShop {
	var out []*mdlShop
	for _, m := range w.shops {
		if m.platform != PlatformTaobao {
			out = append(out, m)
		}
	}
	return out
}

func (w *mdlWorld) shopOf(pl PlatformID) []*mdlShop {
	var out []*mdlShop
	for _, m := range w.shops {
		if m.platform == pl {
			out = append(out, m)
		}
	}
	return out
}

func (w *mdlWorld) anyShop() *mdlShop { return mdlPick(w, w.shops) }

// pickPayout prefers payouts that `want` (a status where the command may
// apply), then any payout, then an unknown ID.
func (w *mdlWorld) pickPayout(want func(*mdlShop, *mdlPayout) bool) (*mdlShop, string) {
	if f := w.forced; f != nil {
		w.forced = nil
		return f.m, f.id
	}
	type ref struct {
		m  *mdlShop
		id string
	}
	var good, all []ref
	for _, m := range w.shops {
		for _, id := range m.payIDs {
			all = append(all, ref{m, id})
			if want(m, m.payouts[id]) {
				good = append(good, ref{m, id})
			}
		}
	}
	if len(good) > 0 && w.chance(5, 6) {
		r := mdlPick(w, good)
		return r.m, r.id
	}
	if len(all) > 0 && w.chance(9, 10) {
		r := mdlPick(w, all)
		return r.m, r.id
	}
	return mdlPick(w, w.payoutShops()), "PX"
}

// --- commands with their reference verdicts -----------------------------------

func (w *mdlWorld) openAccount(m *mdlShop, actor Actor, kind AccountKind) bool {
	c := OpenFundingAccount{Ref: m.cref(), Kind: kind}
	want := mdlHasKind(m.pf.funding, kind) && m.accounts[kind] == nil
	_, rej := w.exec(m, actor, c)
	w.expect(want, c, rej)
	if want {
		m.accounts[kind] = &mdlAccount{}
	}
	w.check(m)
	return want
}

func (w *mdlWorld) topUp(m *mdlShop, actor Actor, kind AccountKind, amt decimal.Decimal) {
	c := TopUp{Ref: m.cref(), Kind: kind, Amount: amt}
	want := actor.Role == RoleMain && mdlValidAmount(amt) && mdlHasKind(m.pf.topUp, kind) && m.accounts[kind] != nil
	_, rej := w.exec(m, actor, c)
	w.expect(want, c, rej)
	if want {
		m.accounts[kind].balance = m.accounts[kind].balance.Add(amt)
	}
	w.check(m)
}

func (w *mdlWorld) creditProceeds(m *mdlShop, amt decimal.Decimal) {
	c := CreditProceeds{Ref: m.cref(), Amount: amt}
	want := mdlValidAmount(amt) && m.accounts[AccountProceeds] != nil
	_, rej := w.exec(m, mdlAsOp, c)
	w.expect(want, c, rej)
	if want {
		m.accounts[AccountProceeds].balance = m.accounts[AccountProceeds].balance.Add(amt)
	}
	w.check(m)
}

func (w *mdlWorld) freeze(m *mdlShop, kind AccountKind, amt decimal.Decimal, unfreeze bool) {
	a := m.accounts[kind]
	var c Command
	var want bool
	if unfreeze {
		c = UnfreezeFunds{Ref: m.cref(), Kind: kind, Amount: amt}
		want = mdlValidAmount(amt) && a != nil && amt.LessThanOrEqual(a.frozen)
	} else {
		c = FreezeFunds{Ref: m.cref(), Kind: kind, Amount: amt}
		want = mdlValidAmount(amt) && a != nil && amt.LessThanOrEqual(m.available(kind))
	}
	_, rej := w.exec(m, mdlAsOp, c)
	w.expect(want, c, rej)
	if want {
		if unfreeze {
			a.frozen = a.frozen.Sub(amt)
		} else {
			a.frozen = a.frozen.Add(amt)
		}
	}
	w.check(m)
}

func (w *mdlWorld) setArrears(m *mdlShop, kind AccountKind, amt decimal.Decimal) {
	c := SetArrears{Ref: m.cref(), Kind: kind, Amount: amt}
	want := mdlCents(amt) && !amt.IsNegative() && m.accounts[kind] != nil
	_, rej := w.exec(m, mdlAsOp, c)
	w.expect(want, c, rej)
	if want {
		m.accounts[kind].arrears = amt
	}
	w.check(m)
}

func (w *mdlWorld) enroll(m *mdlShop, actor Actor, accept bool, lim map[string]decimal.Decimal) bool {
	c := EnrollShop{Ref: m.cref(), AcceptAgreement: accept, Limits: mdlLimitsFromMap(lim)}
	if len(lim) == 0 {
		lim = m.limits // re-enabling without naming limits keeps the merchant's
	}
	want := actor.Role == RoleMain && (m.pf.agreement == "" || accept) && m.limitsOK(lim)
	if m.platform == PlatformJD && m.accounts[AccountWallet] == nil {
		want = false // jd.enroll.wallet (the shop was registered as an eligible SOP enterprise)
	}
	_, rej := w.exec(m, actor, c)
	w.expect(want, c, rej)
	if want {
		m.toolEnabled, m.limits = true, lim
	}
	w.check(m)
	return want
}

func (w *mdlWorld) setLimits(m *mdlShop, lim map[string]decimal.Decimal, pf *decimal.Decimal) bool {
	c := SetShopLimits{Ref: m.cref(), Limits: mdlLimitsFromMap(lim), PasswordFreeThreshold: pf}
	if len(lim) == 0 && pf != nil {
		lim = m.limits // a threshold alone keeps the limits
	}
	want := m.limitsOK(lim) && (pf == nil || m.platform == PlatformJD && mdlCents(*pf) && !pf.IsNegative())
	_, rej := w.exec(m, mdlAsMain, c)
	w.expect(want, c, rej)
	if want {
		m.limits = lim
		if pf != nil {
			m.passwordFree = *pf
		}
	}
	w.check(m)
	return want
}

func (w *mdlWorld) staffCmd(m *mdlShop, actor Actor, cmd Command) {
	q := func(s string) *mdlQuota { return m.quotas[s] }
	okLimits := func(per, day *decimal.Decimal) bool {
		if !m.pf.quotaLimits && (per != nil || day != nil) {
			return false
		}
		return (per == nil || mdlValidAmount(*per)) && (day == nil || mdlValidAmount(*day))
	}
	want := actor.Role == RoleMain
	switch c := cmd.(type) {
	case GrantStaffQuota:
		want = want && q(c.Staff) == nil && okLimits(c.PerPayout, c.PerDay)
	case ChangeStaffQuota:
		want = want && q(c.Staff) != nil && okLimits(c.PerPayout, c.PerDay)
	case DisableStaffQuota:
		want = want && q(c.Staff) != nil && q(c.Staff).enabled
	case EnableStaffQuota:
		want = want && q(c.Staff) != nil && !q(c.Staff).enabled
	case DeleteStaffQuota:
		want = want && q(c.Staff) != nil
	}
	_, rej := w.exec(m, actor, cmd)
	w.expect(want, cmd, rej)
	if want {
		switch c := cmd.(type) {
		case GrantStaffQuota:
			m.quotas[c.Staff] = &mdlQuota{enabled: true, perPayout: c.PerPayout, perDay: c.PerDay}
		case ChangeStaffQuota:
			m.quotas[c.Staff].perPayout, m.quotas[c.Staff].perDay = c.PerPayout, c.PerDay
		case DisableStaffQuota:
			m.quotas[c.Staff].enabled = false
		case EnableStaffQuota:
			m.quotas[c.Staff].enabled = true
		case DeleteStaffQuota:
			delete(m.quotas, c.Staff)
		}
	}
	w.check(m)
}

// registerOrder registers a new order (id "") or re-registers one, with
// random amounts around the tier boundaries and random ages around the 3-
// and 12-month lines.
func (w *mdlWorld) registerOrder(m *mdlShop, id string) {
	if id == "" {
		m.nextOrder++
		id = fmt.Sprintf("O%d", m.nextOrder)
	}
	cash := mdlD(mdlPick(w, []string{"0", "1", "10", "19.99", "20", "20.01", "39.98", "40", "90", "100", "499.99", "500", "500.01", "1000", "2000"}))
	if w.chance(1, 3) {
		cash = decimal.NewFromInt(int64(w.intn(0, 300000))).Shift(-2)
	}
	other := mdlD(mdlPick(w, []string{"0", "0", "0", "0", "0.01", "5", "10", "480.01"}))
	// Three orders in four are eligible on their platform (young, paid,
	// online, from a Douyin app); the others are random around the rules'
	// edges: the 3- and 12-month lines, excluded statuses and kinds.
	healthy := w.chance(3, 4)
	days := w.intn(0, 60)
	if !healthy {
		days = mdlPick(w, []int{0, 1, 10, 80, 88, 89, 90, 91, 92, 180, 360, 363, 364, 365, 366, 400})
	}
	placed := w.now.Add(-time.Duration(days)*24*time.Hour - time.Duration(w.intn(0, 24*60))*time.Minute)
	paid := placed.Add(time.Minute)
	var formed *time.Time
	if m.platform != PlatformPDD || healthy || !w.chance(1, 4) {
		f := placed.Add(time.Duration(w.intn(0, 48*60)) * time.Minute)
		if f.After(w.now) {
			f = w.now
		}
		formed = &f
	}
	c := RegisterOrder{
		Ref: m.cref(), OrderID: id, Buyer: "B" + id, CashPaid: cash, OtherPaid: other,
		Status:        mdlPick(w, []OrderStatus{OrderPaid, OrderPaid, OrderPaid, OrderPaid, OrderShipped, OrderShipped, OrderShipped, OrderReceived, OrderReceived, OrderCompleted, OrderUnpaid, OrderLocked, OrderCancelling, OrderCancelled, OrderClosed}),
		PaymentMode:   mdlPick(w, []string{"online", "online", "online", "online", "online", "cod"}),
		PaymentKind:   mdlPick(w, []string{"normal", "normal", "normal", "normal", "normal", "", "consignment_split", "deferred_term", "credit"}),
		Channel:       mdlPick(w, []string{"douyin", "douyin", "douyin", "douyin_lite", "douyin_mall", "kuaishou", ""}),
		CrossBorder:   w.chance(1, 10),
		ActivityGoods: w.chance(1, 4),
		PlacedAt:      placed, PaidAt: &paid, GroupFormedAt: formed,
	}
	if healthy {
		c.Status = mdlPick(w, []OrderStatus{OrderPaid, OrderShipped, OrderReceived})
		c.PaymentMode, c.PaymentKind, c.Channel, c.CrossBorder = "online", "normal", mdlPick(w, mdlDouyinChannels), false
	}
	_, rej := w.exec(m, mdlAsOp, c)
	w.expect(true, c, rej)
	o := m.orders[id]
	if o == nil {
		o = &mdlOrder{id: id}
		m.orders[id] = o
		m.orderIDs = append(m.orderIDs, id)
	}
	o.cash, o.other, o.status, o.mode, o.kind, o.channel = cash, other, c.Status, c.PaymentMode, c.PaymentKind, c.Channel
	o.cross, o.activity, o.placed, o.formed = c.CrossBorder, c.ActivityGoods, placed, formed
	w.check(m)
}

func (w *mdlWorld) pickOrder(m *mdlShop) string {
	if len(m.orderIDs) == 0 || w.chance(1, 25) {
		return "OX"
	}
	return mdlPick(w, m.orderIDs)
}

// mdlVerdict is the reference's view of a command checked against many
// rules: every rule code it violates (with the numbers the rule checks,
// when it checks numbers) and, if it passes, what it becomes.
type mdlVerdict struct {
	viol map[string][]mdlNums

	funding AccountKind
	status  PayoutStatus
	holds   bool
	quota   bool
	day     string
	dupIDs  []string
	dupSum  decimal.Decimal
	shipDup bool
	bounds  []mdlBoundAt
}

type mdlNums struct {
	set         bool
	limit, used decimal.Decimal
}

func (n mdlNums) String() string {
	if !n.set {
		return "(no numbers)"
	}
	return fmt.Sprintf("(limit %s, used %s)", n.limit, n.used)
}

type mdlBoundAt struct {
	key     string
	v       decimal.Decimal
	limited bool
}

func (v *mdlVerdict) bad(code string) { v.viol[code] = append(v.viol[code], mdlNums{}) }

func (v *mdlVerdict) badN(code string, limit, used decimal.Decimal) {
	v.viol[code] = append(v.viol[code], mdlNums{set: true, limit: limit, used: used})
}

func (v *mdlVerdict) codes() []string {
	var out []string
	for c := range v.viol {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// judge: an accepted command violates no rule of the reference; a rejected
// one violates at least one, its code is one of them, and the numbers it
// reports (limit, used) are the reference's.
func (w *mdlWorld) judge(v *mdlVerdict, cmd Command, rej *Rejection) {
	if rej == nil {
		if len(v.viol) > 0 {
			w.fatalf("%s %+v accepted, but the reference finds it breaks %v", cmd.CommandName(), cmd, v.codes())
		}
		return
	}
	nums, ok := v.viol[rej.Code]
	if !ok {
		w.fatalf("%s %+v rejected with %v; the reference finds only %v broken", cmd.CommandName(), cmd, rej, v.codes())
	}
	if rej.Limit == nil {
		return
	}
	numbered := false
	for _, n := range nums {
		if !n.set {
			continue
		}
		numbered = true
		if n.limit.Equal(*rej.Limit) && (rej.Used == nil || n.used.Equal(*rej.Used)) {
			return
		}
	}
	if numbered {
		w.fatalf("%s rejected with %v; the reference's numbers for %s are %v", cmd.CommandName(), rej, rej.Code, nums)
	}
}

// eligibility applies the order rules of RULES.md.
func (m *mdlShop) eligibility(v *mdlVerdict, o *mdlOrder, now time.Time) {
	local := now.In(m.zone)
	switch m.platform {
	case Platform1688:
		if o.status != OrderPaid && o.status != OrderShipped && o.status != OrderReceived {
			v.bad("1688.order.status")
		}
		if mdlHasString([]string{"consignment_split", "deferred_term", "credit"}, o.kind) {
			v.bad("1688.order.payment_kind")
		}
	case PlatformDouyin:
		if o.mode != "online" {
			v.bad("dy.order.payment_mode")
		}
		if !mdlHasString(mdlDouyinChannels, o.channel) {
			v.bad("dy.order.channel")
		}
		if o.cross {
			v.bad("dy.order.cross_border")
		}
		// Reading: "within the last 12 months": exactly a year old is out.
		if !o.placed.After(local.AddDate(-1, 0, 0)) {
			v.bad("dy.order.age")
		}
	case PlatformJD:
		switch o.status {
		case OrderUnpaid, OrderLocked, OrderCancelling, OrderCancelled:
			v.bad("jd.order.status")
		}
	case PlatformPDD:
		if o.formed == nil {
			v.bad("pdd.order.group")
		} else if !o.formed.After(local.AddDate(-1, 0, 0)) {
			v.bad("pdd.order.age")
		}
	}
}

// judgeInitiate is the reference's verdict on an InitiatePayout.
func (m *mdlShop) judgeInitiate(c InitiatePayout, actor Actor, now time.Time) *mdlVerdict {
	v := &mdlVerdict{viol: map[string][]mdlNums{}}
	pf, amt := m.pf, c.Amount

	// Input.
	if m.platform == PlatformPDD && (c.Type == "" || c.Reason == "" || amt.IsZero()) {
		v.bad("pdd.input.required")
	}
	if !mdlCents(amt) {
		v.bad(CodeMoneyPrecision)
	}
	if !amt.IsPositive() {
		v.bad(CodeMoneyNonPositive)
	}
	typeOK := false
	for _, t := range mdlPayoutTypes {
		typeOK = typeOK || t == c.Type
	}
	if !typeOK {
		v.bad(CodeInputInvalid)
	}
	if m.platform == PlatformTaobao {
		v.bad(CodeRouteUnavailable) // Taobao collects; it makes no payouts
		return v
	}
	if m.payouts[c.PayoutID] != nil || m.colls[c.PayoutID] != nil {
		v.bad(CodePayoutExists)
	}

	// Shop.
	if !m.toolEnabled {
		if pf.agreement != "" {
			v.bad(pf.agreement)
		} else {
			v.bad(CodeToolDisabled)
		}
	}
	if m.platform == PlatformDouyin && m.status != ShopNormal {
		v.bad("dy.shop.status")
	}
	if m.platform == PlatformPDD && m.unpaidBills {
		v.bad("pdd.shop.unpaid_bills")
	}

	// Order.
	o := m.orders[c.OrderID]
	if o == nil {
		v.bad(CodeOrderUnknown)
		return v
	}
	m.eligibility(v, o, now)

	// Route and funding.
	funding := c.Funding
	if funding == "" {
		funding = pf.defFunding
	}
	v.funding = funding
	route := RouteDirect
	switch {
	case c.SubmitForApproval:
		if m.platform != PlatformPDD {
			v.bad(CodeRouteUnavailable)
			return v
		}
		if actor.Role == RoleMain {
			v.bad("pdd.route.approval")
		}
		if funding == FundingScan {
			v.bad(CodeInputInvalid)
		}
		route = RouteApproval
	case funding == FundingScan:
		if m.platform != PlatformPDD {
			v.bad(CodeRouteUnavailable)
			return v
		}
		route = RouteScan
	case m.platform == Platform1688:
		route = RouteConfirmation
	case m.platform == PlatformJD:
		route = RouteSMS
	}
	var acct *mdlAccount
	if funding != FundingScan {
		switch {
		case !mdlHasKind(pf.funding, funding):
			v.bad(CodeFundsKind)
		case m.accounts[funding] == nil:
			v.bad(pf.noAccount)
		default:
			acct = m.accounts[funding]
		}
		if m.platform == PlatformDouyin && m.personal && funding != AccountReserve {
			v.bad("dy.shop.personal_account")
		}
		if m.platform == PlatformJD && acct != nil && acct.arrears.IsPositive() {
			v.bad("jd.funds.arrears")
		}
	}

	// This payout's amount.
	if m.platform == PlatformPDD {
		if amt.LessThan(mdlD("1")) {
			v.badN("pdd.payout.min", mdlD("1"), decimal.Zero)
		}
		max := mdlD("200")
		if o.activity {
			max = mdlD("100")
		}
		if amt.GreaterThan(max) {
			v.badN("pdd.payout.max", max, decimal.Zero)
		}
	}
	if lim, ok := m.eff(mdlPerPayout); ok && amt.GreaterThan(lim) {
		v.badN(pf.limits[mdlPerPayout], lim, decimal.Zero)
	}
	if m.platform == Platform1688 {
		// At most half the cash, in whole cents (cash 90.01 -> 45.00).
		if half := o.cash.Div(decimal.NewFromInt(2)).Truncate(2); amt.GreaterThan(half) {
			v.badN("1688.payout.half_cash", half, decimal.Zero)
		}
	}

	// Per order.
	ids, sum := m.counting(o, "")
	if lim, ok := m.eff(mdlOrderCount); ok {
		n := len(ids)
		if m.platform == Platform1688 {
			n = len(o.payouts) // one payout per order, ever
		}
		if n+1 > int(lim.IntPart()) {
			v.badN(pf.limits[mdlOrderCount], lim, decimal.NewFromInt(int64(n)))
		}
		v.bounds = append(v.bounds, mdlBoundAt{"oc|" + o.id, lim, true})
	} else {
		v.bounds = append(v.bounds, mdlBoundAt{key: "oc|" + o.id})
	}
	if m.platform == PlatformDouyin || m.platform == PlatformPDD {
		code := "dy.order.rate"
		if m.platform == PlatformPDD {
			code = "pdd.order.rate"
		}
		for _, id := range ids {
			if now.Sub(m.payouts[id].initiated) < time.Minute {
				v.bad(code)
			}
		}
	}
	if m.platform == PlatformDouyin {
		cap := mdlDyCap(o.amount())
		if sum.Add(amt).GreaterThan(cap) {
			v.badN("dy.order.cap", cap, sum)
		}
		v.bounds = append(v.bounds, mdlBoundAt{"cap|" + o.id, cap, true})
	}
	if lim, ok := m.eff(mdlOrderMax); ok {
		if sum.Add(amt).GreaterThan(lim) {
			v.badN(pf.limits[mdlOrderMax], lim, sum)
		}
		v.bounds = append(v.bounds, mdlBoundAt{"om|" + o.id, lim, true})
	} else {
		v.bounds = append(v.bounds, mdlBoundAt{key: "om|" + o.id})
	}

	// Per local day.
	v.day = m.localDay(now)
	n, dayAmt, dayProceeds := m.dayUse(v.day)
	if lim, ok := m.eff(mdlDayCount); ok {
		if n+1 > int(lim.IntPart()) {
			v.badN(pf.limits[mdlDayCount], lim, decimal.NewFromInt(int64(n)))
		}
		v.bounds = append(v.bounds, mdlBoundAt{"dc|" + v.day, lim, true})
	} else {
		v.bounds = append(v.bounds, mdlBoundAt{key: "dc|" + v.day})
	}
	if lim, ok := m.eff(mdlDayAmount); ok {
		if dayAmt.Add(amt).GreaterThan(lim) {
			v.badN(pf.limits[mdlDayAmount], lim, dayAmt)
		}
		v.bounds = append(v.bounds, mdlBoundAt{"da|" + v.day, lim, true})
	} else {
		v.bounds = append(v.bounds, mdlBoundAt{key: "da|" + v.day})
	}

	// A sub-account paying from the balance needs an enabled quota.
	if actor.Role == RoleSub && route != RouteApproval && route != RouteScan {
		v.quota = true
		q := m.quotas[actor.ID]
		if q == nil || !q.enabled {
			v.bad(pf.staffPerm)
		} else {
			if q.perPayout != nil && amt.GreaterThan(*q.perPayout) {
				v.badN(pf.staffPer, *q.perPayout, decimal.Zero)
			}
			key := "sd|" + actor.ID + "|" + v.day
			if q.perDay != nil {
				if used := m.staffUse(actor.ID, v.day); used.Add(amt).GreaterThan(*q.perDay) {
					v.badN(pf.staffDaily, *q.perDay, used)
				}
				v.bounds = append(v.bounds, mdlBoundAt{key, *q.perDay, true})
			} else {
				v.bounds = append(v.bounds, mdlBoundAt{key: key})
			}
		}
	}

	// PDD: when the proceeds balance may not be used (scan instead); an
	// approved payout is paid from the balance too.
	if m.platform == PlatformPDD && (route == RouteDirect || route == RouteApproval) {
		if m.zeroDeposit && !m.depositPaid {
			v.bad("pdd.route.scan_only")
		}
		if o.formed != nil && !o.formed.After(now.In(m.zone).AddDate(0, -3, 0)) {
			v.bad("pdd.route.scan_only")
		}
		if lim, ok := m.eff(mdlProceeds); ok && dayProceeds.Add(amt).GreaterThan(lim) {
			v.badN("pdd.route.scan_only", lim, dayProceeds)
		}
	}
	if m.platform == PlatformJD && amt.GreaterThan(m.passwordFree) && !c.SMSVerified {
		v.badN("jd.verify.sms", m.passwordFree, decimal.Zero)
	}
	if acct != nil && route != RouteApproval {
		if avail := m.available(funding); amt.GreaterThan(avail) {
			v.badN(pf.insufficient, avail, decimal.Zero)
		}
	}

	// Duplicate compensation.
	v.dupIDs, v.dupSum = m.counting(o, c.Type)
	if len(v.dupIDs) > 0 && !c.AcknowledgeDuplicate {
		v.bad(CodeDupSameType)
	}
	v.shipDup = c.Type == TypeShipping && o.shipRefunded

	switch route {
	case RouteConfirmation:
		v.status, v.holds = StatusAwaitingConfirmation, true
	case RouteApproval:
		v.status = StatusAwaitingApproval
	case RouteScan:
		v.status = StatusAwaitingTopUp
	default:
		v.status, v.holds = StatusPending, true
	}
	return v
}

func (w *mdlWorld) actInitiate() {
	m := mdlPick(w, w.payoutShops())
	if w.chance(1, 40) {
		m = w.anyShop()
	}
	actor := w.merchantActor()
	m.nextPayout++
	id := fmt.Sprintf("P%d", m.nextPayout)
	if len(m.payIDs) > 0 && w.chance(1, 25) {
		id = mdlPick(w, m.payIDs)
	}
	typ := mdlPick(w, mdlPayoutTypes)
	if w.chance(1, 30) {
		typ = mdlPick(w, []PayoutType{"", "bonus"})
	}
	funding := AccountKind("")
	switch {
	case m.personal && w.chance(2, 3):
		funding = AccountReserve // a personal Douyin shop pays from its steward account only
	case len(m.pf.funding) > 0 && w.chance(1, 5):
		funding = mdlPick(w, m.pf.funding)
		if m.platform == PlatformPDD && w.chance(1, 2) {
			funding = FundingScan
		}
	case w.chance(1, 20):
		funding = mdlPick(w, []AccountKind{AccountReserve, AccountProceeds, AccountWallet, FundingScan})
	}
	reason := "compensation"
	if w.chance(1, 20) {
		reason = ""
	}
	orderID := w.pickOrder(m)
	amount := w.drawAmount()
	if w.chance(1, 3) {
		amount = w.edgeAmount(m.payoutEdges(orderID, actor, funding, w.now), amount)
	}
	c := InitiatePayout{
		Ref: m.cref(), PayoutID: id, OrderID: orderID, Amount: amount, Type: typ,
		Reason: reason, Message: "sorry for the trouble", Funding: funding,
		SubmitForApproval:    m.platform == PlatformPDD && w.chance(1, 4) || w.chance(1, 50),
		SMSVerified:          !w.chance(1, 5),
		AcknowledgeDuplicate: w.chance(1, 2),
	}
	v := m.judgeInitiate(c, actor, w.now)
	evs, rej := w.exec(m, actor, c)
	w.judge(v, c, rej)
	if rej == nil {
		w.acceptPayout(m, c, actor, v, evs)
	}
	w.check(m)
}

// payoutEdges are the amounts that exactly exhaust one of the limits a new
// payout on the order would meet now (reference numbers).
func (m *mdlShop) payoutEdges(orderID string, actor Actor, funding AccountKind, now time.Time) []decimal.Decimal {
	var out []decimal.Decimal
	o := m.orders[orderID]
	if o == nil {
		return nil
	}
	_, sum := m.counting(o, "")
	day := m.localDay(now)
	_, dayAmt, dayProceeds := m.dayUse(day)
	if m.platform == PlatformDouyin {
		out = append(out, mdlDyCap(o.amount()).Sub(sum))
	}
	if m.platform == Platform1688 {
		out = append(out, o.cash.Div(decimal.NewFromInt(2)).Truncate(2))
	}
	if lim, ok := m.eff(mdlOrderMax); ok {
		out = append(out, lim.Sub(sum))
	}
	if lim, ok := m.eff(mdlDayAmount); ok {
		out = append(out, lim.Sub(dayAmt))
	}
	if lim, ok := m.eff(mdlProceeds); ok {
		out = append(out, lim.Sub(dayProceeds))
	}
	if q := m.quotas[actor.ID]; actor.Role == RoleSub && q != nil {
		if q.perPayout != nil {
			out = append(out, *q.perPayout)
		}
		if q.perDay != nil {
			out = append(out, q.perDay.Sub(m.staffUse(actor.ID, day)))
		}
	}
	if funding == "" {
		funding = m.pf.defFunding
	}
	if m.accounts[funding] != nil {
		out = append(out, m.available(funding))
	}
	return out
}

// edgeAmount picks one edge and lands on it, a cent below or a cent above.
func (w *mdlWorld) edgeAmount(edges []decimal.Decimal, fallback decimal.Decimal) decimal.Decimal {
	if len(edges) == 0 {
		return fallback
	}
	a := mdlPick(w, edges).Add(mdlD(mdlPick(w, []string{"-0.01", "0", "0", "0.01"})))
	if !a.IsPositive() {
		return fallback
	}
	return a
}

// acceptPayout checks the events of an accepted payout against the
// verdict and adds the payout to the reference.
func (w *mdlWorld) acceptPayout(m *mdlShop, c InitiatePayout, actor Actor, v *mdlVerdict, evs []Payload) {
	e, ok := evs[0].(PayoutInitiated)
	if !ok {
		w.fatalf("first event %T, want PayoutInitiated", evs[0])
	}
	if e.PayoutID != c.PayoutID || e.OrderID != c.OrderID || e.Staff != actor.ID || e.StaffRole != actor.Role ||
		!e.Amount.Equal(c.Amount) || e.Type != c.Type || e.Funding != v.funding || e.Status != v.status ||
		e.HoldsFunds != v.holds || e.QuotaCharged != v.quota || e.Day != v.day || !e.InitiatedAt.Equal(w.now) {
		w.fatalf("PayoutInitiated %+v; the reference expects funding %s status %s holds %v quota %v day %s",
			e, v.funding, v.status, v.holds, v.quota, v.day)
	}
	// Fat events: every limit the decision reports checking holds after it.
	for _, ch := range e.Checks {
		if ch.Rule == "" || ch.UsedAfter.GreaterThan(ch.Limit) {
			w.fatalf("PayoutInitiated %s reports check %+v above its limit", e.PayoutID, ch)
		}
	}
	want := 1
	rest := evs[1:]
	if len(v.dupIDs) > 0 {
		want++
		if len(rest) == 0 {
			w.fatalf("no dup.same_type warning; the order has counting %s payouts %v", c.Type, v.dupIDs)
		}
		wa, ok := rest[0].(DuplicateCompensationWarned)
		if !ok || wa.Kind != CodeDupSameType || !reflect.DeepEqual(wa.PayoutIDs, v.dupIDs) || !wa.Amount.Equal(v.dupSum) || wa.NewPayoutID != c.PayoutID {
			w.fatalf("warning %+v, want dup.same_type on %v (sum %s)", rest[0], v.dupIDs, v.dupSum)
		}
		rest = rest[1:]
	}
	if v.shipDup {
		want++
		if len(rest) == 0 {
			w.fatalf("no dup.platform_shipping_refund warning on a shipping payout after a platform shipping refund")
		}
		if wa, ok := rest[0].(DuplicateCompensationWarned); !ok || wa.Kind != CodeDupPlatformShip || wa.NewPayoutID != c.PayoutID {
			w.fatalf("warning %+v, want dup.platform_shipping_refund", rest[0])
		}
	}
	if len(evs) != want {
		w.fatalf("%d events %+v, want %d", len(evs), evs, want)
	}
	p := &mdlPayout{
		id: c.PayoutID, order: c.OrderID, staff: actor.ID, amount: c.Amount, typ: c.Type, funding: v.funding,
		status: v.status, day: v.day, initiated: w.now, held: v.holds, quota: v.quota,
	}
	m.payouts[p.id] = p
	m.payIDs = append(m.payIDs, p.id)
	o := m.orders[c.OrderID]
	o.payouts = append(o.payouts, p.id)
	for _, b := range v.bounds {
		m.bound(b.key, b.v, b.limited)
	}
}

// actLifecycle sends one payout lifecycle command; the reference predicts
// acceptance exactly (RULES.md lifecycle, windows, approval, close).
func (w *mdlWorld) actLifecycle(kind string) {
	is := func(ss ...PayoutStatus) func(*mdlShop, *mdlPayout) bool {
		return func(m *mdlShop, p *mdlPayout) bool {
			switch kind {
			case "approve", "reject", "complete_topup", "expire_topup", "submit_account", "resend_card", "close", "refund_merchant":
				if m.platform != PlatformPDD {
					return false
				}
			case "confirm":
				if m.platform != Platform1688 {
					return false
				}
			}
			for _, s := range ss {
				if p.status == s {
					return true
				}
			}
			return false
		}
	}
	now := w.now
	var m *mdlShop
	var id string
	var cmd Command
	var want bool
	actor := mdlAsOp
	switch kind {
	case "approve", "reject":
		m, id = w.pickPayout(is(StatusAwaitingApproval))
		actor = mdlAsMain
		if w.chance(1, 6) {
			actor = Actor{ID: "S1", Role: RoleSub}
		}
		if kind == "approve" {
			cmd = ApprovePayout{Ref: m.cref(), PayoutID: id}
		} else {
			cmd = RejectPayout{Ref: m.cref(), PayoutID: id, Reason: "no"}
		}
	case "complete_topup":
		m, id = w.pickPayout(is(StatusAwaitingTopUp))
		cmd = CompleteTopUp{Ref: m.cref(), PayoutID: id}
	case "expire_topup":
		m, id = w.pickPayout(is(StatusAwaitingTopUp))
		actor, cmd = mdlAsTimer, ExpireTopUp{Ref: m.cref(), PayoutID: id}
	case "processing":
		m, id = w.pickPayout(is(StatusPending))
		cmd = MarkPayoutProcessing{Ref: m.cref(), PayoutID: id}
	case "succeeded":
		m, id = w.pickPayout(is(StatusProcessing, StatusPending))
		cmd = MarkPayoutSucceeded{Ref: m.cref(), PayoutID: id}
	case "failed":
		m, id = w.pickPayout(is(StatusProcessing, StatusPending))
		cmd = MarkPayoutFailed{Ref: m.cref(), PayoutID: id, Reason: "bank said no", BuyerAccount: w.chance(2, 3)}
	case "submit_account":
		m, id = w.pickPayout(is(StatusAwaitingBuyerAccount))
		cmd = SubmitBuyerAccount{Ref: m.cref(), PayoutID: id}
	case "resend_card":
		m, id = w.pickPayout(is(StatusAwaitingBuyerAccount))
		actor, cmd = mdlAsMain, ResendAccountCard{Ref: m.cref(), PayoutID: id}
	case "confirm":
		m, id = w.pickPayout(is(StatusAwaitingConfirmation))
		cmd = ConfirmByBuyer{Ref: m.cref(), PayoutID: id}
	case "expire_card":
		m, id = w.pickPayout(is(StatusAwaitingConfirmation, StatusAwaitingBuyerAccount))
		actor, cmd = mdlAsTimer, ExpireCard{Ref: m.cref(), ID: id}
	case "close":
		m, id = w.pickPayout(is(StatusPending, StatusProcessing, StatusAwaitingBuyerAccount, StatusAwaitingApproval))
		actor, cmd = mdlAsTimer, ClosePayout{Ref: m.cref(), PayoutID: id}
	case "refund_merchant":
		m, id = w.pickPayout(is(StatusClosed))
		actor, cmd = mdlAsTimer, RefundToMerchant{Ref: m.cref(), PayoutID: id}
	}
	p := m.payouts[id]
	pdd := m.platform == PlatformPDD
	merchantPosing := false
	switch kind {
	case "processing", "succeeded", "failed", "submit_account", "confirm":
		// The merchant cannot report payment results or buyer actions.
		if w.chance(1, 25) {
			actor, merchantPosing = mdlAsMain, true
		}
	}
	if p != nil && !merchantPosing {
		switch kind {
		case "approve":
			want = pdd && actor.Role == RoleMain && p.status == StatusAwaitingApproval &&
				m.accounts[p.funding] != nil && p.amount.LessThanOrEqual(m.available(p.funding))
		case "reject":
			want = pdd && actor.Role == RoleMain && p.status == StatusAwaitingApproval
		case "complete_topup":
			want = pdd && p.status == StatusAwaitingTopUp && now.Before(p.initiated.Add(time.Hour))
		case "expire_topup":
			want = pdd && p.status == StatusAwaitingTopUp && !now.Before(p.initiated.Add(time.Hour))
		case "processing":
			want = p.status == StatusPending
		case "succeeded":
			// dy.lifecycle: pending -> processing -> succeeded.
			want = p.status == StatusProcessing || p.status == StatusPending && m.platform != PlatformDouyin
		case "failed":
			want = p.status == StatusPending || p.status == StatusProcessing
		case "submit_account":
			want = p.status == StatusAwaitingBuyerAccount && !p.cardExpired && now.Before(p.cardExp)
		case "resend_card":
			want = p.status == StatusAwaitingBuyerAccount && (p.cardExpired || !now.Before(p.cardExp))
		case "confirm":
			want = m.platform == Platform1688 && p.status == StatusAwaitingConfirmation && now.Before(p.initiated.Add(72*time.Hour))
		case "expire_card":
			want = m.platform == Platform1688 && p.status == StatusAwaitingConfirmation && !now.Before(p.initiated.Add(72*time.Hour)) ||
				pdd && p.status == StatusAwaitingBuyerAccount && !p.cardExpired && !now.Before(p.cardExp)
		case "close":
			want = pdd && (p.status == StatusPending || p.status == StatusProcessing || p.status == StatusAwaitingBuyerAccount ||
				p.status == StatusAwaitingApproval) && !now.Before(p.initiated.Add(7*24*time.Hour))
		case "refund_merchant":
			// Only money that left the merchant is refunded.
			want = pdd && p.status == StatusClosed && !p.refundDue.IsZero() && !now.Before(p.refundDue)
		}
	}
	evs, rej := w.exec(m, actor, cmd)
	w.expect(want, cmd, rej)
	if !want {
		w.check(m)
		return
	}
	settle := func() {
		if p.held {
			a := m.accounts[p.funding]
			a.balance = a.balance.Sub(p.amount)
			p.held = false
		}
		p.status = StatusSucceeded
	}
	switch kind {
	case "approve":
		w.oneEvent(evs, "PayoutApproved")
		p.status, p.held = StatusPending, true
	case "reject":
		w.oneEvent(evs, "PayoutRejected")
		p.status = StatusRejected
	case "complete_topup":
		w.oneEvent(evs, "PayoutToppedUp")
		p.status = StatusPending
	case "expire_topup":
		w.oneEvent(evs, "PayoutTopUpFailed")
		p.status = StatusTopUpFailed
	case "processing":
		w.oneEvent(evs, "PayoutProcessing")
		p.status = StatusProcessing
	case "succeeded":
		w.oneEvent(evs, "PayoutSucceeded")
		settle()
	case "failed":
		if pdd && cmd.(MarkPayoutFailed).BuyerAccount {
			w.oneEvent(evs, "PayoutFailedForBuyerAccount")
			p.status, p.cardExp, p.cardExpired = StatusAwaitingBuyerAccount, now.Add(72*time.Hour), false
		} else {
			w.oneEvent(evs, "PayoutFailed")
			p.status, p.held = StatusFailed, false
		}
	case "submit_account":
		w.oneEvent(evs, "BuyerAccountSubmitted")
		p.status = StatusProcessing
	case "resend_card":
		w.oneEvent(evs, "AccountCardSent")
		p.cardExp, p.cardExpired = now.Add(72*time.Hour), false
	case "confirm":
		w.oneEvent(evs, "PayoutConfirmedByBuyer")
		settle()
	case "expire_card":
		w.oneEvent(evs, "CardExpired")
		if p.status == StatusAwaitingConfirmation {
			p.status, p.held = StatusExpired, false
		} else {
			p.cardExpired = true
		}
	case "close":
		w.oneEvent(evs, "PayoutClosed")
		// The limits are released now; the money stays reserved until it
		// is back (RefundToMerchant, 3 to 5 business days later).
		// pdd.fail.close: the money that left the merchant returns 3 to 5
		// business days later: held on the account, or paid by scan (a
		// scan payout is past its top-up once it can close). A payout
		// closed while awaiting approval took none.
		p.status = StatusClosed
		if p.held || p.funding == FundingScan {
			p.refundDue = mdlBusinessDays(now, 3, m.zone)
		}
	case "refund_merchant":
		w.oneEvent(evs, "PayoutRefundedToMerchant")
		p.status, p.held = StatusRefunded, false
	}
	w.check(m)
}

// --- Taobao collections ------------------------------------------------------

func (w *mdlWorld) actSendCard() {
	shops := w.shopOf(PlatformTaobao)
	m := mdlPick(w, shops)
	if w.chance(1, 15) {
		m = w.anyShop()
	}
	m.nextColl++
	id := fmt.Sprintf("C%d", m.nextColl)
	if len(m.collIDs) > 0 && w.chance(1, 25) {
		id = mdlPick(w, m.collIDs)
	}
	reasons := []CollectionReason{ReasonShippingDifference, ReasonGoodsDifference, ReasonOtherDifference}
	reason := mdlPick(w, reasons)
	if w.chance(1, 20) {
		reason = "because"
	}
	orderID := w.pickOrder(m)
	amount := w.drawAmount()
	if o := m.orders[orderID]; o != nil && w.chance(1, 3) {
		left := o.amount()
		for _, cid := range o.collections {
			if col := m.colls[cid]; col.status == CollectionSent || col.status == CollectionPaidSt {
				left = left.Sub(col.amount)
			}
		}
		amount = w.edgeAmount([]decimal.Decimal{left}, amount)
	}
	c := SendCollectionCard{Ref: m.cref(), CollectionID: id, OrderID: orderID, Amount: amount, Reason: reason}
	actor := w.merchantActor()

	v := &mdlVerdict{viol: map[string][]mdlNums{}}
	var o *mdlOrder
	var used decimal.Decimal
	if m.platform != PlatformTaobao {
		v.bad(CodeRouteUnavailable)
	} else {
		valid := false
		for _, r := range reasons {
			valid = valid || r == reason
		}
		if !valid {
			v.bad("tb.collect.reason")
		}
		if !mdlCents(c.Amount) {
			v.bad(CodeMoneyPrecision)
		}
		if !c.Amount.IsPositive() {
			v.bad(CodeMoneyNonPositive)
		}
		if m.colls[id] != nil || m.payouts[id] != nil {
			v.bad(CodePayoutExists)
		}
		if !m.toolEnabled {
			v.bad("tb.enroll.agreement")
		}
		if o = m.orders[c.OrderID]; o == nil {
			v.bad(CodeOrderUnknown)
		} else {
			for _, cid := range o.collections {
				if col := m.colls[cid]; col.status == CollectionSent || col.status == CollectionPaidSt {
					used = used.Add(col.amount)
				}
			}
			if used.Add(c.Amount).GreaterThan(o.amount()) {
				v.badN("tb.collect.order_total", o.amount(), used)
			}
		}
	}
	evs, rej := w.exec(m, actor, c)
	w.judge(v, c, rej)
	if rej == nil {
		e := w.oneEvent(evs, "CollectionCardSent").(CollectionCardSent)
		if !e.ExpiresAt.Equal(w.now.Add(72*time.Hour)) || e.Day != m.localDay(w.now) || !e.Amount.Equal(c.Amount) {
			w.fatalf("CollectionCardSent %+v: want expiry %s, day %s", e, w.now.Add(72*time.Hour), m.localDay(w.now))
		}
		col := &mdlCollection{id: id, order: o.id, amount: c.Amount, status: CollectionSent, expires: w.now.Add(72 * time.Hour)}
		m.colls[id] = col
		m.collIDs = append(m.collIDs, id)
		o.collections = append(o.collections, id)
		m.bound("col|"+o.id, o.amount(), true)
	}
	w.check(m)
}

func (w *mdlWorld) pickCollection(status CollectionStatus) (*mdlShop, string) {
	if f := w.forced; f != nil {
		w.forced = nil
		return f.m, f.id
	}
	type ref struct {
		m  *mdlShop
		id string
	}
	var good, all []ref
	for _, m := range w.shops {
		for _, id := range m.collIDs {
			all = append(all, ref{m, id})
			if m.colls[id].status == status {
				good = append(good, ref{m, id})
			}
		}
	}
	if len(good) > 0 && w.chance(5, 6) {
		r := mdlPick(w, good)
		return r.m, r.id
	}
	if len(all) > 0 && w.chance(9, 10) {
		r := mdlPick(w, all)
		return r.m, r.id
	}
	return mdlPick(w, w.shopOf(PlatformTaobao)), "CX"
}

func (w *mdlWorld) actCard(kind string) {
	m, id := w.pickCollection(CollectionSent)
	col := m.colls[id]
	var cmd Command
	var want bool
	actor := mdlAsOp
	switch kind {
	case "pay_card":
		cmd = PayCollection{Ref: m.cref(), CollectionID: id}
		want = col != nil && col.status == CollectionSent && w.now.Before(col.expires)
	case "cancel_card":
		actor, cmd = mdlAsMain, CancelCard{Ref: m.cref(), CollectionID: id}
		want = col != nil && col.status == CollectionSent // Reading of tb.card.cancel
	case "expire_collection":
		actor, cmd = mdlAsTimer, ExpireCard{Ref: m.cref(), ID: id}
		want = col != nil && col.status == CollectionSent && !w.now.Before(col.expires)
	}
	_, rej := w.exec(m, actor, cmd)
	w.expect(want, cmd, rej)
	if want {
		switch kind {
		case "pay_card":
			col.status = CollectionPaidSt
		case "cancel_card":
			col.status = CollectionCancelled
		case "expire_collection":
			col.status = CollectionExpired
		}
	}
	w.check(m)
}

// --- order refunds -------------------------------------------------------------

func (w *mdlWorld) actRefund(shipping bool) {
	m := w.anyShop()
	oid := w.pickOrder(m)
	o := m.orders[oid]
	amt := w.drawAmount()
	rid := "R1"
	if o != nil {
		o.refundCounter++
		rid = fmt.Sprintf("R%d", o.refundCounter)
	}
	var cmd Command
	typ, kind := PayoutType(""), CodeDupRefundAfter
	if shipping {
		cmd = RecordPlatformShippingRefund{Ref: m.cref(), OrderID: oid, RefundID: rid, Amount: amt}
		typ, kind = TypeShipping, CodeDupPlatformShip
	} else {
		cmd = RecordOrderRefund{Ref: m.cref(), OrderID: oid, RefundID: rid, Amount: amt}
	}
	want := o != nil && mdlValidAmount(amt)
	evs, rej := w.exec(m, mdlAsOp, cmd)
	w.expect(want, cmd, rej)
	if want {
		ids, sum := m.counting(o, typ)
		if len(ids) == 0 && len(evs) != 1 || len(ids) > 0 && len(evs) != 2 {
			w.fatalf("%s: events %+v; counting payouts %v", cmd.CommandName(), evs, ids)
		}
		if len(ids) > 0 {
			wa, ok := evs[1].(DuplicateCompensationWarned)
			rule := ""
			if !shipping && m.platform == PlatformPDD {
				rule = "pdd.refund.not_returned"
			}
			if !ok || wa.Kind != kind || wa.Rule != rule || !reflect.DeepEqual(wa.PayoutIDs, ids) || !wa.Amount.Equal(sum) || wa.RefundID != rid {
				w.fatalf("warning %+v, want %s (rule %q) on %v sum %s", evs[1], kind, rule, ids, sum)
			}
		}
		if shipping {
			o.shipRefunded = true
		}
	}
	w.check(m)
}

// --- the clock -------------------------------------------------------------------

// deadlines lists the instants where a window opens or closes for some open
// item (confirmation, top-up, account card, close, refund, collection card,
// the one-minute rate window).
func (w *mdlWorld) deadlines() []time.Time {
	var out []time.Time
	for _, m := range w.shops {
		for _, id := range m.payIDs {
			p := m.payouts[id]
			switch p.status {
			case StatusAwaitingConfirmation:
				out = append(out, p.initiated.Add(72*time.Hour))
			case StatusAwaitingTopUp:
				out = append(out, p.initiated.Add(time.Hour))
			case StatusAwaitingBuyerAccount:
				out = append(out, p.cardExp, p.initiated.Add(7*24*time.Hour))
			case StatusPending, StatusProcessing, StatusAwaitingApproval:
				out = append(out, p.initiated.Add(7*24*time.Hour), p.initiated.Add(time.Minute))
			case StatusClosed:
				if !p.refundDue.IsZero() {
					out = append(out, p.refundDue)
				}
			}
		}
		for _, id := range m.collIDs {
			if c := m.colls[id]; c.status == CollectionSent {
				out = append(out, c.expires)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// actEdge moves the clock to exactly where a window of an open item opens
// or closes (or a nanosecond either side) and sends the command that window
// governs: the boundaries are where readings of "within 72 hours" differ.
func (w *mdlWorld) actEdge() {
	type edge struct {
		at    time.Time
		m     *mdlShop
		id    string
		kinds []string
	}
	var edges []edge
	for _, m := range w.shops {
		for _, id := range m.payIDs {
			p := m.payouts[id]
			switch {
			case p.status == StatusAwaitingConfirmation:
				edges = append(edges, edge{p.initiated.Add(72 * time.Hour), m, id, []string{"confirm", "expire_card"}})
			case p.status == StatusAwaitingTopUp:
				edges = append(edges, edge{p.initiated.Add(time.Hour), m, id, []string{"complete_topup", "expire_topup"}})
			case p.status == StatusClosed && !p.refundDue.IsZero():
				edges = append(edges, edge{p.refundDue, m, id, []string{"refund_merchant"}})
			}
			if p.status == StatusAwaitingBuyerAccount && !p.cardExpired {
				edges = append(edges, edge{p.cardExp, m, id, []string{"submit_account", "expire_card", "resend_card"}})
			}
			switch p.status {
			case StatusPending, StatusProcessing, StatusAwaitingBuyerAccount, StatusAwaitingApproval:
				if m.platform == PlatformPDD {
					edges = append(edges, edge{p.initiated.Add(7 * 24 * time.Hour), m, id, []string{"close"}})
				}
			}
		}
		for _, id := range m.collIDs {
			if c := m.colls[id]; c.status == CollectionSent {
				edges = append(edges, edge{c.expires, m, id, []string{"pay_card", "expire_collection"}})
			}
		}
	}
	if len(edges) == 0 {
		w.actAdvance()
		return
	}
	e := mdlPick(w, edges)
	if to := e.at.Add(mdlPick(w, []time.Duration{-time.Nanosecond, 0, 0, time.Nanosecond})); to.After(w.now) {
		w.now = to
		w.t.Logf("#%d clock -> %s (edge of %s %s)", w.step, w.now.In(mdlCST).Format(time.RFC3339Nano), e.m.ref.Stream(), e.id)
	}
	kind := mdlPick(w, e.kinds)
	w.forced = &mdlTarget{e.m, e.id}
	switch kind {
	case "pay_card", "expire_collection":
		w.actCard(kind)
	default:
		w.actLifecycle(kind)
	}
}

func (w *mdlWorld) actAdvance() {
	var to time.Time
	switch w.intn(0, 11) {
	case 0:
		to = w.now.Add(time.Duration(w.intn(0, 90)) * time.Second)
	case 1:
		to = w.now.Add(mdlPick(w, []time.Duration{59 * time.Second, time.Minute - time.Nanosecond, time.Minute, 61 * time.Second}))
	case 2:
		to = w.now.Add(time.Duration(w.intn(1, 180)) * time.Minute)
	case 3:
		to = w.now.Add(time.Duration(w.intn(1, 30)) * time.Hour)
	case 4:
		to = w.now.Add(mdlPick(w, []time.Duration{time.Hour, 24 * time.Hour, 72 * time.Hour, 7 * 24 * time.Hour}))
	case 5:
		to = w.now.Add(time.Duration(w.intn(1, 10))*24*time.Hour + time.Duration(w.intn(0, 1439))*time.Minute)
	case 6, 7:
		// Just before, at or just after the next Shanghai midnight.
		y, mo, d := w.now.In(mdlCST).Date()
		midnight := time.Date(y, mo, d+1, 0, 0, 0, 0, mdlCST)
		to = midnight.Add(mdlPick(w, []time.Duration{-time.Second, -time.Nanosecond, 0, 0, time.Second, time.Hour}))
	case 8, 9, 10:
		if ds := w.deadlines(); len(ds) > 0 {
			to = mdlPick(w, ds).Add(mdlPick(w, []time.Duration{-time.Second, -time.Nanosecond, 0, 0, time.Nanosecond, time.Second}))
		}
	case 11:
		to = w.now.Add(time.Duration(w.intn(0, 59))*time.Minute + time.Duration(w.intn(0, 59))*time.Second)
	}
	if to.After(w.now) {
		w.now = to
		w.t.Logf("#%d clock -> %s", w.step, w.now.In(mdlCST).Format(time.RFC3339Nano))
	}
}

// --- invariants --------------------------------------------------------------------

// check compares the domain's state with the reference after every step and
// asserts the invariants of RULES.md and STYLE.md.
func (w *mdlWorld) check(m *mdlShop) {
	s := m.live
	if s.Version != uint64(len(m.log)) {
		w.fatalf("%s: version %d, %d events accepted", m.ref.Stream(), s.Version, len(m.log))
	}
	if s.ToolEnabled != m.toolEnabled || s.Status != m.status || s.UnpaidBills != m.unpaidBills || s.DepositPaid != m.depositPaid {
		w.fatalf("%s: tool %v status %s bills %v deposit %v; reference %v %s %v %v", m.ref.Stream(),
			s.ToolEnabled, s.Status, s.UnpaidBills, s.DepositPaid, m.toolEnabled, m.status, m.unpaidBills, m.depositPaid)
	}
	if got := mdlLimitsToMap(s.Limits); !mdlSameAmounts(got, m.limits) || !s.PasswordFree.Equal(m.passwordFree) {
		w.fatalf("%s: limits %v (password-free %s); reference %v (%s)", m.ref.Stream(), got, s.PasswordFree, m.limits, m.passwordFree)
	}

	// Accounts: the reference's balances; held, frozen and available never negative.
	if len(s.Accounts) != len(m.accounts) {
		w.fatalf("%s: %d accounts, reference %d", m.ref.Stream(), len(s.Accounts), len(m.accounts))
	}
	for _, k := range []AccountKind{AccountReserve, AccountProceeds, AccountWallet} {
		ra := m.accounts[k]
		if ra == nil {
			continue
		}
		a := s.Accounts[k]
		if a == nil {
			w.fatalf("%s: no %s account", m.ref.Stream(), k)
		}
		held := m.heldOn(k)
		if !a.Balance.Equal(ra.balance) || !a.Frozen.Equal(ra.frozen) || !a.Held.Equal(held) || !a.Arrears.Equal(ra.arrears) {
			w.fatalf("%s %s: balance %s frozen %s held %s arrears %s; reference %s %s %s %s", m.ref.Stream(), k,
				a.Balance, a.Frozen, a.Held, a.Arrears, ra.balance, ra.frozen, held, ra.arrears)
		}
		if a.Held.IsNegative() || a.Frozen.IsNegative() || a.Available().IsNegative() || a.Balance.IsNegative() {
			w.fatalf("%s %s: negative money: balance %s frozen %s held %s available %s", m.ref.Stream(), k, a.Balance, a.Frozen, a.Held, a.Available())
		}
	}

	// Quotas.
	if len(s.Staff) != len(m.quotas) {
		w.fatalf("%s: %d quotas, reference %d", m.ref.Stream(), len(s.Staff), len(m.quotas))
	}
	for _, id := range []string{"S1", "S2", "S3"} {
		rq := m.quotas[id]
		if rq == nil {
			continue
		}
		q := s.Staff[id]
		if q == nil || q.Enabled != rq.enabled || !mdlSamePtr(q.PerPayout, rq.perPayout) || !mdlSamePtr(q.PerDay, rq.perDay) {
			w.fatalf("%s: quota of %s %+v; reference %+v", m.ref.Stream(), id, q, rq)
		}
	}

	// Payouts: status, held funds, day, windows.
	if len(s.Payouts) != len(m.payouts) {
		w.fatalf("%s: %d payouts, reference %d", m.ref.Stream(), len(s.Payouts), len(m.payouts))
	}
	for _, id := range m.payIDs {
		rp, p := m.payouts[id], s.Payouts[id]
		if p == nil {
			w.fatalf("%s: payout %s missing", m.ref.Stream(), id)
		}
		if p.Status != rp.status || p.FundsHeld != rp.held || !p.Amount.Equal(rp.amount) || p.Day != rp.day ||
			p.Staff != rp.staff || p.QuotaCharged != rp.quota || p.Funding != rp.funding || p.OrderID != rp.order {
			w.fatalf("%s: payout %s is %s (held %v, day %s, quota %v); reference %s (held %v, day %s, quota %v)", m.ref.Stream(), id,
				p.Status, p.FundsHeld, p.Day, p.QuotaCharged, rp.status, rp.held, rp.day, rp.quota)
		}
		if !rp.cardExp.IsZero() && (p.CardExpiresAt == nil || !p.CardExpiresAt.Equal(rp.cardExp) || p.CardExpired != rp.cardExpired) {
			w.fatalf("%s: payout %s card %v (expired %v); reference %s (%v)", m.ref.Stream(), id, p.CardExpiresAt, p.CardExpired, rp.cardExp, rp.cardExpired)
		}
		if rp.refundDue.IsZero() != (p.RefundDueAt == nil) || p.RefundDueAt != nil && !p.RefundDueAt.Equal(rp.refundDue) {
			w.fatalf("%s: payout %s refund due %v; reference %s", m.ref.Stream(), id, p.RefundDueAt, rp.refundDue)
		}
	}
	for _, id := range m.orderIDs {
		ro, o := m.orders[id], s.Orders[id]
		if o == nil || !mdlSameIDs(o.Payouts, ro.payouts) || !mdlSameIDs(o.Collections, ro.collections) || o.PlatformShippingRefunded != ro.shipRefunded {
			w.fatalf("%s: order %s %+v; reference payouts %v collections %v", m.ref.Stream(), id, o, ro.payouts, ro.collections)
		}
	}
	if len(s.Collections) != len(m.colls) || len(s.Warnings) != len(m.warnings) {
		w.fatalf("%s: %d cards %d warnings; reference %d %d", m.ref.Stream(), len(s.Collections), len(s.Warnings), len(m.colls), len(m.warnings))
	}
	for _, id := range m.warnIDs {
		if wa := s.Warnings[id]; wa == nil || wa.Acknowledged != m.warnings[id] {
			w.fatalf("%s: warning %s %+v; reference acknowledged %v", m.ref.Stream(), id, wa, m.warnings[id])
		}
	}
	for _, id := range m.collIDs {
		if c := s.Collections[id]; c == nil || c.Status != m.colls[id].status || !c.ExpiresAt.Equal(m.colls[id].expires) {
			w.fatalf("%s: card %s %+v; reference %+v", m.ref.Stream(), id, c, m.colls[id])
		}
	}

	// The domain's day totals are the reference's sums of counting payouts.
	days := map[string]bool{}
	for d := range s.Daily {
		days[d] = true
	}
	for _, id := range m.payIDs {
		days[m.payouts[id].day] = true
	}
	for _, d := range mdlSortedKeys(days) {
		n, amt, proceeds := m.dayUse(d)
		got := s.DayTotals(d)
		if got.Count != n || !got.Amount.Equal(amt) || !got.ProceedsAmount.Equal(proceeds) {
			w.fatalf("%s: DayTotals(%s) = %d / %s / proceeds %s; reference %d / %s / %s", m.ref.Stream(), d,
				got.Count, got.Amount, got.ProceedsAmount, n, amt, proceeds)
		}
	}
	staffDays := map[string]bool{}
	for st, byDay := range s.StaffDaily {
		for d := range byDay {
			staffDays[st+"|"+d] = true
		}
	}
	for _, id := range m.payIDs {
		if p := m.payouts[id]; p.quota {
			staffDays[p.staff+"|"+p.day] = true
		}
	}
	for _, k := range mdlSortedKeys(staffDays) {
		st, d, _ := strings.Cut(k, "|")
		want := m.staffUse(st, d)
		if got := s.StaffDayTotals(st, d); !got.Amount.Equal(want) {
			w.fatalf("%s: StaffDayTotals(%s, %s) = %s; reference %s", m.ref.Stream(), st, d, got.Amount, want)
		}
	}

	// No counting sum above the largest limit in force when it was charged.
	use := map[string]decimal.Decimal{}
	add := func(k string, v decimal.Decimal) { use[k] = use[k].Add(v) }
	one := decimal.NewFromInt(1)
	for _, id := range m.payIDs {
		p := m.payouts[id]
		if m.platform == Platform1688 {
			add("oc|"+p.order, one) // 1688: every payout ever counts
		}
		if !mdlCounts(p.status) {
			continue
		}
		if m.platform != Platform1688 {
			add("oc|"+p.order, one)
		}
		add("dc|"+p.day, one)
		add("da|"+p.day, p.amount)
		if m.platform == PlatformDouyin {
			add("cap|"+p.order, p.amount)
		}
		add("om|"+p.order, p.amount)
		if p.quota {
			add("sd|"+p.staff+"|"+p.day, p.amount)
		}
	}
	for _, id := range m.collIDs {
		if c := m.colls[id]; c.status == CollectionSent || c.status == CollectionPaidSt {
			add("col|"+c.order, c.amount)
		}
	}
	for _, k := range mdlSortedKeys(use) {
		b := m.bounds[k]
		if b == nil {
			w.fatalf("%s: %s used %s without any acceptance recorded", m.ref.Stream(), k, use[k])
		}
		if !b.inf && use[k].GreaterThan(b.v) {
			w.fatalf("%s: %s: counting %s above the limit %s", m.ref.Stream(), k, use[k], b.v)
		}
	}
}

func mdlSortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func mdlSameAmounts(a, b map[string]decimal.Decimal) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !w.Equal(v) {
			return false
		}
	}
	return true
}

func mdlSamePtr(a, b *decimal.Decimal) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}

func mdlSameIDs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// mdlShopsEqual compares two states by value (the cached zone aside).
func mdlShopsEqual(a, b *Shop) bool {
	ac, bc := *a, *b
	ac.loc, bc.loc = nil, nil
	return reflect.DeepEqual(ac, bc)
}

// mdlDeepCopy copies a state so that a rejected command can be shown to
// have changed nothing. Decimals and times are immutable values; unexported
// fields (the cached zone) are copied shallowly.
func mdlDeepCopy(s *Shop) *Shop { return mdlCopyValue(reflect.ValueOf(s)).Interface().(*Shop) }

var mdlAtomicTypes = map[reflect.Type]bool{reflect.TypeOf(time.Time{}): true, reflect.TypeOf(decimal.Decimal{}): true}

func mdlCopyValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		n := reflect.New(v.Type().Elem())
		n.Elem().Set(mdlCopyValue(v.Elem()))
		return n
	case reflect.Map:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		n := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			n.SetMapIndex(it.Key(), mdlCopyValue(it.Value()))
		}
		return n
	case reflect.Slice:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			n.Index(i).Set(mdlCopyValue(v.Index(i)))
		}
		return n
	case reflect.Struct:
		n := reflect.New(v.Type()).Elem()
		n.Set(v)
		if mdlAtomicTypes[v.Type()] {
			return n
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				n.Field(i).Set(mdlCopyValue(v.Field(i)))
			}
		}
		return n
	}
	n := reflect.New(v.Type()).Elem()
	n.Set(v)
	return n
}

// --- the end of a run: replay and codec ------------------------------------------

func (w *mdlWorld) finish() {
	w.stats.runs++
	w.stats.steps += w.step - 1
	for _, m := range w.shops {
		for _, id := range m.payIDs {
			w.stats.final[m.payouts[id].status]++
		}
		w.check(m)
		if r := Replay(m.ref, m.log); !mdlShopsEqual(r, m.live) {
			w.fatalf("%s: replaying %d events does not reproduce the state", m.ref.Stream(), len(m.log))
		}
		decoded := make([]Payload, 0, len(m.envs))
		for i, e := range m.envs {
			b, err := EncodeBody(e)
			if err != nil {
				w.fatalf("%s event %d %s: encode: %v", m.ref.Stream(), i, e.Type, err)
			}
			d, err := DecodeBody(e.ID, e.Type, e.SchemaVersion, b)
			if err != nil {
				w.fatalf("%s event %d %s: decode: %v", m.ref.Stream(), i, e.Type, err)
			}
			if d.ID != e.ID || d.Type != e.Type || d.SchemaVersion != e.SchemaVersion || !d.OccurredAt.Equal(e.OccurredAt) ||
				d.Actor != e.Actor || d.Command != e.Command || d.CorrelationID != e.CorrelationID || d.IdempotencyKey != e.IdempotencyKey ||
				reflect.TypeOf(d.Data) != reflect.TypeOf(e.Data) {
				w.fatalf("%s event %d: decoded envelope %+v, want %+v", m.ref.Stream(), i, d, e)
			}
			// Decimals compare by value: their JSON is value-normal ("10.5").
			want, _ := json.Marshal(e.Data)
			got, _ := json.Marshal(d.Data)
			if !bytes.Equal(want, got) {
				w.fatalf("%s event %d %s: payload round trip\n got %s\nwant %s", m.ref.Stream(), i, e.Type, got, want)
			}
			if b2, err := EncodeBody(d); err != nil || !bytes.Equal(b, b2) {
				w.fatalf("%s event %d %s: re-encoded body differs (%v)\n got %s\nwant %s", m.ref.Stream(), i, e.Type, err, b2, b)
			}
			decoded = append(decoded, d.Data)
		}
		// The decoded log replays to the same state (compared as JSON:
		// decoded times carry another *Location, decimals another scale).
		live, _ := json.Marshal(m.live)
		again, _ := json.Marshal(Replay(m.ref, decoded))
		if !bytes.Equal(live, again) {
			w.fatalf("%s: replaying the decoded events gives another state\n got %s\nwant %s", m.ref.Stream(), again, live)
		}
	}
}

// --- the test ----------------------------------------------------------------------

// mdlActions are the step kinds, repeated for weight.
var mdlActions = func() []string {
	weights := map[string]int{
		"advance": 16, "initiate": 50, "approve": 3, "reject": 1, "complete_topup": 3, "expire_topup": 2,
		"processing": 5, "succeeded": 5, "failed": 4, "submit_account": 3, "resend_card": 2, "confirm": 3,
		"expire_card": 3, "close": 2, "refund_merchant": 2, "order_refund": 1, "shipping_refund": 1,
		"freeze": 2, "unfreeze": 2, "topup": 2, "credit": 1, "arrears": 1, "quota_grant": 1, "quota_change": 2,
		"quota_disable": 1, "quota_enable": 1, "quota_delete": 1, "limits": 2, "disable_tool": 1, "enroll": 3,
		"standing": 1, "register_order": 2, "reregister_order": 1, "send_card": 4, "pay_card": 3, "cancel_card": 2,
		"expire_collection": 2, "ack_warning": 1, "edge": 6,
	}
	var out []string
	for _, name := range mdlSortedKeys(weights) {
		for i := 0; i < weights[name]; i++ {
			out = append(out, name)
		}
	}
	return out
}()

func (w *mdlWorld) do(action string) {
	switch action {
	case "advance":
		w.actAdvance()
	case "edge":
		w.actEdge()
	case "initiate":
		w.actInitiate()
	case "approve", "reject", "complete_topup", "expire_topup", "processing", "succeeded", "failed",
		"submit_account", "resend_card", "confirm", "expire_card", "close", "refund_merchant":
		w.actLifecycle(action)
	case "order_refund", "shipping_refund":
		w.actRefund(action == "shipping_refund")
	case "freeze", "unfreeze":
		m := mdlPick(w, w.payoutShops())
		kind := mdlPick(w, []AccountKind{AccountReserve, AccountProceeds, AccountWallet})
		amt := w.drawAmount()
		if m.accounts[kind] != nil && w.chance(1, 4) {
			if action == "freeze" {
				amt = m.available(kind)
			} else {
				amt = m.accounts[kind].frozen
			}
		}
		w.freeze(m, kind, amt, action == "unfreeze")
	case "topup":
		m := mdlPick(w, w.payoutShops())
		actor := mdlAsMain
		if w.chance(1, 10) {
			actor = Actor{ID: "S1", Role: RoleSub}
		}
		w.topUp(m, actor, mdlPick(w, []AccountKind{AccountReserve, AccountProceeds, AccountWallet}), w.drawAmount())
	case "credit":
		w.creditProceeds(mdlPick(w, w.payoutShops()), w.drawAmount())
	case "arrears":
		if shops := w.shopOf(PlatformJD); len(shops) > 0 {
			amt := decimal.Zero
			if w.chance(1, 3) {
				amt = w.drawAmount().Abs()
			}
			w.setArrears(mdlPick(w, shops), AccountWallet, amt)
		}
	case "quota_grant", "quota_change", "quota_disable", "quota_enable", "quota_delete":
		m := mdlPick(w, w.payoutShops())
		actor := mdlAsMain
		if w.chance(1, 10) {
			actor = Actor{ID: "S1", Role: RoleSub}
		}
		staff := mdlPick(w, []string{"S1", "S2", "S3"})
		ref := m.cref()
		per, day := w.drawQuota(false)
		cmd := map[string]Command{
			"quota_grant":   GrantStaffQuota{Ref: ref, Staff: staff, PerPayout: per, PerDay: day},
			"quota_change":  ChangeStaffQuota{Ref: ref, Staff: staff, PerPayout: per, PerDay: day},
			"quota_disable": DisableStaffQuota{Ref: ref, Staff: staff},
			"quota_enable":  EnableStaffQuota{Ref: ref, Staff: staff},
			"quota_delete":  DeleteStaffQuota{Ref: ref, Staff: staff},
		}[action]
		w.staffCmd(m, actor, cmd)
	case "limits":
		m := w.anyShop()
		var pf *decimal.Decimal
		if w.chance(1, 4) {
			pf = mdlDP(mdlPick(w, []string{"0", "5", "20", "50", "-1", "0.001"}))
		}
		w.setLimits(m, w.drawLimits(m, false), pf)
	case "disable_tool":
		m := w.anyShop()
		c := DisableTool{Ref: m.cref(), Reason: "paused"}
		want := m.toolEnabled
		_, rej := w.exec(m, mdlAsMain, c)
		w.expect(want, c, rej)
		m.toolEnabled = false
		w.check(m)
	case "enroll":
		m := w.anyShop()
		actor := mdlAsMain
		if w.chance(1, 8) {
			actor = Actor{ID: "S1", Role: RoleSub}
		}
		w.enroll(m, actor, !w.chance(1, 8), w.drawLimits(m, !w.chance(1, 4)))
	case "standing":
		m := w.anyShop()
		c := UpdateShopStanding{
			Ref: m.cref(), Status: mdlPick(w, []ShopStatus{ShopNormal, ShopNormal, ShopSuspended}),
			UnpaidBills: w.chance(1, 4), DepositPaid: w.chance(1, 2),
		}
		_, rej := w.exec(m, mdlAsOp, c)
		w.expect(true, c, rej)
		m.status, m.unpaidBills, m.depositPaid = c.Status, c.UnpaidBills, c.DepositPaid
		w.check(m)
	case "register_order":
		w.registerOrder(w.anyShop(), "")
	case "reregister_order":
		if m := w.anyShop(); len(m.orderIDs) > 0 {
			w.registerOrder(m, mdlPick(w, m.orderIDs))
		}
	case "ack_warning":
		m := w.anyShop()
		var warned []*mdlShop
		for _, x := range w.shops {
			if len(x.warnIDs) > 0 {
				warned = append(warned, x)
			}
		}
		if len(warned) > 0 && w.chance(4, 5) {
			m = mdlPick(w, warned)
		}
		id := "W99"
		if len(m.warnIDs) > 0 && w.chance(9, 10) {
			id = mdlPick(w, m.warnIDs)
		}
		actor := w.merchantActor()
		c := AcknowledgeDuplicateWarning{Ref: m.cref(), WarningID: id}
		acked, known := m.warnings[id]
		want := known && !acked
		_, rej := w.exec(m, actor, c)
		w.expect(want, c, rej)
		if want {
			m.warnings[id] = true
		}
		w.check(m)
	case "send_card":
		w.actSendCard()
	case "pay_card", "cancel_card", "expire_collection":
		w.actCard(action)
	default:
		w.fatalf("unknown action %q", action)
	}
}

// TestModel is the model checker: random command sequences over shops of
// every platform, each answer compared with the reference model, the
// invariants asserted after every step, replay and codec checked at the
// end. See the top of the file for replaying a failure by its seed.
func TestModel(t *testing.T) {
	st := &mdlStats{rejected: map[string]int{}, events: map[string]int{}, final: map[PayoutStatus]int{}}
	rapid.Check(t, func(rt *rapid.T) {
		seed := rapid.Uint64().Draw(rt, "run_seed")
		w := &mdlWorld{t: rt, stats: st, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
		w.setup()
		steps := w.intn(mdlMinSteps, mdlMaxSteps)
		rt.Logf("run seed %d: %d shops, %d steps", seed, len(w.shops), steps)
		for w.step = 1; w.step <= steps; w.step++ {
			w.do(mdlPick(w, mdlActions))
		}
		w.finish()
	})
	t.Logf("workload: %v", st)
}

// --- the decoder fuzz target --------------------------------------------------------

// FuzzDecodeBody: DecodeBody never panics, whatever the bytes, type and
// schema version, and answers either an event of the asked type at the
// current schema or a *DecodeError.
//
//	go test ./domain/ -run '^$' -fuzz FuzzDecodeBody -fuzztime 60s
func FuzzDecodeBody(f *testing.F) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, mdlCST)
	due := at.Add(72 * time.Hour)
	samples := []Payload{
		PayoutInitiated{PayoutID: "P1", OrderID: "O1", Staff: "S1", StaffRole: RoleSub, Amount: mdlD("12.50"), Type: TypeShipping,
			Funding: AccountProceeds, Route: RouteDirect, Status: StatusPending, InitiatedAt: at, Day: "2026-11-23", DeadlineAt: &due,
			HoldsFunds: true, QuotaCharged: true, Checks: []Check{{Rule: "dy.order.cap", Limit: mdlD("20"), UsedAfter: mdlD("12.5")}}},
		ShopLimitsSet{New: Limits{DailyAmount: mdlDP("50"), DailyCount: intp(3)}, PasswordFreeThreshold: mdlD("5")},
		StaffQuotaChanged{Staff: "S1", OldPerDay: mdlDP("100"), PerPayout: mdlDP("10")},
		OrderRegistered{OrderID: "O1", CashPaid: mdlD("90"), OtherPaid: mdlD("10"), Status: OrderPaid, PlacedAt: at, GroupFormedAt: &at},
		DuplicateCompensationWarned{WarningID: "W1", Kind: CodeDupSameType, OrderID: "O1", PayoutIDs: []string{"P1"}, Amount: mdlD("10")},
		PayoutClosed{PayoutID: "P1", RefundDueAt: &due, RefundLatestAt: &due},
		CollectionCardSent{CollectionID: "C1", OrderID: "O1", Amount: mdlD("30"), Reason: ReasonShippingDifference, SentAt: at, ExpiresAt: due},
		CardExpired{Card: "account", ID: "P1"},
	}
	for _, p := range samples {
		e := NewEvents("douyin.shop1", "Test", Request{Now: at, Actor: mdlAsMain}, func() uuid.UUID { return uuid.Nil }, []Payload{p})[0]
		b, err := EncodeBody(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(e.Type, 1, b)
		f.Add(e.Type, 2, b)
		f.Add(e.Type, 0, b)
	}
	for _, typ := range mdlSortedKeys(registry) {
		f.Add(typ, 1, []byte(`{"data":{}}`))
	}
	for _, raw := range []string{
		``, `null`, `[]`, `{}`, `{"data":null}`, `{"data":"x"}`, `{"data":[1,2]}`, `{"occurred_at":"yesterday","data":{}}`,
		`{"data":{"amount":"1e400"}}`, `{"data":{"amount":"-0.001"}}`, `{"data":{"amount":{}}}`, `{"data":{"amount":1e999}}`,
		`{"data":{"initiated_at":"2026-13-45T99:99:99Z"}}`, `{"data":{"checks":[{"limit":"NaN"}]}}`, `{"data":{"limits":{"daily_count":1e30}}}`,
		"{\"data\":{\"payout_id\":\"\xff\xfe\"}}", `{"data":{"amount":"."}}`, `{"data":{"amount":"e5"}}`, `{"data":{"amount":"1e-2147483649"}}`,
	} {
		f.Add("PayoutInitiated", 1, []byte(raw))
		f.Add("ShopLimitsSet", 1, []byte(raw))
	}
	f.Add("NoSuchEvent", 1, []byte(`{"data":{}}`))
	f.Add("PayoutInitiated", -1, []byte(`{"data":{}}`))
	f.Add("PayoutInitiated", 1<<30, []byte(`{"data":{}}`))

	f.Fuzz(func(t *testing.T, typ string, schema int, raw []byte) {
		e, err := DecodeBody(uuid.Nil, typ, schema, raw)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			return
		}
		if e.Type != typ || e.Data == nil || e.Data.EventType() != typ || e.SchemaVersion != CurrentSchema(typ) {
			t.Fatalf("DecodeBody(%q, %d) = type %q schema %d data %T", typ, schema, e.Type, e.SchemaVersion, e.Data)
		}
	})
}
