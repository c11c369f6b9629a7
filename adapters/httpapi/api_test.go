package httpapi_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/httpapi"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/projections"
)

func TestNewRequiresItsDependencies(t *testing.T) {
	_, err := httpapi.New(httpapi.Config{})
	require.Error(t, err)
}

// panicking is a Commands that panics: the real handler cannot be made to,
// and the recovery path must still answer JSON.
type panicking struct{}

func (panicking) Handle(context.Context, domain.Command, handler.Meta) (handler.Result, error) {
	panic("boom")
}

func TestPanicIsAnswered500AndLogged(t *testing.T) {
	rt, err := projections.New(projections.Config{Source: nopSource{}, Store: projections.NewMemoryStore()}, projections.All()...)
	require.NoError(t, err)
	var logs bytes.Buffer
	api, err := httpapi.New(httpapi.Config{Commands: panicking{}, Views: rt, Auth: mapAuth{tokMainA: staff(domain.PlatformPDD, "shop-a", "admin", domain.RoleMain)},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	r := httptest.NewRequest("POST", payouts, strings.NewReader(okPayout))
	r.Header.Set("Authorization", "Bearer "+tokMainA)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Idempotency-Key", "k1")
	w := httptest.NewRecorder()
	api.ServeHTTP(w, r)
	require.Equal(t, http.StatusInternalServerError, w.Code)
	require.JSONEq(t, `{"code":"internal","message":"internal error; retry later"}`, w.Body.String())
	require.Contains(t, logs.String(), "boom")

	// The read models of a runtime that never ran are not ready: 503.
	r = httptest.NewRequest("GET", payouts, nil)
	r.Header.Set("Authorization", "Bearer "+tokMainA)
	w = httptest.NewRecorder()
	api.ServeHTTP(w, r)
	require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), httpapi.CodeNotReady)
	require.Equal(t, "1", w.Header().Get("Retry-After"))
}

// nopSource is an empty log for a runtime that is never run.
type nopSource struct{ projections.Source }

func TestClosedStoreIs503WithoutInternals(t *testing.T) {
	e := newEnv(t)
	e.setupShops()
	require.NoError(t, e.es.Close())
	r := e.do(req{method: "POST", path: payouts, token: tokMainA, body: okPayout})
	require.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r.raw)
	require.Equal(t, httpapi.CodeUnavailable, r.code())
	require.NotContains(t, string(r.raw), "nats")
}

func TestMethodNotAllowedListsTheMethods(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "DELETE", path: payouts, token: tokMainA})
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	require.Equal(t, "GET, POST, HEAD", r.header.Get("Allow"))
	r = e.do(req{method: "GET", path: payouts + "/P1/approve", token: tokMainA})
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	require.Equal(t, "POST", r.header.Get("Allow"))
}

func TestObserveSeesEveryCommandOutcome(t *testing.T) {
	e := newEnv(t)
	e.setupShops()
	e.must(http.StatusCreated, req{method: "POST", path: payouts, token: tokMainA, key: "obs", body: okPayout})
	e.must(http.StatusCreated, req{method: "POST", path: payouts, token: tokMainA, key: "obs", body: okPayout})
	e.do(req{method: "POST", path: payouts, token: tokMainA, body: `{`})
	e.do(req{method: "POST", path: payouts, token: tokSubB, body: okPayout})
	e.do(req{method: "GET", path: payouts, token: tokMainA}) // reads are not observed
	require.Equal(t, []string{"InitiatePayout:ok", "InitiatePayout:replayed", "InitiatePayout:" + httpapi.CodeMalformedJSON,
		"InitiatePayout:" + httpapi.CodeShopForbidden}, e.obs)
}
