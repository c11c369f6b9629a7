package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/payoutledger/ledger/adapters/payoutd"
	"github.com/payoutledger/ledger/adapters/tokens"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/projections"
)

// Kinds of the HTTP runs' results.
const (
	kindHTTPMix        = "http.mix"          // the mix over payoutd's HTTP API, across every shop
	kindHTTPMixOneShop = "http.mix_one_shop" // the same, every client on one JD shop
)

// HTTPSetup is one sync mode's payoutd of the HTTP runs.
type HTTPSetup struct {
	Sync    string `json:"sync"`
	DataDir string `json:"data_dir"`
	Addr    string `json:"http_addr"`
	// Tokens: bearer tokens issued (an operator's, one per staff account
	// of every shop) and how long issuing them took.
	Tokens        int        `json:"tokens"`
	TokensSeconds float64    `json:"tokens_seconds"`
	Shops         setupStats `json:"shops"`
	// CatchUpSeconds: payoutd's projections reading the setup's events.
	CatchUpSeconds float64 `json:"projections_catch_up_seconds"`
	HeapBytes      uint64  `json:"heap_after_setup_bytes"`
	// CPUProfile, CPUProfileTop: -cpuprofile of the HTTP runs' slices
	// (benchmark clients and payoutd, one process), as for the in-process
	// runs.
	CPUProfile    string `json:"cpu_profile,omitempty"`
	CPUProfileTop string `json:"cpu_profile_top,omitempty"`
}

// httpMode is one sync mode's HTTP part of the benchmark: payoutd in this
// process, its shops set up, the mix driven through its API.
type httpMode struct {
	o      options
	sync   string
	stderr io.Writer
	svc    *payoutd.Service
	mix    *mixRun
	head   uint64 // the log's last position read so far (logHead)
	prof   *profiler
}

// httpSlack bounds a wait for payoutd's projections.
const httpSlack = 2 * time.Minute

