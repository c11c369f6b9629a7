package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/adapters/httpapi"
	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/adapters/tokens"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/projections"
)

// captured is one command the API handed to its Commands.
type captured struct {
	cmd  domain.Command
	meta handler.Meta
	res  handler.Result // what the handler answered
}

// capturingCommands stands in for the handler behind the real API: the
// mapping tests compare the command the API decoded with the one sent,
// whatever the domain would decide; reply chooses the answer.
type capturingCommands struct {
	mu    sync.Mutex
	got   []captured
	reply func(domain.Command, handler.Meta) (handler.Result, error)
}

func (c *capturingCommands) Handle(_ context.Context, cmd domain.Command, meta handler.Meta) (handler.Result, error) {
	c.mu.Lock()
	reply := c.reply
	c.mu.Unlock()
	res, err := reply(cmd, meta)
	c.mu.Lock()
	c.got = append(c.got, captured{cmd, meta, res})
	c.mu.Unlock()
	return res, err
}

func (c *capturingCommands) answer(reply func(domain.Command, handler.Meta) (handler.Result, error)) {
	c.mu.Lock()
	c.reply = reply
	c.mu.Unlock()
}

func (c *capturingCommands) last(t *testing.T) captured {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.got) == 0 {
		t.Fatal("the API handed no command to the handler")
	}
	return c.got[len(c.got)-1]
}

// apiFixture is the real HTTP API (adapters/httpapi) over a capturing
// handler, with real tokens issued for a shop of each platform, and an
// httpSender to it.
type apiFixture struct {
	cmds   *capturingCommands
	sender *httpSender
	shops  map[domain.PlatformID]*shop
	book   *tokenBook
}

