package timers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/payoutledger/ledger/adapters/timers"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// sliceSource serves a prepared log from memory: the benchmark measures
// the scheduler's own cost per event (filter, decode, apply); what the
// store's ReadAll costs is measured in docs/performance.md.
type sliceSource []eventstore.RecordedEvent

func (s sliceSource) ReadAll(_ context.Context, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	if from == 0 {
		from = 1
	}
	if from > uint64(len(s)) {
		return nil, nil
	}
	end := min(from-1+uint64(max), uint64(len(s)))
	return s[from-1 : end], nil
}

func (s sliceSource) Subscribe(ctx context.Context, _ uint64, _ func(eventstore.RecordedEvent) error) error {
	<-ctx.Done()
	return ctx.Err()
}

// benchLog is a PDD log of n events: per payout an order registration, the
// initiation (a close timer), processing and success (ending it); every
// tenth payout stays open.
func benchLog(b *testing.B, n int) sliceSource {
	b.Helper()
	ref := domain.ShopRef{Platform: domain.PlatformPDD, ShopID: "bench"}
	var out sliceSource
	for i := 0; len(out) < n; i++ {
		now := t0.Add(time.Duration(i) * time.Second)
		oid, pid := fmt.Sprintf("O%d", i), fmt.Sprintf("P%d", i)
		payloads := []domain.Payload{
			domain.OrderRegistered{OrderID: oid, Buyer: "B", CashPaid: dec("100"), Status: domain.OrderPaid, PlacedAt: now},
			domain.PayoutInitiated{PayoutID: pid, OrderID: oid, Staff: "M1", StaffRole: domain.RoleMain, Amount: dec("10"),
				Type: domain.TypeShipping, Reason: "r", Funding: domain.AccountProceeds, Route: domain.RouteDirect,
				Status: domain.StatusPending, InitiatedAt: now, Day: "2026-11-23", HoldsFunds: true},
			domain.PayoutProcessing{PayoutID: pid},
		}
		if i%10 != 0 {
			payloads = append(payloads, domain.PayoutSucceeded{PayoutID: pid, Amount: dec("10"), Funding: domain.AccountProceeds})
		}
		evs := domain.NewEvents(ref.Stream(), "bench", domain.Request{Now: now, Actor: mainAcct}, domain.NewV7, payloads)
		data, err := handler.Encode(evs)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range data {
			pos := uint64(len(out) + 1)
			out = append(out, eventstore.RecordedEvent{EventData: d, Stream: ref.Stream(), Version: pos, Position: pos})
		}
	}
	return out[:n]
}

// BenchmarkRebuild: rebuilding the pending set from a 100,000-event log
// (what a start costs besides reading the log). Run with
// go test -run '^$' -bench Rebuild -benchtime 5x ./adapters/timers/
func BenchmarkRebuild(b *testing.B) {
	const n = 100_000
	src := benchLog(b, n)
	b.ResetTimer()
	for range b.N {
		s, err := timers.New(timers.Config{Source: src, Commands: &flaky{}})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.CatchUp(context.Background()); err != nil {
			b.Fatal(err)
		}
		if len(s.Pending()) == 0 {
			b.Fatal("no pending timers")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/event")
}
