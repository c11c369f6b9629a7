package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/domain"
)

// The payout workload's mixes (-mix).
const (
	mixFull     = "full"
	mixInitiate = "initiate"
)

// options are the command's flags, as parsed.
type options struct {
	Data         string        `json:"data,omitempty"`
	Syncs        []string      `json:"sync"`
	Shops        int           `json:"shops"`
	Platforms    []string      `json:"platforms"`
	Orders       int           `json:"orders_per_shop"`
	Clients      []int         `json:"clients"`
	Duration     time.Duration `json:"-"`
	DurationS    float64       `json:"duration_s,omitempty"`
	Ops          int64         `json:"ops,omitempty"`
	Rounds       int           `json:"rounds"`
	Setup        string        `json:"setup"`
	SetupClients int           `json:"setup_clients"`
	Raw          []string      `json:"raw"` // baselines: inproc, tcp
	RawExpect    bool          `json:"raw_expect_last_subject_sequence"`
	RawHeaders   bool          `json:"raw_ledger_headers"`
	MaxSamples   int           `json:"max_latency_samples"`
	Seed         uint64        `json:"seed"`
	JSON         string        `json:"-"`
	CPUProfile   string        `json:"-"`
	Workload     string        `json:"workload"`
	// Mix: full (the command mix) or initiate (InitiatePayout alone, JD
	// shops: the group-commit targets of docs/performance.md).
	Mix           string   `json:"mix,omitempty"`
	OneShopOrders int      `json:"one_shop_orders,omitempty"` // orders of the one shop at setup (0: -orders)
	Events        int64    `json:"events,omitempty"`          // -workload replay
	Stores        []string `json:"replay_stores,omitempty"`   // -workload replay
	OneShop       bool     `json:"one_shop"`                  // the mix again with every client on one shop
	RawBatches    []int    `json:"raw_batches,omitempty"`     // atomic batch sizes of the raw batch baseline
	Postgres      bool     `json:"postgres"`                  // the naive PostgreSQL baseline
	Follow        bool     `json:"follow"`                    // projections and a NATS consumer follow the log
	HTTP          bool     `json:"http"`                      // the mix again over payoutd's HTTP API (http_mode.go)
	Target        string   `json:"target,omitempty"`          // payoutd over HTTP (target.go)
	Token         string   `json:"-"`

	plats []*platform
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("payoutbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var syncs, plats, clients, raws, stores, batches string
	fs.StringVar(&o.Data, "data", "", "directory for the embedded server's data, one subdirectory per sync mode, each new or empty (default: a temporary directory, removed at exit)")
	fs.StringVar(&syncs, "sync", "always", "fsync policy of the embedded server: always (fsync before every acknowledgement), interval, or both as always,interval (one store each)")
	fs.IntVar(&o.Shops, "shops", 1000, "shops to set up and pay out from")
	fs.StringVar(&plats, "platforms", "", "platforms the shops are spread over, round robin: "+platformNames()+" (default: all five; replay: jd,douyin)")
	fs.IntVar(&o.Orders, "orders", 0, "orders registered per shop at setup (default 32; replay 128); the mix registers more as it needs them")
	fs.StringVar(&clients, "clients", "1,16,64,256", "concurrent clients: one run per value")
	fs.DurationVar(&o.Duration, "duration", 8*time.Second, "length of each run (of each configuration: the ledger at one concurrency, each baseline)")
	fs.Int64Var(&o.Ops, "ops", 0, "operations per run instead of -duration (0: use -duration)")
	fs.IntVar(&o.Rounds, "rounds", 2, "cut each run into this many slices, alternating with the baseline's (ledger, raw, raw, ledger, ...), so that load drifts on the shared machine hit both")
	fs.StringVar(&o.Setup, "setup", "batch", "how the shops are set up: batch (decided by domain.Decide, appended in atomic batches, then loaded by the handler) or handler (every command through handler.Handle)")
	fs.IntVar(&o.SetupClients, "setup-clients", 64, "concurrent clients setting the shops up (handler) or loading them (batch)")
	fs.StringVar(&raws, "raw", "inproc", "raw JetStream publish baselines measured at each concurrency: inproc (in-process connection to a twin embedded server with the store's options; the ratio's baseline), tcp (the store's own server over its loopback listener), both, or none")
	fs.BoolVar(&o.RawExpect, "raw-expect", true, "raw publishes carry Nats-Expected-Last-Subject-Sequence(-Subject) for their subject, as the store's appends do")
	fs.BoolVar(&o.RawHeaders, "raw-headers", true, "raw messages carry the ledger event's headers as well as its body (same size); false: the body alone")
	fs.IntVar(&o.MaxSamples, "max-samples", 1_000_000, "latencies kept per run for the percentiles (a uniform sample beyond that)")
	fs.Uint64Var(&o.Seed, "seed", 0, "seed of the workload's random choices (0: from the clock; printed)")
	fs.StringVar(&o.JSON, "json", "bench-results.json", "write the results as JSON to this file (empty: do not)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the measured runs (setup excluded) to this file; with several sync modes, one file per mode; replay: the read and replay phases (log building excluded)")
	fs.StringVar(&o.Mix, "mix", mixFull, "payout workload: full (the command mix: lifecycle steps, probes refused by construction, payouts and collection cards on every platform) or initiate (InitiatePayout alone on JD shops, a fresh order or payout type each: every command one event; -follow off and 128 orders per shop unless set)")
	fs.IntVar(&o.OneShopOrders, "one-shop-orders", 0, "orders of the one shop (-one-shop) at setup (default: -orders; -mix initiate: 40000, for 200,000 payouts without a RegisterOrder)")
	fs.StringVar(&o.Workload, "workload", "payout", "payout: the mix (-mix) through the handler against raw publishes and batches; replay: build a log of -events events, then ReadAll it and replay it into each -stores (one store, the first -sync; -clients, -raw, -duration, -ops, -rounds, -setup do not apply)")
	fs.Int64Var(&o.Events, "events", 1_000_000, "replay: events in the log (spread over -shops shops, raised to one shop per 1,500 events)")
	fs.StringVar(&stores, "stores", "memory,embedded,postgres", "replay: read-model stores to replay into, in this order: memory, embedded, postgres (a throwaway cluster, as the tests start)")
	fs.BoolVar(&o.OneShop, "one-shop", true, "also run the mix with every client on one JD shop, at each -clients")
	fs.StringVar(&batches, "raw-batches", "100,500,1000", "raw JetStream atomic batches of these sizes, one publisher, to the twin server (none: skip)")
	fs.BoolVar(&o.Postgres, "postgres", true, "the naive PostgreSQL InitiatePayout baseline at each -clients, across the shops and on one shop (a throwaway cluster via projections/pgtest)")
	fs.BoolVar(&o.Follow, "follow", true, "projections (projections.All, memory store) and a NATS ordered consumer follow the log during the ledger's runs: lag and delivery")
	fs.BoolVar(&o.HTTP, "http", true, "also run the mix over HTTP: payoutd started in this process on a store of its own (same sync mode), at each -clients, across the shops and on one shop")
	fs.StringVar(&o.Target, "target", "", "drive the mix over HTTP against a running payoutd at this URL instead of a handler in process (target.go)")
	fs.StringVar(&o.Token, "token", "", "bearer token for -target")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch o.Mix {
	case mixFull:
	case mixInitiate:
		if plats == "" {
			plats = "jd"
		}
		if o.Orders == 0 {
			o.Orders = 128
		}
		if o.OneShopOrders == 0 {
			o.OneShopOrders = 40_000
		}
		if !set["follow"] {
			o.Follow = false
		}
	default:
		return o, fmt.Errorf("-mix: %q is not %s or %s", o.Mix, mixFull, mixInitiate)
	}
	if err := checkTarget(o.Target, o.Token); err != nil {
		return o, err
	}
	for _, b := range strings.Split(batches, ",") {
		if b = strings.TrimSpace(b); b == "" || b == "none" {
			continue
		}
		n, err := strconv.Atoi(b)
		if err != nil || n < 2 || n > 1000 {
			return o, fmt.Errorf("-raw-batches: %q is not a batch size from 2 to 1000", b)
		}
		o.RawBatches = append(o.RawBatches, n)
	}
	if plats == "" {
		plats = allPlatforms
		if o.Workload == "replay" {
			plats = "jd,douyin" // the replay log's flow (replay.go) pays out on these two
		}
	}
	if o.Orders == 0 {
		o.Orders = 32
		if o.Workload == "replay" {
			o.Orders = 128
		}
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, s := range strings.Split(syncs, ",") {
		s = strings.TrimSpace(s)
		if s != string(jetstream.SyncAlways) && s != string(jetstream.SyncInterval) {
			return o, fmt.Errorf("-sync: %q is not always or interval", s)
		}
		o.Syncs = append(o.Syncs, s)
	}
	for _, r := range strings.Split(raws, ",") {
		switch r = strings.TrimSpace(r); r {
		case "none", "":
		case "inproc", "tcp":
			if !slices.Contains(o.Raw, r) {
				o.Raw = append(o.Raw, r)
			}
		default:
			return o, fmt.Errorf("-raw: %q is not inproc, tcp or none", r)
		}
	}
	slices.Sort(o.Raw) // inproc first: the ratio's baseline
	if o.Workload != "payout" && o.Workload != "replay" {
		return o, fmt.Errorf("-workload: %q is not payout or replay", o.Workload)
	}
	if o.Events < 100 || o.Events > 100_000_000 {
		return o, errors.New("-events: from 100 to 100,000,000")
	}
	if o.Workload != "replay" {
		o.Events = 0 // not in the payout workload's report
	} else {
		for _, s := range strings.Split(stores, ",") {
			switch s = strings.TrimSpace(s); s {
			case "":
			case "memory", "embedded", "postgres":
				if !slices.Contains(o.Stores, s) {
					o.Stores = append(o.Stores, s)
				}
			default:
				return o, fmt.Errorf("-stores: %q is not memory, embedded or postgres", s)
			}
		}
	}
	var err error
	if o.plats, err = parsePlatforms(plats); err != nil {
		return o, err
	}
	for _, p := range o.plats {
		o.Platforms = append(o.Platforms, string(p.id))
	}
	for _, c := range strings.Split(clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 || n > 4096 {
			return o, fmt.Errorf("-clients: %q is not a number of clients from 1 to 4096", c)
		}
		o.Clients = append(o.Clients, n)
	}
	switch {
	case o.Workload == "payout" && len(o.RawBatches) > 0 && slices.Max(o.RawBatches) > max(o.Shops, slices.Max(o.Clients)):
		return o, errors.New("-raw-batches: a batch's messages go to different shops: at most max(-shops, -clients)")
	case o.Shops < 1 || o.Shops > 1_000_000:
		return o, errors.New("-shops: from 1 to 1,000,000")
	case o.Orders < 1 || o.Orders > 100000:
		return o, errors.New("-orders: from 1 to 100000")
	case o.OneShopOrders < 0 || o.OneShopOrders > 1_000_000:
		return o, errors.New("-one-shop-orders: from 0 to 1,000,000")
	case o.Mix == mixInitiate && slices.ContainsFunc(o.plats, func(p *platform) bool { return p.id != domain.PlatformJD }):
		return o, errors.New("-mix initiate: JD shops only (-platforms jd): the other platforms' per-order counts, rates and daily caps would make RegisterOrders or refusals of part of the commands")
	case o.Ops < 0:
		return o, errors.New("-ops: not negative")
	case o.Ops == 0 && o.Duration <= 0:
		return o, errors.New("-duration: positive (or set -ops)")
	case o.Setup != "batch" && o.Setup != "handler":
		return o, fmt.Errorf("-setup: %q is not batch or handler", o.Setup)
	case o.Rounds < 1 || o.Rounds > 100:
		return o, errors.New("-rounds: from 1 to 100")
	case o.SetupClients < 1:
		return o, errors.New("-setup-clients: at least 1")
	case o.MaxSamples < 1000:
		return o, errors.New("-max-samples: at least 1000")
	}
	if o.Ops == 0 {
		o.DurationS = o.Duration.Seconds()
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	return o, nil
}
