package handler_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// BenchmarkInitiatePayout measures accepted InitiatePayout per second and
// the p99 of Handle on the real embedded store, fsync before every
// acknowledgement (always, the default) or in the background (interval),
// with group commit off and on, for several client counts, spread over
// 1,000 shops or all on one. E.g.
//
//	go test ./eventstore/handler/ -run '^$' -bench 'InitiatePayout/always' -benchtime 3s
func BenchmarkInitiatePayout(b *testing.B) {
	for _, sync := range []jetstream.Sync{jetstream.SyncAlways, jetstream.SyncInterval} {
		for _, shops := range []int{1000, 1} {
			// Every payout is the first of its type on its order (one
			// event) until every order took all five types (320,000
			// payouts across 1,000 shops, 200,000 on one shop); then
			// duplicates add a warning event and make every command a
			// multi-event atomic batch. The benchmark logs when it gets
			// there: rows after that are not comparable.
			orders := 64
			if shops == 1 {
				orders = 40_000
			}
			var store eventstore.Store
			var refs []domain.Ref
			var used atomic.Int64 // payouts so far on this store, across runs
			for _, mode := range []struct {
				name string
				gc   handler.GroupCommit
			}{{"off", handler.GroupCommitOff}, {"on", handler.GroupCommitOn}} {
				for _, clients := range []int{1, 16, 64, 256} {
					b.Run(fmt.Sprintf("%s/%s/clients=%d/shops=%d", sync, mode.name, clients, shops), func(b *testing.B) {
						if store == nil { // set up on the first run that -bench selects
							store = openBenchStore(b, sync)
							refs = setupBenchShops(b, store, shops, orders)
						}
						benchPayouts(b, store, refs, orders, &used, mode.gc, clients)
					})
				}
			}
		}
	}
}

var benchRun atomic.Int64

func benchClock() time.Time { return start }

func benchPayouts(b *testing.B, store eventstore.Store, refs []domain.Ref, orders int, used *atomic.Int64, gc handler.GroupCommit, clients int) {
	ctx := context.Background()
	h := handler.New(store, handler.Config{GroupCommit: gc, Clock: benchClock, SmallBatch: *benchSmallBatch})
	for _, ref := range refs { // load every shop before the clock starts
		if _, err := h.State(ctx, ref.ShopRef); err != nil {
			b.Fatal(err)
		}
	}
	run := benchRun.Add(1)
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var failed atomic.Value
	b.ResetTimer()
	stopProfile := startBenchProfile(b)
	began := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				u := int(used.Add(1))
				ref := refs[u%len(refs)]
				round := u / len(refs) // payouts per shop so far
				order := fmt.Sprintf("O%d", round%orders)
				cmd := payout(ref, fmt.Sprintf("B%d-%d", run, n), order, "1")
				cmd.Type = benchTypes[(round/orders)%len(benchTypes)]
				t0 := time.Now()
				_, err := h.Handle(ctx, cmd, handler.Meta{Actor: admin})
				lat[c] = append(lat[c], time.Since(t0))
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(began)
	stopProfile()
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "cmds/s")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
	if u := used.Load(); u > int64(len(refs)*orders*len(benchTypes)) {
		b.Logf("orders exhausted: %d payouts on this store, the later ones with a duplicate warning (two events)", u)
	}
	if gc == handler.GroupCommitOn {
		s := h.Stats()
		b.ReportMetric(float64(s.Commands)/float64(max(s.Batches, 1)), "cmds/batch")
		b.Logf("N=%d batches=%d by size %v conflicts=%d", b.N, s.Batches, s.BySize, s.Conflicts)
	}
}

// benchTypes: an order takes one payout of each type before a type
// repeats (a duplicate: a second, warning event in the command's append).
var benchTypes = []domain.PayoutType{domain.TypeShipping, domain.TypePriceDifference, domain.TypeService,
	domain.TypeActivityCompensation, domain.TypeOther}

// benchProfile: a CPU profile of the measured part of each run only (set
// up, shop loading and the other runs excluded, unlike -cpuprofile).
var benchProfile = flag.String("bench.cpuprofile", "", "write a CPU profile of each InitiatePayout run's measured part to this path + the run's name")

// benchSmallBatch compares the small-batch threshold (0: the default,
// -1: every batch atomic).
var benchSmallBatch = flag.Int("bench.smallbatch", 0, "handler.Config.SmallBatch for the InitiatePayout runs (0: default, -1: always an atomic batch)")

func startBenchProfile(b *testing.B) (stop func()) {
	if *benchProfile == "" {
		return func() {}
	}
	name := *benchProfile + "." + strings.NewReplacer("/", "_", "=", "").Replace(b.Name())
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

func openBenchStore(b *testing.B, sync jetstream.Sync) eventstore.Store {
	b.Helper()
	// Not b.TempDir nor b.Cleanup: the store outlives the sub-benchmark
	// that opened it (the others of its sync mode and shop count use it).
	dir, err := os.MkdirTemp("", "handler-bench-")
	if err != nil {
		b.Fatal(err)
	}
	s, err := jetstream.Open(context.Background(), jetstream.Config{DataDir: dir, Sync: sync})
	if err != nil {
		b.Fatal(err)
	}
	benchStores = append(benchStores, func() { s.Close(); os.RemoveAll(dir) })
	return s
}

// benchStores close the benchmark's stores when the test binary ends
// (TestMain).
var benchStores []func()

// setupBenchShops registers, funds and enrolls shops with orders, with
// group commit and many clients (quick).
func setupBenchShops(b *testing.B, store eventstore.Store, shops, orders int) []domain.Ref {
	b.Helper()
	ctx := context.Background()
	h := handler.New(store, handler.Config{Clock: benchClock})
	refs := make([]domain.Ref, shops)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	var failed atomic.Value
	do := func(a domain.Actor, c domain.Command) {
		if _, err := h.Handle(ctx, c, handler.Meta{Actor: a}); err != nil {
			failed.Store(fmt.Errorf("%s: %w", c.CommandName(), err))
		}
	}
	for i := range refs {
		ref := domain.Ref{ShopRef: domain.ShopRef{Platform: domain.PlatformJD, ShopID: fmt.Sprintf("bench%d", i)}}
		refs[i] = ref
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			do(operator, domain.RegisterShop{Ref: ref, Name: "shop", MainAccount: "admin", EntityType: "enterprise", CooperationMode: "sop", AfterSalesSelfService: true})
			do(admin, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountWallet})
			do(admin, domain.TopUp{Ref: ref, Kind: domain.AccountWallet, Amount: dec("1000000000")})
			do(admin, domain.EnrollShop{Ref: ref, AcceptAgreement: true})
		}()
	}
	wg.Wait()
	for i := 0; i < shops*orders; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			do(operator, domain.RegisterOrder{Ref: refs[i%shops], OrderID: fmt.Sprintf("O%d", i/shops), Buyer: "b",
				CashPaid: dec("500"), Status: domain.OrderPaid, PlacedAt: start.Add(-time.Hour)})
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return refs
}
