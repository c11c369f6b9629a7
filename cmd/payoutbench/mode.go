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
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// mode is one sync mode's part of the benchmark: its store, shops,
// baselines and the sweep over the clients values.
type mode struct {
	o      options
	sync   string
	stderr io.Writer
	setup  Setup
	dir    string

	store      *jetstream.Store
	ledger     *ledgerRun
	raws       []*rawBaseline // in the table's order: the ratio's baseline first
	ledgerConn *nats.Conn     // to the store's server, to read ledger messages
	closers    []func()       // run in reverse order by close
}

// runMode opens a store with one sync mode, sets the shops up, runs the
// sweep and adds its figures to rep.
func runMode(ctx context.Context, o options, sync string, rep *Report, p *printer, stderr io.Writer) error {
	m := &mode{o: o, sync: sync, stderr: stderr, setup: Setup{Sync: sync}}
	defer m.close()
	if err := m.open(ctx); err != nil {
		return err
	}
	if err := m.openBaselines(ctx); err != nil {
		return err
	}
	var err error
	if m.setup.FsyncBefore, err = probeFsync(m.dir, 500, 2*time.Second); err != nil {
		return err
	}
	p.setup(o, m.setup)
	if err := m.startProfile(); err != nil {
		return err
	}
	p.tableHeader(o.Raw)
	for _, c := range o.Clients {
		ledger, baselines, err := m.level(ctx, c)
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, ledger)
		for _, b := range baselines {
			rep.Results = append(rep.Results, b)
			if b.OKPerSec > 0 {
				rep.Comparisons = append(rep.Comparisons, Comparison{Sync: sync, Clients: c, Ledger: ledger.Kind, Baseline: b.Kind,
					LedgerPS: ledger.OKPerSec, BasePS: b.OKPerSec, Ratio: ledger.OKPerSec / b.OKPerSec})
			}
		}
		p.row(ledger, baselines)
	}
	if m.setup.FsyncAfter, err = probeFsync(m.dir, 500, 2*time.Second); err != nil {
		return err
	}
	p.details(rep.Results, m.setup)
	rep.Setups = append(rep.Setups, m.setup)
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
	cfg := jetstream.Config{DataDir: dir, Sync: jetstream.Sync(m.sync)}
	if len(m.o.Raw) > 0 {
		// A listener for the connections that read ledger messages (the
		// raw messages copy one) and for the tcp baseline.
		cfg.ListenAddr = "127.0.0.1:-1"
	}
	if m.store, err = jetstream.Open(ctx, cfg); err != nil {
		return fmt.Errorf("open the embedded store in %s: %w", dir, err)
	}
	m.later(func() { m.store.Close() })
	h := handler.New(m.store, handler.Config{})
	w := newWorkload(m.o.Shops, m.o.Orders, m.o.plats, "S")
	fmt.Fprintf(m.stderr, "payoutbench: %s: setting up %d shops...\n", m.sync, m.o.Shops)
	if m.o.Setup == "handler" {
		m.setup.Shops, err = w.setupViaHandler(ctx, h, m.o.SetupClients, time.Now())
	} else {
		m.setup.Shops, err = w.setupBatched(ctx, m.store, h, m.o.SetupClients, time.Now())
	}
	if err != nil {
		return err
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.setup.HeapBytes = ms.HeapAlloc
	m.ledger = newLedgerRun(h, w, m.o.Seed)
	return nil
}

// openBaselines connects the raw baselines (-raw): the in-process one to a
// twin server of its own, the tcp one to the store's server.
func (m *mode) openBaselines(ctx context.Context) error {
	if len(m.o.Raw) == 0 {
		return nil
	}
	var err error
	if m.ledgerConn, err = nats.Connect(m.store.ClientURL(), nats.Name("payoutbench-reader")); err != nil {
		return fmt.Errorf("connect to the store's server: %w", err)
	}
	m.later(m.ledgerConn.Close)
	m.setup.ServerVersion = m.ledgerConn.ConnectedServerVersion()
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
		r, err := openRaw(ctx, name, nc, m.ledger.w, maxClients, m.o.RawExpect)
		if err != nil {
			return err
		}
		m.later(r.close)
		r.seed = m.o.Seed ^ 0x5bd1e995 + uint64(i)
		m.raws = append(m.raws, r)
	}
	return nil
}

// startProfile starts -cpuprofile for the measured runs of this mode.
func (m *mode) startProfile() error {
	if m.o.CPUProfile == "" {
		return nil
	}
	name := m.o.CPUProfile
	if len(m.o.Syncs) > 1 {
		ext := filepath.Ext(name)
		name = strings.TrimSuffix(name, ext) + "." + m.sync + ext
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	m.later(func() { pprof.StopCPUProfile(); f.Close() })
	m.setup.CPUProfile = name
	return nil
}

// level runs the ledger and the baselines at one concurrency, each cut
// into -rounds slices that alternate (ledger, raw, tcp, tcp, raw, ledger,
// ...): a drift in the shared machine's load then weighs on all alike.
func (m *mode) level(ctx context.Context, clients int) (Result, []Result, error) {
	o := m.o
	b := bound{duration: o.Duration / time.Duration(o.Rounds), ops: (o.Ops + int64(o.Rounds) - 1) / int64(o.Rounds)}
	samples := max(o.MaxSamples/o.Rounds, 1)
	load := loadAvg1()
	var ledgerSlices []slice
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
				fmt.Fprintf(m.stderr, "payoutbench: %s: ledger, %d clients, slice %d of %d...\n", m.sync, clients, round+1, o.Rounds)
				ledgerSlices = append(ledgerSlices, m.ledger.slice(ctx, clients, b, samples))
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
	ledger := mergeSlices("ledger.initiate_payout", m.sync, clients, ledgerSlices)
	ledger.Load1 = load
	var baselines []Result
	for i, r := range m.raws {
		res := mergeSlices(r.kind, m.sync, clients, rawSlices[i])
		res.Load1, res.MsgBytes, res.ByPlatform = load, r.meanBytes(), nil
		baselines = append(baselines, res)
	}
	return ledger, baselines, nil
}

// useTemplates gives every baseline the messages it copies: one stored
// PayoutInitiated per platform, read from the ledger's stream. A platform
// with no single-event payout accepted yet (a very short run) borrows
// another platform's.
func (m *mode) useTemplates(ctx context.Context) error {
	pos := m.ledger.samplePositions()
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
	for p := range m.ledger.samples {
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
