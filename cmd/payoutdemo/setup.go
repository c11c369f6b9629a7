package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/payoutledger/ledger/adapters/tokens"
	"github.com/payoutledger/ledger/domain"
)

// clock is the demo's virtual clock, shared by the command handler and
// the timers (payoutd.Config.Clock). Only the scenario moves it, forward.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *clock { return &clock{now: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

// shopRef names one shop of the scenario.
type shopRef struct {
	platform domain.PlatformID
	id       string
}

func (s shopRef) String() string { return string(s.platform) + "/" + s.id }

// path is the shop's base path in the API.
func (s shopRef) path() string { return "/v1/shops/" + string(s.platform) + "/" + s.id }

// The shops of the day: one per platform, and a second JD shop whose
// natural-person entity may not use the tool.
var (
	acme1688  = shopRef{domain.Platform1688, "acme-1688"}
	pandaDY   = shopRef{domain.PlatformDouyin, "panda-dy"}
	northJD   = shopRef{domain.PlatformJD, "north-jd"}
	northJD2  = shopRef{domain.PlatformJD, "north-jd2"}
	sunnyPDD  = shopRef{domain.PlatformPDD, "sunny-pdd"}
	moonTB    = shopRef{domain.PlatformTaobao, "moon-tb"}
	demoShops = []shopRef{acme1688, pandaDY, northJD, northJD2, sunnyPDD, moonTB}
)

// The staff accounts every shop has.
const (
	mainAccount = "admin"
	subAccount  = "cs-lin"
)

// who is the sender of a request: a bearer token and how the demo names
// its principal ("main admin", "operator ops-pdd").
type who struct {
	label string
	token string
}

// anonymous sends no Authorization header.
var anonymous = who{label: "(no token)"}

// tokenSet holds the tokens of the day.
type tokenSet struct {
	ops  map[domain.PlatformID]who
	main map[shopRef]who
	sub  map[shopRef]who
}

func (t tokenSet) op(s shopRef) who { return t.ops[s.platform] }

func (t tokenSet) count() int { return len(t.ops) + len(t.main) + len(t.sub) }

// issueTokens writes the token file payoutd reads (dir/tokens.json): an
// operator token per platform, a main and a sub-account token per shop,
// as `payoutctl token create` would.
func issueTokens(ctx context.Context, dir string) (tokenSet, error) {
	ts := tokenSet{ops: map[domain.PlatformID]who{}, main: map[shopRef]who{}, sub: map[shopRef]who{}}
	store, err := tokens.Open(tokens.Config{DataDir: dir})
	if err != nil {
		return ts, err
	}
	create := func(spec tokens.Spec) (who, error) {
		tok, p, err := store.Create(ctx, spec)
		if err != nil {
			return who{}, fmt.Errorf("create a token: %w", err)
		}
		a := p.Actor()
		return who{label: string(a.Role) + " " + a.ID, token: tok}, nil
	}
	for _, p := range domain.Platforms() {
		w, err := create(tokens.Spec{Kind: tokens.KindOperator, Platform: p, Name: "ops-" + string(p)})
		if err != nil {
			return ts, err
		}
		ts.ops[p] = w
	}
	for _, s := range demoShops {
		for _, acct := range []struct {
			staff string
			role  domain.Role
			into  map[shopRef]who
		}{{mainAccount, domain.RoleMain, ts.main}, {subAccount, domain.RoleSub, ts.sub}} {
			w, err := create(tokens.Spec{Kind: tokens.KindStaff, Platform: s.platform, ShopID: s.id, Staff: acct.staff, Role: acct.role,
				Name: acct.staff + " of " + s.String()})
			if err != nil {
				return ts, err
			}
			acct.into[s] = w
		}
	}
	return ts, nil
}
