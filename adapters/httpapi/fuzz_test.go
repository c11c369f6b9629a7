package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/payoutledger/ledger/adapters/httpapi"
	"github.com/payoutledger/ledger/domain"
)

// commandRoutes are the command routes, indexed by the fuzzers' route byte.
func commandRoutes() []httpapi.Route {
	var out []httpapi.Route
	for _, r := range httpapi.Routes() {
		if r.Command != "" {
			out = append(out, r)
		}
	}
	return out
}

// checkAnswer: never a 500 for input, every refusal a JSON error with a
// code, every success a JSON command result.
func checkAnswer(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code >= 500 {
		t.Fatalf("status %d for client input: %s", w.Code, w.Body.Bytes())
	}
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") && w.Code != http.StatusOK {
		t.Fatalf("status %d answered %q", w.Code, w.Header().Get("Content-Type"))
	}
	var body map[string]any
	if strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("status %d answered invalid JSON: %v: %s", w.Code, err, w.Body.Bytes())
		}
	}
	if w.Code >= 300 {
		if c, _ := body["code"].(string); c == "" {
			t.Fatalf("status %d without a code: %s", w.Code, w.Body.Bytes())
		}
	}
}

// FuzzCommandBody sends arbitrary bodies to every command route (the
// route byte picks one) through the real handler and store, as a token
// allowed to use the route.
func FuzzCommandBody(f *testing.F) {
	e := newEnv(f)
	e.setupShops()
	routes := commandRoutes()
	var seq atomic.Int64 // a fresh key per input: reused keys would stop at idempotency
	for i, r := range routes {
		f.Add(uint8(i), []byte(`{}`))
		if r.Command == "InitiatePayout" {
			f.Add(uint8(i), []byte(okPayout))
			f.Add(uint8(i), []byte(`{"payout_id":"P9","order_id":"O1","amount":12.345e1,"type":"shipping","reason":"r"}`))
		}
	}
	f.Fuzz(func(t *testing.T, idx uint8, body []byte) {
		r := routes[int(idx)%len(routes)]
		tok := tokOpPDD
		if slices.Contains(r.Roles, domain.RoleMain) {
			tok = tokMainA
		}
		q := httptest.NewRequest(r.Method, pathFor(r.Pattern), strings.NewReader(string(body)))
		q.Header.Set("Authorization", "Bearer "+tok)
		q.Header.Set("Content-Type", "application/json")
		q.Header.Set("Idempotency-Key", "fuzz-"+itoa(int(seq.Add(1))))
		w := httptest.NewRecorder()
		e.api.ServeHTTP(w, q)
		checkAnswer(t, w)
	})
}

// FuzzRecordsQuery sends arbitrary query strings to the payout-records
// search and its CSV export.
func FuzzRecordsQuery(f *testing.F) {
	e := newEnv(f)
	e.setupShops()
	for _, s := range []string{"", "order=O1", "payout=P1&staff=admin&status=pending", "from=2026-03-10T00:00:00Z&to=2026-03-11T00:00:00Z",
		"limit=10", "limit=-1", "from=x", "staff=%zz", "to=2026-03-09T00:00:00%2B08:00"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, sub bool) {
		tok := tokMainA
		if sub {
			tok = tokSubA
		}
		q := httptest.NewRequest("GET", payouts, nil)
		q.URL.RawQuery = raw
		q.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		e.api.ServeHTTP(w, q)
		checkAnswer(t, w)
		if w.Code == http.StatusOK && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("invalid JSON: %s", w.Body.Bytes())
		}
	})
}
