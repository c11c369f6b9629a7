package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/projections"
	"github.com/payoutledger/ledger/projections/pgtest"
	"github.com/payoutledger/ledger/projections/postgres"
)

// The replay workload (-workload replay): on one embedded JetStream store,
// build a log of -events events (decided by domain.Execute, appended in
// atomic batches), then read it back and replay it, each measured on its
// own, in this order:
//
//	replay.ordered         a raw JetStream ordered consumer over the whole
//	                       stream (nats.go OrderedConsumer, in process, on a
//	                       twin server over the store's data directory while
//	                       the store is closed): the baseline of issues 6 and 8
//	replay.read_all        ReadAll pages over the whole log
//	replay.read_decode     the same, and handler.Decode of every event
//	replay.memory          every projection rebuilt into a MemoryStore
//	replay.embedded        ... into a fresh embedded store (fsync on)
//	replay.postgres        ... into a throwaway PostgreSQL cluster
//	replay.read_all_after  ReadAll again: drift of the machine
//	replay.ordered_after   the ordered consumer again, last
//
// Each phase is compared with the mean of the two ordered-consumer reads
// and with the mean of the two ReadAll runs.
const (
	kindOrdered      = "replay.ordered"
	kindOrderedAfter = "replay.ordered_after"
	kindReadAll      = "replay.read_all"
	kindReadAllAfter = "replay.read_all_after"
	kindReadDecode   = "replay.read_decode"
	kindReplayPrefix = "replay."
)

// orderedPull is how many messages the raw ordered consumer keeps in
// flight (PullMaxMessages): measured here, 1,000 to 10,000 read alike
// (within the machine's noise); more only costs memory.
const orderedPull = 5000

// replayPage is the ReadAll page size of every phase, as payoutctl replay
// uses (projections.Config.PageSize).
const replayPage = 10_000

// shopEventsMax is about the most events one shop's log takes before a
// Douyin shop runs out of payouts (5 per order): the shops are raised
// beyond -shops when -events needs more.

const shopEventsMax = 1500

// logStats is what building the log took.
type logStats struct {
	Shops        int            `json:"shops"`
	Orders       int            `json:"orders_per_shop"`
	Commands     int64          `json:"commands"`
	Events       int64          `json:"events"`
	ByType       map[string]int `json:"events_by_type"`
	Batches      int64          `json:"batches"`
	Seconds      float64        `json:"seconds"`
	LogBytes     uint64         `json:"stream_bytes,omitempty"`
	HeadPosition uint64         `json:"head_position"`
}

// ReplaySetup is the log the replay workload measured.
type ReplaySetup struct {
	Sync    string   `json:"sync"`
	DataDir string   `json:"data_dir"`
	Log     logStats `json:"log"`
	// Postgres: the cluster's version, or why the row did not run.
	Postgres   string `json:"postgres"`
	CPUProfile string `json:"cpu_profile,omitempty"`
}

