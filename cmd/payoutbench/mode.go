package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// mode is one sync mode's part of the benchmark: its store, shops,
// baselines, followers and the sweeps.
type mode struct {
	o      options
	sync   string
	stderr io.Writer
	setup  Setup
	dir    string

	store      *jetstream.Store
	mix        *mixRun
	raws       []*rawBaseline // in the table's order: the ratio's baseline first
	ledgerConn *nats.Conn     // to the store's server: ledger messages, the stream's head
	head       headFunc
	follow     *follower
	consumer   *consumer
	pg         *pgBaseline
	prof       *profiler
	closers    []func() // run in reverse order by close
}

// runMode opens a store with one sync mode, sets the shops up, runs the
// sweeps and adds their figures to rep.
func runMode(ctx context.Context, o options, sync string, rep *Report, p *printer, stderr io.Writer) error {
	m := &mode{o: o, sync: sync, stderr: stderr, setup: Setup{Sync: sync}}
	defer m.close()
	if err := m.open(ctx); err != nil {
		return err
	}
	if err := m.openBaselines(ctx); err != nil {
		return err
	}
	if err := m.openFollowers(ctx); err != nil {
		return err
	}
	if o.Postgres {
		fmt.Fprintln(stderr, "payoutbench: starting a throwaway PostgreSQL cluster...")
		pg, err := startPG(ctx, o.Shops, o.Seed^0x2545f491)
		if err != nil {
			m.setup.Postgres = "did not run: " + err.Error()
			rep.Notes = append(rep.Notes, "postgres baseline did NOT run: "+err.Error())
		} else {
			m.pg = pg
			m.later(pg.close)
			m.setup.Postgres = fmt.Sprintf("PostgreSQL %s, throwaway cluster (projections/pgtest), fsync=%s, synchronous_commit=on per session",
				pg.settings["version"], pg.settings["fsync"])
			m.setup.PostgresSettings = pg.settings
		}
	}
	var err error
	if m.setup.FsyncBefore, err = probeFsync(m.dir, 500, 2*time.Second); err != nil {
		return err
	}
	p.setup(o, m.setup)
	if o.CPUProfile != "" {
		if m.prof, err = newProfiler(); err != nil {
			return err
		}
	}
	all := m.mix.w.shops
	p.tableHeader(o.Raw)
	var mixes []Result
	for _, c := range o.Clients {
		ledger, baselines, err := m.level(ctx, c)
		if err != nil {
			return err
		}
		mixes = append(mixes, ledger)
		rep.Results = append(rep.Results, ledger)
		for _, b := range baselines {
			rep.Results = append(rep.Results, b)
			rep.addComparison(sync, c, ledger, b)
		}
		p.row(ledger, baselines)
		if err := checkExpected(ledger); err != nil {
			p.mixDetails(ledger)
			return err
		}
	}
	if one := oneShop(all); o.OneShop && one != nil {
		for _, c := range o.Clients {
			r, err := m.mixRun(ctx, kindMixOneShop, c, []*shop{one})
			if err != nil {
				return err
			}
			mixes = append(mixes, r)
			rep.Results = append(rep.Results, r)
			p.row(r, nil)
			if err := checkExpected(r); err != nil {
				p.mixDetails(r)
				return err
			}
		}
	} else if o.OneShop {
		rep.Notes = append(rep.Notes, "ledger.mix_one_shop did not run: no JD shop in -platforms")
	}
	var others []Result
	for _, size := range o.RawBatches {
		r, err := m.rawBatches(ctx, size)
		if err != nil {
			return err
		}
		others = append(others, r)
		rep.Results = append(rep.Results, r)
		if top := topMix(mixes, kindMix); top != nil {
			rep.addComparison(sync, top.Clients, *top, r)
		}
	}
	if m.pg != nil {
		for _, kind := range []string{kindPG, kindPGOneShop} {
			shops := m.pg.shops
			if kind == kindPGOneShop {
				if !o.OneShop {
					continue
				}
				shops = shops[:1]
			}
			for _, c := range o.Clients {
				r, err := m.pgRun(ctx, kind, c, shops)
				if err != nil {
					return err
				}
				others = append(others, r)
				rep.Results = append(rep.Results, r)
				ledgerKind := kindMix
				if kind == kindPGOneShop {
					ledgerKind = kindMixOneShop
				}
				for _, l := range mixes {
					if l.Kind == ledgerKind && l.Clients == c {
						rep.addComparison(sync, c, l, r)
					}
				}
			}
		}
	}
	p.baselines(others, mixes)
	if err := m.replayWholeLog(ctx, rep, p); err != nil {
		return err
	}
	if m.setup.FsyncAfter, err = probeFsync(m.dir, 500, 2*time.Second); err != nil {
		return err
	}
	if m.prof != nil {
		name := o.CPUProfile
		if len(o.Syncs) > 1 {
			ext := filepath.Ext(name)
			name = strings.TrimSuffix(name, ext) + "." + sync + ext
		}
		top, err := m.prof.finish(name)
		if err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		m.setup.CPUProfile, m.setup.CPUProfileTop = name, top
	}
	for _, r := range mixes {
		p.mixDetails(r)
	}
	p.details(rep.Results, m.setup)
	rep.Setups = append(rep.Setups, m.setup)
	return nil
}

