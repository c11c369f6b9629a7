// Command payoutbench measures the ledger beside the engines underneath
// it, in one run, on one machine (docs/performance.md):
//
//   - a realistic command mix across shops of the five platforms through
//     handler.Handle in process (group commit, fsync before every
//     acknowledgement by default), at each client count, across every shop
//     and with every client on one shop; every outcome checked against
//     the workload's model (an unexpected acceptance, refusal code or
//     error fails the run);
//
//   - the same mix through payoutd's HTTP API (payoutd started in this
//     process, keep-alive clients, per-account bearer tokens);
//
//   - while the ledger runs: projection lag, and append-to-NATS-consumer
//     delivery;
//
//   - baselines: raw JetStream publishes with the same durability and
//     expected-sequence headers, raw atomic batches of 100/500/1,000
//     messages, a naive PostgreSQL InitiatePayout (SELECT ... FOR UPDATE,
//     check, INSERT, durable cluster), each with the ratio ledger/baseline;
//
//   - -workload replay: a log of -events events replayed into every read
//     model store, against raw ordered-consumer and ReadAll reads.
//
//     go run ./cmd/payoutbench                      # make bench (about 6-8 min)
//     go run ./cmd/payoutbench -duration 3s -postgres=false -http=false
//     go run ./cmd/payoutbench -sync interval
//     go run ./cmd/payoutbench -clients 64 -rounds 1 -raw none -raw-batches none -cpuprofile cpu.prof
//     go run ./cmd/payoutbench -workload replay -events 1000000   # make bench-replay
//
// It prints tables and writes the same figures as JSON (bench-results.json).
// Every figure depends on the machine and on what else runs on it: the
// output names both; re-run before relying on a number.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	_ "time/tzdata" // shops' time zones without relying on the host's zoneinfo
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "payoutbench:", err)
		os.Exit(1)
	}
}

// Report is the JSON document: what ran, where, and every run's figures.
type Report struct {
	Tool        string       `json:"tool"`
	Date        string       `json:"date"`
	Command     string       `json:"command"`
	Machine     Machine      `json:"machine"`
	Options     options      `json:"options"`
	Setups      []Setup      `json:"setups"`
	Results     []Result     `json:"results"`
	Comparisons []Comparison `json:"comparisons,omitempty"`
	Replay      *ReplaySetup `json:"replay,omitempty"`      // -workload replay: the log and the stores
	HTTP        []HTTPSetup  `json:"http_setups,omitempty"` // -http: payoutd of the HTTP runs (http_mode.go)
	Notes       []string     `json:"notes"`
}

// Setup is one sync mode's store and shops.
type Setup struct {
	Sync          string     `json:"sync"`
	DataDir       string     `json:"data_dir"`
	ServerVersion string     `json:"nats_server_version,omitempty"`
	Shops         setupStats `json:"shops"`
	HeapBytes     uint64     `json:"heap_after_setup_bytes"`
	// One stored single-event PayoutInitiated per platform: its size
	// (headers without Nats-*, and body) and its body's.
	LedgerMsgBytes  map[string]int `json:"ledger_msg_bytes,omitempty"`
	LedgerBodyBytes map[string]int `json:"ledger_body_bytes,omitempty"`
	CPUProfile      string         `json:"cpu_profile,omitempty"`
	// CPUProfileTop: go tool pprof -top of the ledger's slices (the
	// 15 functions with the most flat samples).
	CPUProfileTop string `json:"cpu_profile_top,omitempty"`
	// Postgres: the PostgreSQL baseline's cluster, or why it did not run.
	Postgres         string            `json:"postgres,omitempty"`
	PostgresSettings map[string]string `json:"postgres_settings,omitempty"`
	// FsyncBefore, FsyncAfter: 1 KiB write + fsync, one at a time, in the
	// data directory, before and after the sweep (what sync always waits
	// for on every message).
	FsyncBefore Latency `json:"fsync_probe_before"`
	FsyncAfter  Latency `json:"fsync_probe_after"`
}

// Comparison is a ledger run against its baseline at the same sync mode
// and concurrency.
type Comparison struct {
	Sync     string  `json:"sync"`
	Clients  int     `json:"clients"`
	Ledger   string  `json:"ledger"`
	Baseline string  `json:"baseline"`
	LedgerPS float64 `json:"ledger_ok_per_s"`
	BasePS   float64 `json:"baseline_ok_per_s"`
	Ratio    float64 `json:"ratio"` // ledger / baseline
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	rep := &Report{
		Tool:    "payoutbench",
		Date:    time.Now().UTC().Format(time.RFC3339),
		Command: strings.TrimSpace("go run ./cmd/payoutbench " + strings.Join(args, " ")),
		Machine: machine(),
		Options: o,
		Notes: []string{
			"Shared machine: other jobs' load moves these figures from run to run (load_avg_1m_before shows it); re-run before relying on them.",
			"ledger.mix: the mix of mix.go (payouts, probes refused by construction, lifecycle steps, timers with an advanced clock, order registrations) through handler.Handle; ok_per_s and latency count accepted commands, commands_per_s and latency_all_commands every command; by_command splits them by command type; any outcome the mix's model did not expect fails the run.",
			"raw.publish: in-process connection to a twin embedded server with the store's options (same disk, same sync mode), like the store's own connection; raw.publish_tcp: the store's own server over its loopback TCP listener; raw.atomic_batch: atomic batches (one publisher) to the twin, ok = messages, latency per batch. Comparisons list the ledger's accepted commands/s against each.",
			"postgres.*: a naive InitiatePayout (SELECT FOR UPDATE, check, INSERT, UPDATE, COMMIT; synchronous_commit=on); projections/pgtest runs the cluster with fsync=off (postgres_settings): its commits are NOT fsynced, unlike the ledger's in sync always.",
			"http.mix, http.mix_one_shop (-http): the same mix through payoutd's HTTP API, payoutd started in this process on its own store with the same sync mode (embedded store, group commit on, projections, timers); keep-alive clients, one bearer token per actor; the timers' commands through a handler with the clock ahead on payoutd's store; comparisons: http over the in-process run of the same shape; latency is the client's, from request to answer read.",
			"group_commit: the commands' handler's own counters (handler.Handler.Stats) over the run's slices; the timers' handler is not counted. Replay figures: make bench-replay (-workload replay), not measured here.",
		},
	}
	if o.Workload == "replay" {
		rep.Notes = []string{
			"Shared machine: other jobs' load moves these figures from run to run (load_avg_1m_before shows it); re-run before relying on them.",
			"Replay workload: one log on one embedded JetStream store; replay.read_all (ReadAll pages) runs first and again last (replay.read_all_after); comparisons are each phase's events/s over the mean of the two.",
			"replay.memory, replay.embedded, replay.postgres: every projection rebuilt from position 0 into a fresh store (opening and migrations included), as payoutctl replay does.",
		}
		if err := runReplay(ctx, o, rep, stdout, stderr); err != nil {
			return err
		}
	} else {
		p := newPrinter(stdout)
		p.header(rep)
		for _, sync := range o.Syncs {
			if err := runMode(ctx, o, sync, rep, p, stderr); err != nil {
				return err
			}
			if o.HTTP {
				if err := runHTTPMode(ctx, o, sync, rep, p, stderr); err != nil {
					return err
				}
			}
		}
	}
	if o.JSON != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.JSON, append(b, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nwrote %s\n", o.JSON)
	}
	return nil
}