func runReplay(ctx context.Context, o options, rep *Report, stdout, stderr io.Writer) error {
	p := newPrinter(stdout)
	p.replayHeader(rep)
	sync := o.Syncs[0]
	dir, cleanup, err := dataDir(o.Data, sync)
	if err != nil {
		return err
	}
	defer cleanup()
	setup := ReplaySetup{Sync: sync, DataDir: dir}
	if o.Data == "" {
		setup.DataDir += " (temporary, removed at exit)"
	}
	open := func() (*jetstream.Store, error) {
		es, err := jetstream.Open(ctx, jetstream.Config{DataDir: dir, Sync: jetstream.Sync(sync)})
		if err != nil {
			return nil, fmt.Errorf("open the embedded store in %s: %w", dir, err)
		}
		return es, nil
	}
	es, err := open()
	if err != nil {
		return err
	}
	defer func() { es.Close() }()

	// Shops: -shops, fewer for a small log (a shop's setup, about -orders
	// events, at most a quarter of its share), more for a big one (a
	// Douyin shop takes about shopEventsMax events at most).
	shops := min(o.Shops, max(1, int(o.Events/int64(4*(o.Orders+4)))))
	shops = max(shops, int((o.Events+shopEventsMax-1)/shopEventsMax))
	w := newWorkload(shops, o.Orders, o.plats, "R")
	fmt.Fprintf(stderr, "payoutbench: replay: building a log of %d events over %d shops...\n", o.Events, shops)
	began := time.Now()
	if setup.Log, err = buildLog(ctx, es, w, o.Events, time.Now().Add(-2*time.Hour)); err != nil {
		return err
	}
	if setup.Log.HeadPosition, err = projections.HeadPosition(ctx, es, 0); err != nil {
		return err
	}
	p.replayLog(setup)

	var stores []string
	for _, s := range o.Stores {
		if s != "postgres" {
			stores = append(stores, s)
			continue
		}
		// Start the cluster before the measured phases: its start-up is
		// not part of any figure.
		fmt.Fprintln(stderr, "payoutbench: replay: starting a throwaway PostgreSQL cluster...")
		c, err := pgtest.Start()
		if err != nil {
			setup.Postgres = "did not run: " + err.Error()
			rep.Notes = append(rep.Notes, "replay.postgres did NOT run: "+err.Error())
			continue
		}
		defer c.Stop()
		setup.Postgres = fmt.Sprintf("PostgreSQL %s (%s), throwaway cluster, fsync off as pgtest starts it", c.Version, c.BinDir)
		pgCluster = c
		stores = append(stores, s)
	}

	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
		setup.CPUProfile = o.CPUProfile
	}

	head := setup.Log.HeadPosition
	var results []Result
	measure := func(kind string, fn func() (int64, error)) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		runtime.GC()
		fmt.Fprintf(stderr, "payoutbench: replay: %s...\n", kind)
		load := loadAvg1()
		cpu0, start := processCPU(), time.Now()
		n, err := fn()
		elapsed, cpu := time.Since(start), processCPU()-cpu0
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		if uint64(n) != head {
			return fmt.Errorf("%s: %d events, the log has %d", kind, n, head)
		}
		r := Result{Kind: kind, Sync: sync, Clients: 1, Seconds: elapsed.Seconds(), Slices: 1, Attempted: n, OK: n, Events: n,
			Load1: load, CPUSeconds: cpu.Seconds()}
		r.OKPerSec = float64(n) / max(r.Seconds, 1e-9)
		r.EventsPerSec = r.OKPerSec
		r.CPUPerOKMicros = float64(cpu.Microseconds()) / float64(max(n, 1))
		results = append(results, r)
		return nil
	}
	// The raw ordered consumer reads the store's directory through a twin
	// server while the store is closed (the store does not export its
	// in-process connection): the same files, the same server options,
	// an in-process connection like the store's. Opening and closing are
	// not measured.
	ordered := func(kind string) error {
		if err := es.Close(); err != nil {
			return err
		}
		srv, nc, err := startTwin(dir, jetstream.Sync(sync))
		if err != nil {
			return err
		}
		err = measure(kind, func() (int64, error) { return readOrdered(ctx, nc, head) })
		nc.Close()
		srv.Shutdown()
		srv.WaitForShutdown()
		if err != nil {
			return err
		}
		es, err = open()
		return err
	}
	if err := ordered(kindOrdered); err != nil {
		return err
	}
	if err := measure(kindReadAll, func() (int64, error) { return readLog(ctx, es, false) }); err != nil {
		return err
	}
	if err := measure(kindReadDecode, func() (int64, error) { return readLog(ctx, es, true) }); err != nil {
		return err
	}
	for _, s := range stores {
		if err := measure(kindReplayPrefix+s, func() (int64, error) { return replayInto(ctx, es, s, head, o.Data) }); err != nil {
			return err
		}
	}
	if err := measure(kindReadAllAfter, func() (int64, error) { return readLog(ctx, es, false) }); err != nil {
		return err
	}
	if err := ordered(kindOrderedAfter); err != nil {
		return err
	}
	if o.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	rate := map[string]float64{}
	for _, r := range results {
		rate[r.Kind] = r.EventsPerSec
	}
	base := (rate[kindOrdered] + rate[kindOrderedAfter]) / 2
	baseReadAll := (rate[kindReadAll] + rate[kindReadAllAfter]) / 2
	for _, r := range results {
		rep.Results = append(rep.Results, r)
		if r.Kind != kindOrdered && r.Kind != kindOrderedAfter {
			rep.Comparisons = append(rep.Comparisons, Comparison{Sync: sync, Clients: 1, Ledger: r.Kind, Baseline: kindOrdered + " (mean of before and after)",
				LedgerPS: r.EventsPerSec, BasePS: base, Ratio: r.EventsPerSec / base})
		}
		if r.Kind != kindReadAll && r.Kind != kindReadAllAfter && r.Kind != kindOrdered && r.Kind != kindOrderedAfter {
			rep.Comparisons = append(rep.Comparisons, Comparison{Sync: sync, Clients: 1, Ledger: r.Kind, Baseline: kindReadAll + " (mean of before and after)",
				LedgerPS: r.EventsPerSec, BasePS: baseReadAll, Ratio: r.EventsPerSec / baseReadAll})
		}
	}
	rep.Replay = &setup
	p.replayTable(results, base, baseReadAll, setup, time.Since(began))
	return nil
}