func newAPIFixture(t *testing.T) *apiFixture {
	t.Helper()
	ctx := context.Background()
	es, err := jetstream.Open(ctx, jetstream.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { es.Close() })
	// Views: required by the API, unused by its command routes.
	rt, err := projections.New(projections.Config{Source: es, Store: projections.NewMemoryStore(), DensePositions: true}, projections.All()...)
	if err != nil {
		t.Fatal(err)
	}
	plats, err := parsePlatforms(allPlatforms)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorkload(len(plats), 1, plats, "T")
	dir := t.TempDir()
	book, err := issueTokens(ctx, tokens.DefaultPath(dir), w, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	auth, err := tokens.Open(tokens.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	f := &apiFixture{cmds: &capturingCommands{}, shops: map[domain.PlatformID]*shop{}, book: book}
	f.cmds.reply = acceptWithEvents
	api, err := httpapi.New(httpapi.Config{Commands: f.cmds, Views: rt, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	if f.sender, err = newHTTPSender(srv.URL, book, 2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.sender.close)
	for _, s := range w.shops {
		f.shops[s.ref.Platform] = s
	}
	return f
}

// acceptWithEvents answers two events (positions 41 and 42) as the
// handler would for an accepted command.
func acceptWithEvents(cmd domain.Command, meta handler.Meta) (handler.Result, error) {
	stream := cmd.Shop().Stream()
	req := domain.Request{Now: time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC), Actor: meta.Actor, IdempotencyKey: meta.IdempotencyKey}
	evs := domain.NewEvents(stream, cmd.CommandName(), req, domain.NewV7, []domain.Payload{
		domain.PayoutProcessing{PayoutID: "P1"},
		domain.PayoutSucceeded{PayoutID: "P1", Amount: dec("1.50"), Funding: domain.AccountWallet},
	})
	for i := range evs {
		evs[i].Version, evs[i].Position = uint64(7+i), uint64(41+i)
	}
	return handler.Result{Stream: stream, Events: evs, Version: 8}, nil
}

// mappingCase is a command of the mix and the request it must become.
type mappingCase struct {
	name   string
	plat   domain.PlatformID
	actor  domain.Actor
	cmd    func(domain.Ref) domain.Command
	method string
	path   string   // after /v1/shops/<platform>/<shop>
	body   []string // the body's fields, sorted (nil: no body)
}

// mixCommandCases: every command type the mix sends (mix.go), each by
// the actors that send it, on the platforms that use it.
func mixCommandCases() []mappingCase {
	placed := time.Date(2026, 3, 9, 2, 0, 0, 0, time.UTC)
	return []mappingCase{
		{"RegisterOrder by the operator", domain.PlatformPDD, operator,
			func(r domain.Ref) domain.Command { return pddOrder(r, 7, placed.Add(24*time.Hour)) },
			"PUT", "/orders/O7", []string{"buyer", "cash_paid", "group_formed_at", "other_paid", "paid_at", "payment_mode", "placed_at", "status"}},
		{"InitiatePayout by the main account", domain.PlatformJD, admin,
			func(r domain.Ref) domain.Command {
				return domain.InitiatePayout{Ref: r, PayoutID: "P1", OrderID: "O1", Amount: dec("3.21"), Type: domain.TypeShipping, Reason: "bench", SMSVerified: true}
			},
			"POST", "/payouts", []string{"amount", "order_id", "payout_id", "reason", "sms_verified", "type"}},
		{"InitiatePayout by a sub-account (quota probe, reserve funding)", domain.PlatformDouyin, staffQuota,
			func(r domain.Ref) domain.Command {
				return domain.InitiatePayout{Ref: r, PayoutID: "X2", OrderID: probeOrderID, Amount: dec("60"), Type: domain.TypeOther,
					Reason: "bench probe", Funding: domain.AccountReserve, SMSVerified: true}
			},
			"POST", "/payouts", []string{"amount", "funding", "order_id", "payout_id", "reason", "sms_verified", "type"}},
		{"InitiatePayout by the daily-quota sub-account", domain.PlatformJD, staffDaily,
			func(r domain.Ref) domain.Command {
				return domain.InitiatePayout{Ref: r, PayoutID: "P3", OrderID: "O0", Amount: dec("20"), Type: domain.TypeOther, Reason: "fill", SMSVerified: true}
			},
			"POST", "/payouts", []string{"amount", "order_id", "payout_id", "reason", "sms_verified", "type"}},
		{"SendCollectionCard by the main account", domain.PlatformTaobao, admin,
			func(r domain.Ref) domain.Command {
				return domain.SendCollectionCard{Ref: r, CollectionID: "C1", OrderID: "O1", Amount: dec("9.99"), Reason: domain.ReasonShippingDifference}
			},
			"POST", "/collections", []string{"amount", "collection_id", "order_id", "reason"}},
		{"MarkPayoutProcessing by the operator", domain.PlatformDouyin, operator,
			func(r domain.Ref) domain.Command { return domain.MarkPayoutProcessing{Ref: r, PayoutID: "P1"} },
			"POST", "/payouts/P1/processing", nil},
		{"MarkPayoutSucceeded by the operator", domain.PlatformJD, operator,
			func(r domain.Ref) domain.Command { return domain.MarkPayoutSucceeded{Ref: r, PayoutID: "P1"} },
			"POST", "/payouts/P1/succeeded", nil},
		{"ConfirmByBuyer by the operator", domain.Platform1688, operator,
			func(r domain.Ref) domain.Command { return domain.ConfirmByBuyer{Ref: r, PayoutID: "P1"} },
			"POST", "/payouts/P1/confirm", nil},
		{"ExpireCard of a buyer's card (operator: no token speaks for the timers)", domain.Platform1688, operator,
			func(r domain.Ref) domain.Command { return domain.ExpireCard{Ref: r, ID: "P1"} },
			"POST", "/payouts/P1/card/expire", nil},
		{"ExpireCard of a collection card", domain.PlatformTaobao, operator,
			func(r domain.Ref) domain.Command { return domain.ExpireCard{Ref: r, ID: "C1"} },
			"POST", "/collections/C1/expire", nil},
		{"ClosePayout by the operator", domain.PlatformPDD, operator,
			func(r domain.Ref) domain.Command { return domain.ClosePayout{Ref: r, PayoutID: "P1"} },
			"POST", "/payouts/P1/close", nil},
		{"PayCollection by the operator", domain.PlatformTaobao, operator,
			func(r domain.Ref) domain.Command { return domain.PayCollection{Ref: r, CollectionID: "C1"} },
			"POST", "/collections/C1/pay", nil},
		{"CancelCard by the main account", domain.PlatformTaobao, admin,
			func(r domain.Ref) domain.Command { return domain.CancelCard{Ref: r, CollectionID: "C1"} },
			"POST", "/collections/C1/cancel", nil},
	}
}

// TestHTTPCommandMapping: each command of the mix becomes its route's
// method, path and body (no field the path carries), and the real API
// decodes it back into the same command, with the actor of the token the
// sender chose and the idempotency key; the answer comes back as the
// handler's Result (events and payloads, the last event's position).
func TestHTTPCommandMapping(t *testing.T) {
	f := newAPIFixture(t)
	for _, tc := range mixCommandCases() {
		t.Run(tc.name, func(t *testing.T) {
			s := f.shops[tc.plat]
			cmd := tc.cmd(s.ref)
			rq, err := f.sender.request(cmd)
			if err != nil {
				t.Fatal(err)
			}
			wantPath := "/v1/shops/" + string(tc.plat) + "/" + s.ref.ShopID + tc.path
			if rq.method != tc.method || rq.path != wantPath {
				t.Fatalf("request %s %s, want %s %s", rq.method, rq.path, tc.method, wantPath)
			}
			var keys []string
			if rq.body != nil {
				var m map[string]json.RawMessage
				if err := json.Unmarshal(rq.body, &m); err != nil {
					t.Fatal(err)
				}
				for k := range m {
					keys = append(keys, k)
				}
				slices.Sort(keys)
			}
			if !slices.Equal(keys, tc.body) {
				t.Fatalf("body fields %v, want %v (%s)", keys, tc.body, rq.body)
			}

			key := "k-" + strings.ReplaceAll(tc.name, " ", "-")
			res, err := f.sender.Handle(context.Background(), cmd, handler.Meta{Actor: tc.actor, IdempotencyKey: key, CorrelationID: "corr-1"})
			if err != nil {
				t.Fatal(err)
			}
			got := f.cmds.last(t)
			if a, b := mustJSON(t, got.cmd), mustJSON(t, cmd); got.cmd.CommandName() != cmd.CommandName() || a != b {
				t.Fatalf("the API decoded %s %s, sent %s %s", got.cmd.CommandName(), a, cmd.CommandName(), b)
			}
			if got.meta.Actor != tc.actor || got.meta.IdempotencyKey != key || got.meta.CorrelationID != "corr-1" {
				t.Fatalf("meta %+v, want actor %+v, key %s", got.meta, tc.actor, key)
			}
			want := got.res
			if res.Stream != want.Stream || res.Version != 8 || res.Replayed || len(res.Events) != 2 {
				t.Fatalf("result %+v", res)
			}
			for i, ev := range res.Events {
				w := want.Events[i]
				if ev.ID != w.ID || ev.Type != w.Type || ev.Stream != w.Stream || ev.Version != w.Version || ev.Actor != w.Actor ||
					ev.IdempotencyKey != key || !ev.OccurredAt.Equal(w.OccurredAt) || mustJSON(t, ev.Data) != mustJSON(t, w.Data) {
					t.Fatalf("event %d: %+v, want %+v", i, ev, w)
				}
			}
			if res.Events[0].Position != 0 || res.Events[1].Position != 42 {
				t.Fatalf("positions %d, %d: want 0 (the API gives the last one only), 42", res.Events[0].Position, res.Events[1].Position)
			}
			if ps, ok := res.Events[1].Data.(domain.PayoutSucceeded); !ok || !ps.Amount.Equal(dec("1.50")) {
				t.Fatalf("payload %#v", res.Events[1].Data)
			}
		})
	}
}

// TestHTTPRouteTable: every command route of the API has its wildcards'
// fields known; a route with an unknown wildcard is refused, not sent
// wrongly.
func TestHTTPRouteTable(t *testing.T) {
	rs, err := commandRoutes(httpapi.Routes())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range mixCommandCases() {
		if len(rs[tc.cmd(domain.Ref{}).CommandName()]) == 0 {
			t.Errorf("no route for %s", tc.cmd(domain.Ref{}).CommandName())
		}
	}
	bad := []httpapi.Route{{Method: "POST", Pattern: "/v1/shops/{platform}/{shop}/gizmos/{gizmo}", Command: "Gizmo"}}
	if _, err := commandRoutes(bad); err == nil || !strings.Contains(err.Error(), "{gizmo}") {
		t.Fatalf("unknown wildcard: %v", err)
	}
}

// TestHTTPAnswers: what the API answers comes back as the handler's
// error would: a rejection (422, and the domain's 403 and 404) with its
// code and checked numbers, a conflict as handler.ErrConflict, anything
// else an error that is neither; an actor without a token is refused
// before sending.
func TestHTTPAnswers(t *testing.T) {
	f := newAPIFixture(t)
	jd := f.shops[domain.PlatformJD]
	pay := domain.InitiatePayout{Ref: jd.ref, PayoutID: "P1", OrderID: "O1", Amount: dec("3.21"), Type: domain.TypeShipping, Reason: "bench", SMSVerified: true}
	lim, used, req := dec("20"), dec("20"), dec("3.21")
	cases := []struct {
		name     string
		actor    domain.Actor
		reply    error
		wantCode string // a *domain.Rejection's
		conflict bool
		wantHTTP int // an *httpError's status
	}{
		{"a rule's rejection (422) with its numbers", staffDaily,
			&domain.Rejection{Code: "jd.staff.daily", Message: "quota", Unit: "CNY", Limit: &lim, Used: &used, Requested: &req, Details: map[string]string{"staff": "cs-q"}},
			"jd.staff.daily", false, 0},
		{"the domain's unknown payout (404)", admin, &domain.Rejection{Code: domain.CodePayoutUnknown, Message: "no payout"}, domain.CodePayoutUnknown, false, 0},
		{"the domain's forbidden role (403)", admin, &domain.Rejection{Code: domain.CodeAuthForbidden, Message: "no"}, domain.CodeAuthForbidden, false, 0},
		{"a conflict (409)", admin, handler.ErrConflict, "", true, 0},
		{"a failure of the service (500)", admin, errors.New("disk on fire"), "", false, 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.cmds.answer(func(domain.Command, handler.Meta) (handler.Result, error) { return handler.Result{}, tc.reply })
			_, err := f.sender.Handle(context.Background(), pay, handler.Meta{Actor: tc.actor, IdempotencyKey: "k-" + tc.name})
			var rej *domain.Rejection
			var he *httpError
			switch {
			case tc.wantCode != "":
				if !errors.As(err, &rej) || rej.Code != tc.wantCode {
					t.Fatalf("error %v, want rejection %s", err, tc.wantCode)
				}
				want := tc.reply.(*domain.Rejection)
				if rej.Message != want.Message || rej.Unit != want.Unit || !decEq(rej.Limit, want.Limit) || !decEq(rej.Used, want.Used) ||
					!decEq(rej.Requested, want.Requested) || len(rej.Details) != len(want.Details) || rej.Details["staff"] != want.Details["staff"] {
					t.Fatalf("rejection %+v, want %+v", rej, want)
				}
			case tc.conflict:
				if !errors.Is(err, handler.ErrConflict) || errors.As(err, &rej) {
					t.Fatalf("error %v, want handler.ErrConflict", err)
				}
			default:
				if !errors.As(err, &he) || he.Status != tc.wantHTTP || errors.As(err, &rej) || errors.Is(err, handler.ErrConflict) {
					t.Fatalf("error %v, want an http %d error", err, tc.wantHTTP)
				}
			}
		})
	}
	f.cmds.answer(acceptWithEvents)
	// The HTTP layer's own refusals are errors, not rejections: a staff
	// token on another shop's path (403 auth.shop_forbidden).
	other := f.shops[domain.PlatformPDD]
	f.book.staff[staffKey{other.ref.ShopRef, "intruder", domain.RoleMain}] = f.book.staff[staffKey{jd.ref.ShopRef, admin.ID, domain.RoleMain}]
	otherPay := pay
	otherPay.Ref = other.ref
	_, err := f.sender.Handle(context.Background(), otherPay, handler.Meta{Actor: domain.Actor{ID: "intruder", Role: domain.RoleMain}, IdempotencyKey: "k-x"})
	var he *httpError
	if !errors.As(err, &he) || he.Status != 403 || he.Code != httpapi.CodeShopForbidden {
		t.Fatalf("another shop's token: %v", err)
	}
	f.cmds.mu.Lock()
	n := len(f.cmds.got)
	f.cmds.mu.Unlock()
	for _, a := range []domain.Actor{timer, {ID: "nobody", Role: domain.RoleMain}} {
		if _, err := f.sender.Handle(context.Background(), pay, handler.Meta{Actor: a, IdempotencyKey: "k-t"}); err == nil {
			t.Errorf("%+v: sent without a token", a)
		}
	}
	f.cmds.mu.Lock()
	defer f.cmds.mu.Unlock()
	if len(f.cmds.got) != n {
		t.Fatal("a command without a token reached the API")
	}
}

// TestHTTPRun runs make bench's HTTP part end to end on a few shops: the
// in-process runs, then payoutd started in this process and the same mix
// over its API at 2 clients, across the shops and on one shop. Every
// command is answered as the mix's model expects, and each HTTP run is
// compared with its in-process twin. It measures nothing.
func TestHTTPRun(t *testing.T) {
	dir := t.TempDir()
	rep, stdout := runForReport(t, dir, "-shops", "10", "-orders", "4", "-clients", "2", "-duration", "1s", "-rounds", "1",
		"-sync", "interval", "-raw", "none", "-raw-batches", "none", "-postgres=false", "-follow=false", "-setup-clients", "2",
		"-data", filepath.Join(dir, "data"))
	mapped := map[string]bool{}
	for _, tc := range mixCommandCases() {
		mapped[tc.cmd(domain.Ref{}).CommandName()] = true
	}
	kinds := map[string]int{}
	for _, r := range rep.Results {
		kinds[r.Kind]++
		if r.Kind != kindHTTPMix && r.Kind != kindHTTPMixOneShop {
			continue
		}
		if r.Unexpected != 0 || r.Failed != 0 || r.OK == 0 || r.Latency.P50MS <= 0 {
			t.Errorf("%s: unexpected %d %v, failed %d %v, ok %d", r.Kind, r.Unexpected, r.UnexpectedExamples, r.Failed, r.Errors, r.OK)
		}
		if c := r.ByCommand["InitiatePayout"]; c == nil || c.Accepted == 0 {
			t.Errorf("%s: no payout accepted: %+v", r.Kind, r.ByCommand)
		}
		if r.GroupCommit == nil || r.GroupCommit.Commands == 0 {
			t.Errorf("%s: payoutd's group commit counted nothing", r.Kind)
		}
		// A command the mix sends and the mapping tests do not pin
		// would go out untested.
		for name := range r.ByCommand {
			if !mapped[name] {
				t.Errorf("%s: the mix sent %s, not in mixCommandCases", r.Kind, name)
			}
		}
	}
	want := map[string]int{kindMix: 1, kindMixOneShop: 1, kindHTTPMix: 1, kindHTTPMixOneShop: 1, kindLogOrdered: 1, kindLogReplay: 1}
	if len(kinds) != len(want) {
		t.Fatalf("results %v, want %v", kinds, want)
	}
	for k, n := range want {
		if kinds[k] != n {
			t.Fatalf("results %v, want %v", kinds, want)
		}
	}
	var cmp int
	for _, c := range rep.Comparisons {
		if (c.Ledger == kindHTTPMix && c.Baseline == kindMix) || (c.Ledger == kindHTTPMixOneShop && c.Baseline == kindMixOneShop) {
			cmp++
			if c.Ratio <= 0 || c.Clients != 2 {
				t.Errorf("comparison %+v", c)
			}
		}
	}
	if cmp != 2 {
		t.Errorf("%d http/in-process comparisons, want 2: %+v", cmp, rep.Comparisons)
	}
	if len(rep.HTTP) != 1 || rep.HTTP[0].Tokens != 1+10+2*2 || rep.HTTP[0].Shops.Shops != 10 {
		t.Errorf("http setup %+v", rep.HTTP)
	}
	for _, want := range []string{"over HTTP", "in-proc/s", "payouts/s", "http.mix_one_shop"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decEq(a, b *decimal.Decimal) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
