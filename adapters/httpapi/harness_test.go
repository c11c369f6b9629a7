package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/httpapi"
	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/adapters/tokens"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/projections"
)

// mapAuth is the test's Authenticator: a map from bearer token to
// principal. The real token store (adapters/tokens) is written elsewhere;
// this one answers the same errors: a token that does not look like one
// is tokens.ErrMalformed, an unknown one tokens.ErrUnknown.
type mapAuth map[string]tokens.Principal

func (m mapAuth) Authenticate(_ context.Context, bearer string) (tokens.Principal, error) {
	if !strings.HasPrefix(bearer, "tok-") {
		return tokens.Principal{}, tokens.ErrMalformed
	}
	p, ok := m[bearer]
	if !ok {
		return tokens.Principal{}, tokens.ErrUnknown
	}
	return p, nil
}

// The principals of the tests: shop A and shop B on PDD, and operators.
const (
	tokMainA     = "tok-main-a"
	tokSubA      = "tok-sub-a"
	tokMainB     = "tok-main-b"
	tokSubB      = "tok-sub-b"
	tokOpPDD     = "tok-op-pdd"
	tokOpJD      = "tok-op-jd"
	tokOpAll     = "tok-op-all"
	tokMalformed = "garbage!"
	tokUnknown   = "tok-nobody"
)

func staff(platform domain.PlatformID, shop, id string, role domain.Role) tokens.Principal {
	return tokens.Principal{TokenID: "t-" + id + "-" + shop, Kind: tokens.KindStaff, Platform: platform, ShopID: shop, Staff: id, Role: role}
}

func operator(platform domain.PlatformID, name string) tokens.Principal {
	return tokens.Principal{TokenID: "t-" + name, Kind: tokens.KindOperator, Platform: platform, Role: domain.RoleOperator, Name: name}
}

// env is the API over the real handler, the embedded JetStream store in a
// temporary directory and the real projections runtime (memory store).
type env struct {
	t        testing.TB
	es       *jetstream.Store
	h        *handler.Handler
	rt       *projections.Runtime
	api      *httpapi.API
	auth     mapAuth
	mu       sync.Mutex
	now      time.Time
	seq      int
	lastHead uint64
	obsMu    sync.Mutex
	obs      []string
}

var t0 = time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC) // 10:00 in Asia/Shanghai

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	es, err := jetstream.Open(ctx, jetstream.Config{DataDir: t.TempDir()})
	require.NoError(t, err)
	e := &env{t: t, es: es, now: t0}
	e.h = handler.New(es, handler.Config{Clock: e.clock})
	e.rt, err = projections.New(projections.Config{Source: es, Store: projections.NewMemoryStore(), DensePositions: true,
		BatchEvents: 64, BatchInterval: 5 * time.Millisecond, HeadInterval: 5 * time.Millisecond}, projections.All()...)
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.rt.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		if err := es.Close(); !errors.Is(err, eventstore.ErrClosed) {
			require.NoError(t, err)
		}
	})
	e.auth = mapAuth{
		tokMainA: staff(domain.PlatformPDD, "shop-a", "admin", domain.RoleMain),
		tokSubA:  staff(domain.PlatformPDD, "shop-a", "cs-1", domain.RoleSub),
		tokMainB: staff(domain.PlatformPDD, "shop-b", "admin", domain.RoleMain),
		tokSubB:  staff(domain.PlatformPDD, "shop-b", "cs-1", domain.RoleSub),
		tokOpPDD: operator(domain.PlatformPDD, "pdd-ops"),
		tokOpJD:  operator(domain.PlatformJD, "jd-ops"),
		tokOpAll: operator("", "all-ops"),
	}
	e.api, err = httpapi.New(httpapi.Config{Commands: e.h, Views: e.rt, Auth: e.auth, Now: e.clock,
		Observe: func(cmd, outcome string, _ time.Duration) {
			e.obsMu.Lock()
			e.obs = append(e.obs, cmd+":"+outcome)
			e.obsMu.Unlock()
		}})
	require.NoError(t, err)
	return e
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// head is the global position of the last event in the log.
// It reads on from the last head it saw (positions are dense), so a
// check costs one read when nothing was appended.
func (e *env) head() uint64 {
	e.t.Helper()
	for {
		recs, err := e.es.ReadAll(context.Background(), e.lastHead+1, 1000)
		require.NoError(e.t, err)
		if len(recs) == 0 {
			return e.lastHead
		}
		e.lastHead = recs[len(recs)-1].Position
	}
}