// addComparison records ledger against a baseline (when it ran).
func (rep *Report) addComparison(sync string, clients int, ledger, base Result) {
	if base.OKPerSec <= 0 {
		return
	}
	rep.Comparisons = append(rep.Comparisons, Comparison{Sync: sync, Clients: clients, Ledger: ledger.Kind, Baseline: base.Kind,
		LedgerPS: ledger.OKPerSec, BasePS: base.OKPerSec, Ratio: ledger.OKPerSec / base.OKPerSec})
}

// topMix is the kind's run with the most clients.
func topMix(rs []Result, kind string) *Result {
	var top *Result
	for i := range rs {
		if rs[i].Kind == kind && (top == nil || rs[i].Clients > top.Clients) {
			top = &rs[i]
		}
	}
	return top
}

// oneShop is the shop of the one-shop runs: the first JD shop (no daily
// cap, no per-order limit: the clients contend for the shop, not its
// limits).
func oneShop(shops []*shop) *shop {
	for _, s := range shops {
		if s.ref.Platform == domain.PlatformJD {
			return s
		}
	}
	return nil
}

// later registers f to run when the mode closes.
func (m *mode) later(f func()) { m.closers = append(m.closers, f) }

func (m *mode) close() {
	for i := len(m.closers) - 1; i >= 0; i-- {
		m.closers[i]()
	}
}