// pgCluster is the cluster the postgres row replays into (nil: none).
var pgCluster *pgtest.Cluster

// readLog reads the whole log with ReadAll pages, decoding every event
// when decode is set, and returns the events read.
func readLog(ctx context.Context, es eventstore.Store, decode bool) (int64, error) {
	var n int64
	from := uint64(1)
	for {
		recs, err := es.ReadAll(ctx, from, replayPage)
		if err != nil {
			return n, err
		}
		if len(recs) == 0 {
			return n, nil
		}
		if decode {
			for _, r := range recs {
				if _, err := handler.Decode(r); err != nil {
					return n, fmt.Errorf("decode position %d: %w", r.Position, err)
				}
			}
		}
		n += int64(len(recs))
		from = recs[len(recs)-1].Position + 1
	}
}

// readOrdered reads the whole LEDGER stream with a raw nats.go ordered
// consumer (no ledger decoding: the message, its metadata for the order
// check, and its headers and body as delivered) and returns the messages
// read.
func readOrdered(ctx context.Context, nc *nats.Conn, head uint64) (int64, error) {
	js, err := natsjs.New(nc)
	if err != nil {
		return 0, err
	}
	st, err := js.Stream(ctx, jetstream.DefaultStreamName)
	if err != nil {
		return 0, err
	}
	cons, err := st.OrderedConsumer(ctx, natsjs.OrderedConsumerConfig{FilterSubjects: []string{jetstream.DefaultSubjectPrefix + ".>"}})
	if err != nil {
		return 0, err
	}
	it, err := cons.Messages(natsjs.PullMaxMessages(orderedPull))
	if err != nil {
		return 0, err
	}
	defer it.Stop()
	var n int64
	var prev uint64
	for uint64(n) < head {
		m, err := it.Next(natsjs.NextContext(ctx))
		if err != nil {
			return n, err
		}
		md, err := m.Metadata()
		if err != nil {
			return n, err
		}
		if md.Sequence.Stream <= prev || len(m.Headers()) == 0 || len(m.Data()) == 0 {
			return n, fmt.Errorf("ordered consumer: sequence %d after %d, %d headers, %d bytes", md.Sequence.Stream, prev, len(m.Headers()), len(m.Data()))
		}
		prev = md.Sequence.Stream
		n++
	}
	return n, nil
}

