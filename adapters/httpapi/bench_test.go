package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/payoutledger/ledger/adapters/httpapi"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/projections"
)

// acceptAll answers every command with one event, without a store: the
// benchmark measures the HTTP layer alone (auth, decode, checks, encode).
type acceptAll struct{}

func (acceptAll) Handle(_ context.Context, cmd domain.Command, meta handler.Meta) (handler.Result, error) {
	p := cmd.(domain.InitiatePayout)
	ev := domain.Event{ID: uuid.Nil, Type: "PayoutInitiated", SchemaVersion: 1, Stream: cmd.Shop().Stream(), Version: 7, Position: 42,
		OccurredAt: time.Unix(0, 0), Actor: meta.Actor, Command: cmd.CommandName(), IdempotencyKey: meta.IdempotencyKey,
		Data: domain.PayoutInitiated{PayoutID: p.PayoutID, OrderID: p.OrderID, Amount: p.Amount, Type: p.Type, Reason: p.Reason}}
	return handler.Result{Stream: ev.Stream, Events: []domain.Event{ev}, Version: 7}, nil
}

// BenchmarkInitiatePayoutHTTPLayer: the API's own cost per InitiatePayout
// (no network, no store).
func BenchmarkInitiatePayoutHTTPLayer(b *testing.B) {
	rt, err := projections.New(projections.Config{Source: nopSource{}, Store: projections.NewMemoryStore()}, projections.All()...)
	if err != nil {
		b.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Config{Commands: acceptAll{}, Views: rt,
		Auth: mapAuth{tokMainA: staff(domain.PlatformPDD, "shop-a", "admin", domain.RoleMain)}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			r := httptest.NewRequest("POST", payouts, strings.NewReader(okPayout))
			r.Header.Set("Authorization", "Bearer "+tokMainA)
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Idempotency-Key", "k-"+strconv.Itoa(i))
			w := httptest.NewRecorder()
			api.ServeHTTP(w, r)
			if w.Code != http.StatusCreated {
				b.Fatalf("%d %s", w.Code, w.Body.Bytes())
			}
		}
	})
}