// open starts the embedded store and sets the shops up.
func (m *mode) open(ctx context.Context) error {
	dir, cleanup, err := dataDir(m.o.Data, m.sync)
	if err != nil {
		return err
	}
	m.later(cleanup)
	m.dir, m.setup.DataDir = dir, dir
	if m.o.Data == "" {
		m.setup.DataDir += " (temporary, removed at exit)"
	}
	// The listener: the consumer, the readers of ledger messages and the
	// tcp baseline connect there, as downstream consumers would.
	cfg := jetstream.Config{DataDir: dir, Sync: jetstream.Sync(m.sync), ListenAddr: "127.0.0.1:-1"}
	if m.store, err = jetstream.Open(ctx, cfg); err != nil {
		return fmt.Errorf("open the embedded store in %s: %w", dir, err)
	}
	m.later(func() { m.store.Close() })
	h := handler.New(m.store, handlerConfig(time.Now))
	// The timers' handler: its clock is ahead, so cards and closes are
	// due; it is another handler on the same store, as a timer process
	// would be (each catches up with the other's appends).
	timers := handler.New(m.store, handlerConfig(func() time.Time { return time.Now().Add(timerAdvance) }))
	w := newWorkload(m.o.Shops, m.o.Orders, m.o.plats, "S")
	w.giveOneShopOrders(m.o.OneShopOrders)
	fmt.Fprintf(m.stderr, "payoutbench: %s: setting up %d shops...\n", m.sync, m.o.Shops)
	if m.o.Setup == "handler" {
		m.setup.Shops, err = w.setupViaHandler(ctx, h, m.o.SetupClients, time.Now())
	} else {
		m.setup.Shops, err = w.setupBatched(ctx, m.store, h, m.o.SetupClients, time.Now())
	}
	if err != nil {
		return err
	}
	// The timers' handler loads the shops it will serve, outside the
	// measured runs.
	err = w.eachShop(ctx, m.o.SetupClients, func(ctx context.Context, s *shop) error {
		if s.ref.Platform == domain.PlatformJD || s.ref.Platform == domain.PlatformDouyin {
			return nil
		}
		_, err := timers.State(ctx, s.ref.ShopRef)
		return err
	})
	if err != nil {
		return err
	}
	for _, s := range w.shops {
		s.initMix(w.ordersOf(s))
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.setup.HeapBytes = ms.HeapAlloc
	m.mix = newMixRun(h, timerSender{s: timers}, w, m.o.Seed, m.o.Mix)
	if m.ledgerConn, err = nats.Connect(m.store.ClientURL(), nats.Name("payoutbench-reader")); err != nil {
		return fmt.Errorf("connect to the store's server: %w", err)
	}
	m.later(m.ledgerConn.Close)
	m.setup.ServerVersion = m.ledgerConn.ConnectedServerVersion()
	if m.head, err = streamHead(m.ledgerConn); err != nil {
		return err
	}
	return nil
}

// openFollowers starts the projections and the consumer (-follow) and
// waits for them to have the setup's events, outside the measured runs.
func (m *mode) openFollowers(ctx context.Context) error {
	if !m.o.Follow {
		return nil
	}
	h, err := m.head(ctx)
	if err != nil {
		return err
	}
	if m.follow, err = startFollower(ctx, m.store, m.head); err != nil {
		return err
	}
	m.later(m.follow.close)
	fmt.Fprintf(m.stderr, "payoutbench: %s: projections catching up with the setup (%d events)...\n", m.sync, h)
	if _, err := m.follow.drain(ctx, h); err != nil {
		return err
	}
	if m.consumer, err = startConsumer(ctx, m.store, h+1); err != nil {
		return err
	}
	m.later(m.consumer.close)
	return nil
}

// openBaselines connects the raw baselines (-raw): the in-process one to a
// twin server of its own, the tcp one to the store's server.
func (m *mode) openBaselines(ctx context.Context) error {
	if len(m.o.Raw) == 0 {
		return nil
	}
	var err error
	maxClients := slices.Max(m.o.Clients)
	for i, kind := range m.o.Raw {
		var nc *nats.Conn
		name := kindRawTCP
		if kind == "inproc" {
			name = kindRawInproc
			twinDir, cleanup, err := dataDir(m.o.Data, m.sync+"-twin")
			if err != nil {
				return err
			}
			m.later(cleanup)
			srv, conn, err := startTwin(twinDir, jetstream.Sync(m.sync))
			if err != nil {
				return err
			}
			m.later(func() { srv.Shutdown(); srv.WaitForShutdown() })
			nc = conn
		} else if nc, err = nats.Connect(m.store.ClientURL(), nats.Name("payoutbench-raw")); err != nil {
			return fmt.Errorf("raw baseline: connect to the store's server: %w", err)
		}
		r, err := openRaw(ctx, name, nc, m.mix.w, maxClients, m.o.RawExpect)
		if err != nil {
			return err
		}
		m.later(r.close)
		r.seed = m.o.Seed ^ 0x5bd1e995 + uint64(i)
		m.raws = append(m.raws, r)
	}
	return nil
}

// level runs the mix and the raw baselines at one concurrency, each cut
// into -rounds slices that alternate (ledger, raw, tcp, tcp, raw, ledger,
// ...): a drift in the shared machine's load then weighs on all alike.
func (m *mode) level(ctx context.Context, clients int) (Result, []Result, error) {
	o := m.o
	b := m.bound()
	samples := max(o.MaxSamples/o.Rounds, 1)
	load := loadAvg1()
	run := m.newLedgerRun()
	rawSlices := make([][]slice, len(m.raws))
	for round := range o.Rounds {
		order := []int{-1} // -1 is the ledger, i >= 0 the baseline m.raws[i]
		for i := range m.raws {
			order = append(order, i)
		}
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, which := range order {
			if err := ctx.Err(); err != nil {
				return Result{}, nil, err
			}
			runtime.GC()
			if which < 0 {
				fmt.Fprintf(m.stderr, "payoutbench: %s: ledger mix, %d clients, slice %d of %d...\n", m.sync, clients, round+1, o.Rounds)
				if err := run.slice(ctx, m, clients, m.mix.w.shops, b, samples); err != nil {
					return Result{}, nil, err
				}
				continue
			}
			r := m.raws[which]
			if r.templates == nil {
				if err := m.useTemplates(ctx); err != nil {
					return Result{}, nil, err
				}
			}
			fmt.Fprintf(m.stderr, "payoutbench: %s: %s, %d clients, slice %d of %d...\n", m.sync, r.kind, clients, round+1, o.Rounds)
			sl, err := r.slice(ctx, clients, b, samples)
			if err != nil {
				return Result{}, nil, err
			}
			rawSlices[which] = append(rawSlices[which], sl)
		}
	}
	ledger := run.result(m, kindMix, clients, len(m.mix.w.shops))
	ledger.Load1 = load
	var baselines []Result
	for i, r := range m.raws {
		res := mergeSlices(r.kind, m.sync, clients, rawSlices[i])
		res.Load1, res.MsgBytes, res.ByPlatform = load, r.meanBytes(), nil
		baselines = append(baselines, res)
	}
	return ledger, baselines, nil
}

// bound is one slice's length.
func (m *mode) bound() bound {
	o := m.o
	return bound{duration: o.Duration / time.Duration(o.Rounds), ops: (o.Ops + int64(o.Rounds) - 1) / int64(o.Rounds)}
}

// mixRun runs the mix alone (no baseline between its slices) on shops.
func (m *mode) mixRun(ctx context.Context, kind string, clients int, shops []*shop) (Result, error) {
	load := loadAvg1()
	run := m.newLedgerRun()
	for round := range m.o.Rounds {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		runtime.GC()
		fmt.Fprintf(m.stderr, "payoutbench: %s: %s, %d clients, slice %d of %d...\n", m.sync, kind, clients, round+1, m.o.Rounds)
		if err := run.slice(ctx, m, clients, shops, m.bound(), max(m.o.MaxSamples/m.o.Rounds, 1)); err != nil {
			return Result{}, err
		}
	}
	r := run.result(m, kind, clients, len(shops))
	r.Load1 = load
	return r, nil
}

// ledgerRun collects one mix run's slices and what the followers saw.
type ledgerRun struct {
	gc       GroupCommitStats
	slices   []mixSlice
	samplers []*lagSampler
	drains   []time.Duration
	behind   uint64
}

func (m *mode) newLedgerRun() *ledgerRun {
	if m.consumer != nil {
		m.consumer.reset()
	}
	return &ledgerRun{}
}

// slice runs one slice of the mix, the projections' lag sampled during
// it; then waits for the projections and the consumer to have every
// event of it (the drain), so that the next slice starts with them idle.
func (run *ledgerRun) slice(ctx context.Context, m *mode, clients int, shops []*shop, b bound, samples int) error {
	var ls *lagSampler
	if m.follow != nil {
		ls = m.follow.sample(ctx)
	}
	if err := m.prof.start(); err != nil {
		return err
	}
	before := batchStats(m.mix.h)
	sl := m.mix.slice(ctx, clients, shops, b, samples)
	run.gc.add(before, batchStats(m.mix.h))
	m.prof.stop()
	run.slices = append(run.slices, sl)
	if m.follow == nil {
		return nil
	}
	if err := ls.end(); err != nil {
		return err
	}
	run.samplers = append(run.samplers, ls)
	h, err := m.head(ctx)
	if err != nil {
		return err
	}
	a, err := m.follow.applied()
	if err != nil {
		return err
	}
	run.behind = 0
	if h > a {
		run.behind = h - a
	}
	d, err := m.follow.drain(ctx, h)
	if err != nil {
		return err
	}
	run.drains = append(run.drains, d)
	return m.consumer.waitFor(ctx, h)
}

func (run *ledgerRun) result(m *mode, kind string, clients, shops int) Result {
	r := mergeMix(kind, m.sync, clients, shops, run.slices)
	if run.gc.Batches > 0 {
		gc := run.gc
		r.GroupCommit = &gc
	}
	if m.follow != nil {
		r.Projection = lagStats(run.samplers, run.drains, run.behind)
		var acks []posTime
		for _, sl := range run.slices {
			for _, t := range sl.mix {
				acks = append(acks, t.acks...)
			}
		}
		r.Delivery = m.consumer.stats(acks)
	}
	return r
}

// rawBatches runs the raw atomic batch baseline of one size (the first
// raw baseline's connection: in process to the twin, or the store's
// server over TCP with -raw tcp).
func (m *mode) rawBatches(ctx context.Context, size int) (Result, error) {
	if len(m.raws) == 0 {
		return Result{}, errors.New("-raw-batches needs a raw baseline (-raw inproc or tcp)")
	}
	r := m.raws[0]
	if r.templates == nil {
		if err := m.useTemplates(ctx); err != nil {
			return Result{}, err
		}
	}
	load := loadAvg1()
	runtime.GC()
	fmt.Fprintf(m.stderr, "payoutbench: %s: raw atomic batches of %d...\n", m.sync, size)
	sl, err := r.batchSlice(ctx, size, bound{duration: m.o.Duration, ops: m.o.Ops * int64(size)}, m.o.MaxSamples)
	if err != nil {
		return Result{}, err
	}
	res := mergeSlices(kindRawBatch, m.sync, 1, []slice{sl})
	res.Load1, res.MsgBytes, res.ByPlatform, res.BatchMessages = load, r.meanBytes(), nil, size
	return res, nil
}

// pgRun runs the PostgreSQL baseline at one concurrency.
func (m *mode) pgRun(ctx context.Context, kind string, clients int, shops []string) (Result, error) {
	load := loadAvg1()
	var sls []slice
	for round := range m.o.Rounds {
		runtime.GC()
		fmt.Fprintf(m.stderr, "payoutbench: %s: %s, %d clients, slice %d of %d...\n", m.sync, kind, clients, round+1, m.o.Rounds)
		sl, err := m.pg.slice(ctx, clients, shops, m.bound(), max(m.o.MaxSamples/m.o.Rounds, 1))
		if err != nil {
			return Result{}, err
		}
		sls = append(sls, sl)
	}
	r := mergeSlices(kind, m.sync, clients, sls)
	r.Load1, r.Shops, r.ByPlatform, r.Postgres = load, len(shops), nil, m.pg.settings
	if r.Failed > 0 {
		return r, fmt.Errorf("%s, %d clients: %d errors: %v", kind, clients, r.Failed, r.Errors)
	}
	return r, nil
}

// useTemplates gives every baseline the messages it copies: one stored
// PayoutInitiated per platform, read from the ledger's stream. A platform
// with no single-event payout accepted yet (a very short run) borrows
// another platform's.
func (m *mode) useTemplates(ctx context.Context) error {
	pos := m.mix.samplePositions()
	if len(pos) == 0 {
		return errors.New("no single-event PayoutInitiated was accepted: nothing to size the raw baselines' messages on")
	}
	js, err := natsjs.New(m.ledgerConn)
	if err != nil {
		return err
	}
	t, msgBytes, bodyBytes, err := fetchTemplates(ctx, js, jetstream.DefaultStreamName, pos, m.o.RawHeaders)
	if err != nil {
		return err
	}
	have := slices.Sorted(maps.Keys(t))
	for p := range m.mix.samples {
		if _, ok := t[p]; !ok {
			t[p] = t[have[0]]
		}
	}
	for _, r := range m.raws {
		r.templates = t
	}
	m.setup.LedgerMsgBytes, m.setup.LedgerBodyBytes = msgBytes, bodyBytes
	return nil
}

// dataDir returns the directory of one sync mode's store: under -data, or
// a new temporary one removed by cleanup.
func dataDir(base, sync string) (dir string, cleanup func(), err error) {
	if base == "" {
		tmp, err := os.MkdirTemp("", "payoutbench-"+sync+"-")
		if err != nil {
			return "", nil, err
		}
		return tmp, func() { os.RemoveAll(tmp) }, nil
	}
	dir = filepath.Join(base, sync)
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return "", nil, fmt.Errorf("-data: %s is not empty: the benchmark sets its shops up on a new store", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	return dir, func() {}, nil
}