// replayInto rebuilds every projection from position 0 into a fresh store
// of the given kind, as payoutctl replay does, and returns the events the
// slowest projection applied. Opening the store is measured with the
// replay (the embedded store's directory is empty; PostgreSQL's
// migrations run on a fresh database).
func replayInto(ctx context.Context, es eventstore.Store, kind string, head uint64, base string) (int64, error) {
	var rm projections.ReadModelStore
	switch kind {
	case "memory":
		rm = projections.NewMemoryStore()
	case "embedded":
		dir, cleanup, err := dataDir(base, "views")
		if err != nil {
			return 0, err
		}
		defer cleanup()
		s, err := projections.OpenEmbedded(dir)
		if err != nil {
			return 0, err
		}
		rm = s
	case "postgres":
		db, err := pgCluster.CreateDatabase(ctx, "replay")
		if err != nil {
			return 0, err
		}
		s, err := postgres.Open(ctx, postgres.Config{DSN: pgCluster.DSN(db)})
		if err != nil {
			return 0, err
		}
		rm = s
	default:
		return 0, fmt.Errorf("unknown store %q", kind)
	}
	defer rm.Close()
	rt, err := projections.New(projections.Config{Source: es, Store: rm, DensePositions: true, StopAtHead: true,
		BatchEvents: 10_000, PageSize: replayPage, BatchInterval: time.Second}, projections.All()...)
	if err != nil {
		return 0, err
	}
	if err := rt.Run(ctx); err != nil {
		return 0, err
	}
	var applied uint64
	for i, s := range rt.Status() {
		if s.Err != nil {
			return 0, fmt.Errorf("%s: %w", s.Projection, s.Err)
		}
		if i == 0 || s.Applied < applied {
			applied = s.Applied
		}
	}
	return int64(applied), nil
}

// buildLog decides every shop's commands with domain.Execute on a
// simulated clock and appends the events in atomic batches of up to
// eventstore.MaxEventsPerAppend, four writers each packing the shops it
// takes, as the payout workload's batched setup does. Each shop gets its
// share of total events: its setup (account, funding, orders), then
// payouts on its orders round robin, each followed by lifecycle steps.
func buildLog(ctx context.Context, store eventstore.BatchAppender, w *workload, total int64, base time.Time) (logStats, error) {
	st := logStats{Shops: len(w.shops), Orders: w.orders(), ByType: map[string]int{}}
	start := time.Now()
	var cmds, events, batches atomic.Int64
	var mu sync.Mutex
	const writers = 4
	type job struct {
		s           *shop
		idx, budget int
	}
	work := make(chan job)
	errc := make(chan error, writers)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := &batcher{store: store, what: "replay log", onFlush: func(n int) { events.Add(int64(n)); batches.Add(1) }}
			byType := map[string]int{}
			defer func() {
				mu.Lock()
				for k, v := range byType {
					st.ByType[k] += v
				}
				mu.Unlock()
			}()
			fail := func(err error) { errc <- err; cancel() }
			for j := range work {
				data, n, err := decideShopLog(j.s, j.idx, st.Orders, j.budget, base, byType)
				if err != nil {
					fail(err)
					return
				}
				cmds.Add(int64(n))
				if err := b.add(ctx, j.s.ref.Stream(), data); err != nil {
					fail(err)
					return
				}
			}
			if err := b.flush(ctx); err != nil {
				fail(err)
			}
		}()
	}
	per, extra := total/int64(len(w.shops)), total%int64(len(w.shops))
feed:
	for i, s := range w.shops {
		b := per
		if int64(i) < extra {
			b++
		}
		select {
		case work <- job{s, i, int(b)}:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errc)
	st.Commands, st.Events, st.Batches = cmds.Load(), events.Load(), batches.Load()
	st.Seconds = time.Since(start).Seconds()
	return st, firstError(errc, ctx)
}