// waitViews waits until every projection applied the log up to its head.
func (e *env) waitViews() {
	e.t.Helper()
	head := e.head()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := e.rt.Status()
		done := len(st) == len(projections.All())
		for _, s := range st {
			require.Nil(e.t, s.Err)
			done = done && s.Applied >= head
		}
		if done {
			return
		}
		require.True(e.t, time.Now().Before(deadline), "projections did not reach position %d: %+v", head, st)
		time.Sleep(2 * time.Millisecond)
	}
}

// req is one HTTP request of a test.
type req struct {
	method, path, token, body string
	key                       string // Idempotency-Key; "" sets a fresh one on commands unless noKey
	noKey                     bool
	contentType               string // default application/json when there is a body
	headers                   map[string]string
}

type resp struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any
}

func (r resp) code() string {
	c, _ := r.json["code"].(string)
	return c
}

func (e *env) do(q req) resp {
	e.t.Helper()
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	r := httptest.NewRequest(q.method, q.path, body)
	if q.token != "" {
		r.Header.Set("Authorization", "Bearer "+q.token)
	}
	if q.body != "" {
		ct := q.contentType
		if ct == "" {
			ct = "application/json"
		}
		if ct != "-" {
			r.Header.Set("Content-Type", ct)
		}
	}
	if q.method != http.MethodGet && !q.noKey {
		k := q.key
		if k == "" {
			e.seq++
			k = "key-" + time.Now().Format("150405.000000") + "-" + itoa(e.seq)
		}
		r.Header.Set("Idempotency-Key", k)
	}
	for k, v := range q.headers {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, r)
	out := resp{status: w.Code, header: w.Header(), raw: w.Body.Bytes()}
	if strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		require.NoError(e.t, json.Unmarshal(out.raw, &out.json), "answer is not JSON: %s", out.raw)
	}
	return out
}

// must sends a request that must succeed with the given status.
func (e *env) must(status int, q req) resp {
	e.t.Helper()
	r := e.do(q)
	require.Equal(e.t, status, r.status, "%s %s: %s", q.method, q.path, r.raw)
	return r
}

func itoa(i int) string { return strconv.Itoa(i) }

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// setupShops registers shops A and B on PDD with the handler directly and
// funds shop A (proceeds 3000), with an order O1 formed two days ago.
func (e *env) setupShops() {
	e.t.Helper()
	op := domain.Actor{ID: "pdd-ops", Role: domain.RoleOperator}
	adm := domain.Actor{ID: "admin", Role: domain.RoleMain}
	ref := func(shop string) domain.Ref {
		return domain.Ref{ShopRef: domain.ShopRef{Platform: domain.PlatformPDD, ShopID: shop}}
	}
	placed := t0.Add(-48 * time.Hour)
	for i, c := range []struct {
		a   domain.Actor
		cmd domain.Command
	}{
		{op, domain.RegisterShop{Ref: ref("shop-a"), Name: "Shop A", MainAccount: "admin"}},
		{op, domain.RegisterShop{Ref: ref("shop-b"), Name: "Shop B", MainAccount: "admin"}},
		{adm, domain.OpenFundingAccount{Ref: ref("shop-a"), Kind: domain.AccountProceeds}},
		{op, domain.CreditProceeds{Ref: ref("shop-a"), Amount: dec("3000")}},
		{op, domain.RegisterOrder{Ref: ref("shop-a"), OrderID: "O1", Buyer: "b1", CashPaid: dec("80"), Status: domain.OrderShipped,
			PaymentMode: "online", PlacedAt: placed, PaidAt: &placed, GroupFormedAt: &placed}},
	} {
		_, err := e.h.Handle(context.Background(), c.cmd, handler.Meta{Actor: c.a, IdempotencyKey: "setup-" + itoa(i)})
		require.NoError(e.t, err, "%s", c.cmd.CommandName())
	}
	e.waitViews()
}