// runHTTPMode starts payoutd with the sync mode (embedded store, group
// commit on, projections, timers: the service as deployed), sets the
// shops up, and runs the mix over its HTTP API at each -clients, across
// every shop and on one shop, as runMode runs it through the handler in
// process; each result is compared with the in-process run of the same
// shape already in rep.
func runHTTPMode(ctx context.Context, o options, sync string, rep *Report, p *printer, stderr io.Writer) error {
	dir, cleanup, err := dataDir(o.Data, sync+"-http")
	if err != nil {
		return err
	}
	defer cleanup()
	hs := HTTPSetup{Sync: sync, DataDir: dir}
	if o.Data == "" {
		hs.DataDir += " (temporary, removed at exit)"
	}
	w := newWorkload(o.Shops, o.Orders, o.plats, "S")
	w.giveOneShopOrders(o.OneShopOrders)
	fmt.Fprintf(stderr, "payoutbench: %s over HTTP: issuing tokens for %d shops...\n", sync, o.Shops)
	t := time.Now()
	book, err := issueTokens(ctx, tokens.DefaultPath(dir), w, t)
	if err != nil {
		return err
	}
	hs.Tokens, hs.TokensSeconds = book.len(), time.Since(t).Seconds()
	svc, err := payoutd.Start(ctx, payoutd.Config{
		DataDir: dir, HTTPAddr: "127.0.0.1:0", NATSListen: "none", Sync: sync,
		// Warnings and errors only: the service's info lines would bury
		// the benchmark's.
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return fmt.Errorf("start payoutd in %s: %w", dir, err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := svc.Shutdown(sctx); err != nil {
			fmt.Fprintf(stderr, "payoutbench: payoutd shutdown: %v\n", err)
		}
	}()
	hs.Addr = svc.HTTPAddr()
	hm := &httpMode{o: o, sync: sync, stderr: stderr, svc: svc}
	if o.CPUProfile != "" {
		if hm.prof, err = newProfiler(); err != nil {
			return err
		}
		defer func() { hm.prof.stop(); os.RemoveAll(hm.prof.dir) }() // after an error; finish has removed it otherwise
	}
	timers, err := hm.setUp(ctx, w, &hs)
	if err != nil {
		return err
	}
	sender, err := newHTTPSender("http://"+svc.HTTPAddr(), book, slices.Max(o.Clients))
	if err != nil {
		return err
	}
	defer sender.close()
	hm.mix = newMixRun(sender, timerSender{s: timers}, w, o.Seed, o.Mix)
	rep.HTTP = append(rep.HTTP, hs)
	p.httpSetup(hs)

	var runs []Result
	record := func(r Result) error {
		runs = append(runs, r)
		rep.Results = append(rep.Results, r)
		inproc := inProcessTwin(rep.Results, r)
		if inproc != nil {
			rep.addComparison(sync, r.Clients, r, *inproc)
		}
		p.httpRow(r, inproc)
		if err := checkExpected(r); err != nil {
			p.mixDetails(r)
			return err
		}
		return nil
	}
	for _, c := range o.Clients {
		r, err := hm.run(ctx, kindHTTPMix, c, w.shops)
		if err != nil {
			return err
		}
		if err := record(r); err != nil {
			return err
		}
	}
	if one := oneShop(w.shops); o.OneShop && one != nil {
		for _, c := range o.Clients {
			r, err := hm.run(ctx, kindHTTPMixOneShop, c, []*shop{one})
			if err != nil {
				return err
			}
			if err := record(r); err != nil {
				return err
			}
		}
	}
	if hm.prof != nil {
		// <name>.http<ext>, or <name>.<sync>.http<ext> with several modes.
		ext := filepath.Ext(o.CPUProfile)
		name := strings.TrimSuffix(o.CPUProfile, ext)
		if len(o.Syncs) > 1 {
			name += "." + sync
		}
		name += ".http" + ext
		top, err := hm.prof.finish(name)
		if err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		rep.HTTP[len(rep.HTTP)-1].CPUProfile, rep.HTTP[len(rep.HTTP)-1].CPUProfileTop = name, top
		fmt.Fprintf(p.w, "CPU profile of the HTTP runs' slices (%s), go tool pprof -top, 15 functions:\n%s\n", name, top)
	}
	for _, r := range runs {
		p.mixDetails(r)
	}
	return nil
}

// setUp sets the shops up on payoutd's store as runMode does on its own
// (in batches, then loaded by payoutd's handler; or through that handler
// with -setup handler), gives the timers' handler its shops, and waits for
// payoutd's projections to have read the setup.
func (hm *httpMode) setUp(ctx context.Context, w *workload, hs *HTTPSetup) (*handler.Handler, error) {
	o, svc := hm.o, hm.svc
	fmt.Fprintf(hm.stderr, "payoutbench: %s over HTTP: setting up %d shops in payoutd...\n", hm.sync, o.Shops)
	var err error
	if o.Setup == "handler" {
		hs.Shops, err = w.setupViaHandler(ctx, svc.Handler(), o.SetupClients, time.Now())
	} else {
		ba, ok := svc.Store().(eventstore.BatchAppender)
		if !ok {
			return nil, errors.New("payoutd's store appends no atomic batches: run with -setup handler")
		}
		hs.Shops, err = w.setupBatched(ctx, ba, svc.Handler(), o.SetupClients, time.Now())
	}
	if err != nil {
		return nil, err
	}
	// The timers: another handler on payoutd's store with the clock
	// ahead, as in process (no token speaks for the system role, and
	// payoutd's own timers run on the wall clock).
	timers := handler.New(svc.Store(), handlerConfig(func() time.Time { return time.Now().Add(timerAdvance) }))
	err = w.eachShop(ctx, o.SetupClients, func(ctx context.Context, s *shop) error {
		if s.ref.Platform == domain.PlatformJD || s.ref.Platform == domain.PlatformDouyin {
			return nil
		}
		_, err := timers.State(ctx, s.ref.ShopRef)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, s := range w.shops {
		s.initMix(w.ordersOf(s))
	}
	t := time.Now()
	h, err := hm.logHead(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(hm.stderr, "payoutbench: %s over HTTP: payoutd's projections catching up with the setup (%d events)...\n", hm.sync, h)
	if err := hm.catchUp(ctx, h); err != nil {
		return nil, err
	}
	hs.CatchUpSeconds = time.Since(t).Seconds()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	hs.HeapBytes = ms.HeapAlloc
	return timers, nil
}

// run runs the mix over HTTP on shops, in -rounds slices; between
// slices payoutd's projections catch up, so each slice starts with them
// idle, as the in-process runs' followers do.
func (hm *httpMode) run(ctx context.Context, kind string, clients int, shops []*shop) (Result, error) {
	o := hm.o
	load := loadAvg1()
	b := (&mode{o: o}).bound()
	var gc GroupCommitStats
	var sls []mixSlice
	for round := range o.Rounds {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		runtime.GC()
		fmt.Fprintf(hm.stderr, "payoutbench: %s: %s, %d clients, slice %d of %d...\n", hm.sync, kind, clients, round+1, o.Rounds)
		before := hm.svc.Handler().Stats()
		if err := hm.prof.start(); err != nil {
			return Result{}, err
		}
		sl := hm.mix.slice(ctx, clients, shops, b, max(o.MaxSamples/o.Rounds, 1))
		hm.prof.stop()
		gc.add(before, hm.svc.Handler().Stats())
		sls = append(sls, sl)
		select {
		case err := <-hm.svc.Failed():
			return Result{}, fmt.Errorf("payoutd failed during %s, %d clients: %w", kind, clients, err)
		default:
		}
		if err := hm.catchUp(ctx, lastAck(sl)); err != nil {
			return Result{}, err
		}
	}
	r := mergeMix(kind, hm.sync, clients, len(shops), sls)
	r.Load1 = load
	if gc.Batches > 0 {
		r.GroupCommit = &gc
	}
	return r, nil
}

// lastAck is the highest position a slice's accepted commands reported.
func lastAck(sl mixSlice) uint64 {
	var h uint64
	for _, t := range sl.mix {
		for _, a := range t.acks {
			h = max(h, a.pos)
		}
	}
	return h
}

// logHead reads payoutd's log on from the last head it saw to its end.
func (hm *httpMode) logHead(ctx context.Context) (uint64, error) {
	for {
		recs, err := hm.svc.Store().ReadAll(ctx, hm.head+1, 1000)
		if err != nil {
			return 0, fmt.Errorf("read payoutd's log: %w", err)
		}
		if len(recs) == 0 {
			return hm.head, nil
		}
		hm.head = recs[len(recs)-1].Position
	}
}

// catchUp waits until every serving projection of payoutd applied
// position h.
func (hm *httpMode) catchUp(ctx context.Context, h uint64) error {
	deadline := time.Now().Add(httpSlack)
	for {
		behind := ""
		for _, st := range hm.svc.Views().Status() {
			if !st.Active {
				continue
			}
			if st.State == projections.StateFailed {
				return fmt.Errorf("payoutd's projection %s failed: %v", st.Projection, st.Err)
			}
			if st.Applied < h && behind == "" {
				behind = fmt.Sprintf("%s at %d", st.Projection, st.Applied)
			}
		}
		if behind == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("payoutd's projections did not reach position %d in %s (%s)", h, httpSlack, behind)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// inProcessTwin is the in-process mix run of r's shape (same sync mode,
// clients and shops), if it ran.
func inProcessTwin(rs []Result, r Result) *Result {
	kind := kindMix
	if r.Kind == kindHTTPMixOneShop {
		kind = kindMixOneShop
	}
	for i := range rs {
		if rs[i].Kind == kind && rs[i].Sync == r.Sync && rs[i].Clients == r.Clients {
			return &rs[i]
		}
	}
	return nil
}

// httpSetup prints the HTTP runs' service and their table's header.
func (p *printer) httpSetup(s HTTPSetup) {
	fmt.Fprintf(p.w, "\nsync %s over HTTP: payoutd in this process (adapters/payoutd: embedded store, group commit on, projections, timers, tail guard)\n", s.Sync)
	fmt.Fprintf(p.w, "  API on %s, data dir %s; the mix's clients over keep-alive HTTP/1.1 connections, bearer tokens, Idempotency-Key;\n", s.Addr, s.DataDir)
	fmt.Fprintln(p.w, "  the timers' commands through a handler with the clock ahead on payoutd's store (no token speaks for the system role)")
	st := s.Shops
	fmt.Fprintf(p.w, "  setup: %d shops x %d orders (%s): %d commands, %d events in %.1f s (+%.1f s loading); %d tokens issued in %.1f s; projections caught up in %.1f s\n",
		st.Shops, st.Orders, st.How, st.Commands, st.Events, st.Seconds, st.LoadSeconds, s.Tokens, s.TokensSeconds, s.CatchUpSeconds)
	fmt.Fprintf(p.w, "  heap after setup %.0f MB (both the bench's clients and payoutd)\n", float64(s.HeapBytes)/(1<<20))
	fmt.Fprintln(p.w, "  http/s: accepted commands/s through the API; payouts/s: accepted InitiatePayout/s; p50..p99.9: of accepted commands,")
	fmt.Fprintln(p.w, "  client side; in-proc/s, ratio: the in-process run of the same shape above, http/s over it")
	fmt.Fprintln(p.w)
	h := fmt.Sprintf("%-8s %-9s %7s | %9s %9s %9s %9s %7s %7s %7s %8s | %10s %6s", "sync", "shops", "clients", "cmds/s", "http/s", "payouts/s",
		"events/s", "p50 ms", "p99 ms", "p99.9", "rejected", "in-proc/s", "ratio")
	fmt.Fprintln(p.w, h)
	fmt.Fprintln(p.w, strings.Repeat("-", len(h)))
}

// httpRow prints one HTTP run beside its in-process twin.
func (p *printer) httpRow(r Result, inproc *Result) {
	shops := "all"
	if r.Kind == kindHTTPMixOneShop {
		shops = "one"
	}
	in, ratio := "-", "-"
	if inproc != nil && inproc.OKPerSec > 0 {
		in, ratio = thousands(inproc.OKPerSec), fmt.Sprintf("%.2f", r.OKPerSec/inproc.OKPerSec)
	}
	var payouts float64 // accepted InitiatePayout/s: issue 8's yardstick
	if c := r.ByCommand[domain.InitiatePayout{}.CommandName()]; c != nil {
		payouts = c.AcceptedPerSec
	}
	fmt.Fprintf(p.w, "%-8s %-9s %7d | %9s %9s %9s %9s %7.2f %7.2f %7.2f %8d | %10s %6s\n", r.Sync, shops, r.Clients, thousands(r.CommandsPerSec),
		thousands(r.OKPerSec), thousands(payouts), thousands(r.EventsPerSec), r.Latency.P50MS, r.Latency.P99MS, r.Latency.P999MS, r.Rejected, in, ratio)
}