// decideShopLog returns about budget events of one shop (a command's
// events are never split, so a shop may end one or two over): the setup
// commands, then InitiatePayout on its orders round robin (payout types
// rotating per order; an order's sixth payout on JD repeats a type and
// raises a duplicate-compensation warning, acknowledged), each followed by
// its lifecycle: of every 20 payouts (the cycle starts further on
// in each shop), 14 go processing then succeed, 3 go
// processing then fail, 2 stay processing and 1 stays pending. The clock
// starts at base and moves a second per command; an order waits at least
// 61 s between payouts (Douyin: one a minute). Douyin shops stop after 5
// payouts per order.
func decideShopLog(s *shop, idx, orders, budget int, base time.Time, byType map[string]int) ([]eventstore.EventData, int, error) {
	state := domain.NewShop(s.ref.ShopRef)
	stream := s.ref.Stream()
	now := base
	var out []eventstore.EventData
	n := 0
	exec := func(actor domain.Actor, cmd domain.Command) error {
		req := domain.Request{Now: now, Actor: actor, IdempotencyKey: fmt.Sprintf("replay-%s-%d", s.ref.ShopID, n), CommandDigest: handler.Digest(cmd)}
		payloads, err := domain.Execute(state, cmd, req)
		if err != nil {
			return fmt.Errorf("replay log: %s %s at %s: %w", stream, cmd.CommandName(), now.Format(time.RFC3339), err)
		}
		evs := domain.NewEvents(stream, cmd.CommandName(), req, domain.NewV7, payloads)
		data, err := handler.Encode(evs)
		if err != nil {
			return err
		}
		for _, d := range data {
			byType[d.Type]++
		}
		out = append(out, data...)
		n++
		now = now.Add(time.Second)
		return nil
	}
	for _, stp := range s.plat.setup(s.ref, orders, base) {
		if err := exec(stp.actor, stp.cmd); err != nil {
			return nil, 0, err
		}
	}
	last := make([]time.Time, orders)
	for k := 0; len(out) < budget; k++ {
		o, round := k%orders, k/orders
		if s.plat.perOrderMax > 0 && round >= s.plat.perOrderMax {
			return nil, 0, fmt.Errorf("replay log: shop %s ran out of payouts (%d orders, %d per order) at %d of %d events: raise -shops or -orders",
				s.ref.ShopID, orders, s.plat.perOrderMax, len(out), budget)
		}
		if !last[o].IsZero() && now.Sub(last[o]) < 61*time.Second {
			now = last[o].Add(61 * time.Second)
		}
		last[o] = now
		id := fmt.Sprintf("P%d", k+1)
		typ := payoutTypes[round%len(payoutTypes)]
		if err := exec(admin, domain.InitiatePayout{Ref: s.ref, PayoutID: id, OrderID: orderID(o),
			Amount: decimal.New(int64(100+(k*37)%900), -2), Type: typ, Reason: "replay " + string(typ),
			SMSVerified: true, AcknowledgeDuplicate: true}); err != nil {
			return nil, 0, err
		}
		var steps []domain.Command
		switch r := (k + 3*idx) % 20; {
		case r < 14:
			steps = []domain.Command{domain.MarkPayoutProcessing{Ref: s.ref, PayoutID: id}, domain.MarkPayoutSucceeded{Ref: s.ref, PayoutID: id}}
		case r < 17:
			steps = []domain.Command{domain.MarkPayoutProcessing{Ref: s.ref, PayoutID: id}, domain.MarkPayoutFailed{Ref: s.ref, PayoutID: id, Reason: "bank declined"}}
		case r < 19:
			steps = []domain.Command{domain.MarkPayoutProcessing{Ref: s.ref, PayoutID: id}}
		}
		for _, c := range steps {
			if len(out) >= budget {
				break
			}
			if err := exec(operator, c); err != nil {
				return nil, 0, err
			}
		}
	}
	return out, n, nil
}

// --- output --------------------------------------------------------------------

