package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFlags: defaults are make bench's; bad values are refused with the
// flag named.
func TestFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Shops != 1000 || o.Duration != 8*time.Second || o.Ops != 0 || strings.Join(o.Raw, ",") != "inproc" || o.JSON != "bench-results.json" ||
		strings.Join(o.Syncs, ",") != "always" || fmt.Sprint(o.Clients) != "[1 16 64 256]" || fmt.Sprint(o.RawBatches) != "[100 500 1000]" ||
		strings.Join(o.Platforms, ",") != allPlatforms || o.Setup != "batch" || o.Orders != 32 || !o.OneShop || !o.Postgres || !o.Follow {
		t.Fatalf("defaults: %+v", o)
	}
	// The replay workload keeps its own log's defaults.
	if o, err = parseFlags([]string{"-workload", "replay"}, io.Discard); err != nil || strings.Join(o.Platforms, ",") != "jd,douyin" || o.Orders != 128 {
		t.Fatalf("replay defaults: %+v %v", o, err)
	}
	// InitiatePayout alone: JD shops, orders for it, no followers unless asked.
	if o, err = parseFlags([]string{"-mix", "initiate"}, io.Discard); err != nil || strings.Join(o.Platforms, ",") != "jd" || o.Orders != 128 ||
		o.OneShopOrders != 40_000 || o.Follow {
		t.Fatalf("-mix initiate defaults: %+v %v", o, err)
	}
	if o, err = parseFlags([]string{"-mix", "initiate", "-follow", "-orders", "8", "-one-shop-orders", "100"}, io.Discard); err != nil || !o.Follow ||
		o.Orders != 8 || o.OneShopOrders != 100 {
		t.Fatalf("-mix initiate, set: %+v %v", o, err)
	}
	o, err = parseFlags([]string{"-sync", "always,interval", "-clients", "2, 8", "-ops", "100", "-platforms", "douyin", "-raw", "tcp", "-raw-batches", "none"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Syncs) != 2 || o.Clients[1] != 8 || o.Ops != 100 || o.plats[0].id != "douyin" || strings.Join(o.Raw, ",") != "tcp" || len(o.RawBatches) != 0 {
		t.Fatalf("parsed: %+v", o)
	}
	for _, bad := range [][]string{
		{"-sync", "never"}, {"-clients", "0"}, {"-clients", "x"}, {"-platforms", "taobao2"}, {"-shops", "0"},
		{"-duration", "0s"}, {"-ops", "-1"}, {"-setup", "magic"}, {"-orders", "-1"}, {"-raw", "udp"}, {"stray"},
		{"-workload", "soak"}, {"-events", "10"}, {"-mix", "payouts"}, {"-mix", "initiate", "-platforms", "jd,douyin"}, {"-one-shop-orders", "-1"}, {"-workload", "replay", "-stores", "redis"},
		{"-raw-batches", "1"}, {"-raw-batches", "2000"}, {"-shops", "10", "-clients", "4", "-raw-batches", "100"},
		{"-target", "ftp://x"}, {"-target", "http://127.0.0.1:8080"}, // no token
		{"-target", "http://127.0.0.1:8080", "-token", "t"}, // the HTTP sender is not wired: refused, not faked
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

// TestSmallRun runs the whole command on a few shops with a few
// operations per run, with every baseline (PostgreSQL included) and the
// followers, and checks the report's shape: every mix run answered its
// commands as the model expected, the baselines published, the
// comparisons are there. It measures nothing.
func TestSmallRun(t *testing.T) {
	dir := t.TempDir()
	rep, stdout := runForReport(t, dir, "-shops", "10", "-orders", "4", "-clients", "1,3", "-ops", "120", "-rounds", "2",
		"-raw-batches", "5", "-setup-clients", "2", "-data", filepath.Join(dir, "data"),
		"-cpuprofile", filepath.Join(dir, "cpu.prof"), "-http=false") // HTTP runs: http_test.go
	kinds := map[string]int{}
	for _, r := range rep.Results {
		kinds[r.Kind]++
		// The whole-log reads are throughputs, not latencies.
		whole := r.Kind == kindLogOrdered || r.Kind == kindLogReplay
		if r.Failed != 0 || r.Unexpected != 0 || r.OK == 0 || (!whole && r.Latency.P50MS <= 0) {
			t.Errorf("%s %d clients: %+v", r.Kind, r.Clients, r)
		}
		if r.Kind == kindMix || r.Kind == kindMixOneShop {
			if r.Commands < 120 || r.Projection == nil || r.Delivery == nil || r.Delivery.Delivered < r.OK || len(r.ByCommand) < 2 {
				t.Errorf("%s %d clients: commands %d, projection %+v, delivery %+v, by command %d", r.Kind, r.Clients, r.Commands, r.Projection, r.Delivery, len(r.ByCommand))
			}
		}
	}
	want := map[string]int{kindMix: 2, kindMixOneShop: 2, kindRawInproc: 2, kindRawBatch: 1, kindPG: 2, kindPGOneShop: 2, kindLogOrdered: 1, kindLogReplay: 1}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("results %v, want %v", kinds, want)
	}
	// ledger vs raw at 2 concurrencies, vs the batch, vs PostgreSQL at 2 x
	// 2, the whole log's replay vs its ordered read
	if len(rep.Comparisons) != 8 {
		t.Errorf("%d comparisons: %+v", len(rep.Comparisons), rep.Comparisons)
	}
	s := rep.Setups[0]
	if !strings.Contains(s.CPUProfileTop, "flat%") || s.PostgresSettings["fsync"] == "" {
		t.Errorf("setup: profile top %q, postgres %v", s.CPUProfileTop, s.PostgresSettings)
	}
	for _, want := range []string{"cmds/s", "raw/s", "raw.atomic_batch of 5", "postgres.initiate_payout_one_shop", "projections lag",
		"consumer delivery", "InitiatePayout", "runtime.NumCPU", "shared machine", "flat%"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestInitiateRun: -mix initiate end to end on a few shops: every command
// of the ledger's runs is an InitiatePayout accepted with one event, the
// one shop was set up with its own orders, and the printed workload says
// what ran. It measures nothing.
func TestInitiateRun(t *testing.T) {
	dir := t.TempDir()
	rep, stdout := runForReport(t, dir, "-mix", "initiate", "-shops", "6", "-orders", "16", "-one-shop-orders", "50", "-clients", "4",
		"-ops", "200", "-raw-batches", "none", "-raw", "none", "-postgres=false", "-http=false", "-setup-clients", "2",
		"-data", filepath.Join(dir, "data"))
	if rep.Options.Mix != mixInitiate || rep.Setups[0].Shops.OneShopOrders != 50 {
		t.Fatalf("options %+v, setup %+v", rep.Options, rep.Setups[0].Shops)
	}
	runs := 0
	for _, r := range rep.Results {
		if r.Kind != kindMix && r.Kind != kindMixOneShop {
			continue
		}
		runs++
		ip := r.ByCommand["InitiatePayout"]
		if len(r.ByCommand) != 1 || ip == nil || ip.Accepted != 200 || ip.Events != 200 || r.Unexpected != 0 || r.Failed != 0 {
			t.Errorf("%s: %+v, by command %+v", r.Kind, r, r.ByCommand)
		}
	}
	if runs != 2 {
		t.Errorf("%d ledger runs, want across the shops and on one shop", runs)
	}
	if !strings.Contains(stdout, "-mix initiate: an InitiatePayout") || !strings.Contains(stdout, "(the one shop: 50)") {
		t.Errorf("output does not say what ran:\n%s", stdout)
	}
}

// runForReport runs the command with args and -json into dir, and returns
// the report it wrote and what it printed.
func runForReport(t *testing.T, dir string, args ...string) (Report, string) {
	t.Helper()
	out := filepath.Join(dir, "run.json")
	var stdout bytes.Buffer
	if err := run(context.Background(), append(args, "-json", out), &stdout, io.Discard); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep, stdout.String()
}

// TestReplayRun runs the replay workload on a small log into the memory
// and embedded stores (the PostgreSQL row is the same code on another
// store; its tests are projections/postgres's) and checks the report's
// shape: every phase read or replayed the whole log. It measures nothing.
func TestReplayRun(t *testing.T) {
	dir := t.TempDir()
	rep, stdout := runForReport(t, dir, "-workload", "replay", "-events", "5000", "-orders", "8", "-stores", "memory,embedded",
		"-data", filepath.Join(dir, "data"), "-cpuprofile", filepath.Join(dir, "cpu.prof"))
	if rep.Replay == nil || rep.Replay.Log.Events < 5000 || rep.Replay.Log.HeadPosition != uint64(rep.Replay.Log.Events) {
		t.Fatalf("replay setup: %+v", rep.Replay)
	}
	var kinds []string
	for _, r := range rep.Results {
		kinds = append(kinds, r.Kind)
		if r.Events != rep.Replay.Log.Events || r.EventsPerSec <= 0 {
			t.Errorf("%s: %+v", r.Kind, r)
		}
	}
	if got := strings.Join(kinds, ","); got != "replay.ordered,replay.read_all,replay.read_decode,replay.memory,replay.embedded,replay.read_all_after,replay.ordered_after" {
		t.Fatalf("kinds: %s", got)
	}
	if len(rep.Comparisons) != 8 { // 5 against the ordered read, 3 against ReadAll
		t.Fatalf("%d comparisons", len(rep.Comparisons))
	}
	for _, typ := range []string{"PayoutInitiated", "PayoutProcessing", "PayoutSucceeded", "PayoutFailed", "OrderRegistered"} {
		if rep.Replay.Log.ByType[typ] == 0 {
			t.Errorf("no %s in the log: %v", typ, rep.Replay.Log.ByType)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "cpu.prof")); err != nil || fi.Size() == 0 {
		t.Errorf("cpu profile: %v", err)
	}
	for _, want := range []string{"replay.embedded", "events/s", "ratio", "runtime.NumCPU"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestSummarize: percentiles of a known distribution, and a client whose
// reservoir overflowed weighs as many latencies as it was offered.
func TestSummarize(t *testing.T) {
	r := newRecorder(1000, 1)
	for i := 1; i <= 1000; i++ {
		r.add(time.Duration(i) * time.Millisecond)
	}
	l := summarize([]*recorder{r})
	if l.Count != 1000 || l.P50MS != 500 || l.P99MS != 990 || l.P999MS != 999 || l.MaxMS != 1000 {
		t.Fatalf("%+v", l)
	}
	// Client a saw 10,000 latencies of 1 ms (keeping 100), client b 100 of
	// 100 ms: the median is 1 ms, not somewhere between.
	a, b := newRecorder(100, 2), newRecorder(100, 3)
	for range 10_000 {
		a.add(time.Millisecond)
	}
	for range 100 {
		b.add(100 * time.Millisecond)
	}
	l = summarize([]*recorder{a, b})
	if l.Count != 10_100 || l.Sampled != 200 || l.P50MS != 1 || l.P99MS != 1 || l.P999MS != 100 {
		t.Fatalf("%+v", l)
	}
}