func (p *printer) replayHeader(r *Report) {
	m := r.Machine
	fmt.Fprintf(p.w, "payoutbench %s: replay of one event log into each read-model store, against ReadAll of the same log, in one run\n", r.Date)
	fmt.Fprintf(p.w, "machine: runtime.NumCPU %d, GOMAXPROCS %d, %s %s/%s", m.NumCPU, m.GOMAXPROCS, m.GoVersion, m.OS, m.Arch)
	if m.CPUModel != "" {
		fmt.Fprintf(p.w, ", %s", m.CPUModel)
	}
	if len(m.Load) == 3 {
		fmt.Fprintf(p.w, "; load average %.2f %.2f %.2f", m.Load[0], m.Load[1], m.Load[2])
	}
	fmt.Fprintln(p.w)
	fmt.Fprintln(p.w, "NOTE: a shared machine: other jobs move these figures from run to run (each row records the load average")
	fmt.Fprintln(p.w, "      before it); compare the rows of one run, and re-run before relying on a number.")
}

func (p *printer) replayLog(s ReplaySetup) {
	l := s.Log
	fmt.Fprintf(p.w, "\nstore: embedded JetStream, sync %s, data dir %s\n", s.Sync, s.DataDir)
	fmt.Fprintf(p.w, "log: %d events (%d commands decided by domain.Execute, %d shops x %d orders) appended in %d atomic batches in %.1f s (%.0f events/s)\n",
		l.Events, l.Commands, l.Shops, l.Orders, l.Batches, l.Seconds, float64(l.Events)/max(l.Seconds, 1e-9))
	types := make([]string, 0, len(l.ByType))
	for k := range l.ByType {
		types = append(types, k)
	}
	slices.SortFunc(types, func(a, b string) int { return l.ByType[b] - l.ByType[a] })
	var parts []string
	for _, k := range types {
		parts = append(parts, fmt.Sprintf("%s %d", k, l.ByType[k]))
	}
	fmt.Fprintf(p.w, "     %s\n", strings.Join(parts, ", "))
	if s.Postgres != "" {
		fmt.Fprintf(p.w, "postgres: %s\n", s.Postgres)
	}
}

func (p *printer) replayTable(results []Result, base, baseReadAll float64, s ReplaySetup, total time.Duration) {
	fmt.Fprintln(p.w)
	h := fmt.Sprintf("%-22s %10s %9s %10s %7s %8s %9s %6s", "phase", "events", "seconds", "events/s", "ratio", "/ReadAll", "CPU us/ev", "load")
	fmt.Fprintln(p.w, h)
	fmt.Fprintln(p.w, strings.Repeat("-", len(h)))
	for _, r := range results {
		fmt.Fprintf(p.w, "%-22s %10d %9.2f %10s %7.3f %8.3f %9.1f %6.2f\n", r.Kind, r.Events, r.Seconds, thousands(r.EventsPerSec),
			r.EventsPerSec/base, r.EventsPerSec/baseReadAll, r.CPUPerOKMicros, r.Load1)
	}
	fmt.Fprintf(p.w, "ratio: events/s over the mean of the two raw ordered-consumer reads (%s events/s, PullMaxMessages %d);\n", thousands(base), orderedPull)
	fmt.Fprintf(p.w, "/ReadAll: over the mean of the two ReadAll runs (%s events/s); pages of %d events;\n", thousands(baseReadAll), replayPage)
	fmt.Fprintln(p.w, "replay rows: every projection (projections.All) from position 0 into a fresh store, as payoutctl replay does, opening included")
	if strings.HasPrefix(s.Postgres, "did not run") {
		fmt.Fprintf(p.w, "replay.postgres: NOT RUN: %s\n", strings.TrimPrefix(s.Postgres, "did not run: "))
	}
	fmt.Fprintf(p.w, "whole run, log building included: %s\n", total.Round(100*time.Millisecond))
}
