package main

import (
	"bytes"
	"context"
	"encoding/json"
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
	if o.Shops != 1000 || o.Duration != 10*time.Second || o.Ops != 0 || strings.Join(o.Raw, ",") != "inproc,tcp" || o.JSON != "bench-results.json" ||
		strings.Join(o.Syncs, ",") != "always" || len(o.Clients) != 3 || o.Clients[0] != 1 || o.Clients[1] != 16 || o.Clients[2] != 64 ||
		strings.Join(o.Platforms, ",") != "jd,douyin" || o.Setup != "batch" {
		t.Fatalf("defaults: %+v", o)
	}
	o, err = parseFlags([]string{"-sync", "always,interval", "-clients", "2, 8", "-ops", "100", "-platforms", "douyin", "-raw", "tcp"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Syncs) != 2 || o.Clients[1] != 8 || o.Ops != 100 || o.plats[0].id != "douyin" || strings.Join(o.Raw, ",") != "tcp" {
		t.Fatalf("parsed: %+v", o)
	}
	for _, bad := range [][]string{
		{"-sync", "never"}, {"-clients", "0"}, {"-clients", "x"}, {"-platforms", "taobao"}, {"-shops", "0"},
		{"-duration", "0s"}, {"-ops", "-1"}, {"-setup", "magic"}, {"-orders", "0"}, {"-raw", "udp"}, {"stray"},
		{"-workload", "soak"}, {"-events", "10"}, {"-workload", "replay", "-stores", "redis"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

// TestSmallRun runs the whole command on a few shops with a few
// operations per run, both setups and both sync modes, and checks the
// report's shape: every run accepted payouts, the baseline published, the
// comparison is there. It measures nothing.
func TestSmallRun(t *testing.T) {
	dir := t.TempDir()
	for _, setup := range []string{"batch", "handler"} {
		out := filepath.Join(dir, setup+".json")
		var stdout bytes.Buffer
		err := run(context.Background(), []string{"-shops", "4", "-orders", "3", "-clients", "1,3", "-ops", "12",
			"-sync", "always,interval", "-setup", setup, "-setup-clients", "2", "-data", filepath.Join(dir, setup), "-json", out}, &stdout, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v\n%s", setup, err, stdout.String())
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var rep Report
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		// 2 sync modes x 2 concurrencies x (ledger + 2 baselines)
		if len(rep.Setups) != 2 || len(rep.Results) != 12 || len(rep.Comparisons) != 8 {
			t.Fatalf("%s: %d setups, %d results, %d comparisons", setup, len(rep.Setups), len(rep.Results), len(rep.Comparisons))
		}
		for _, s := range rep.Setups {
			if s.Shops.Events < 4*5 || len(s.LedgerMsgBytes) == 0 {
				t.Errorf("%s: setup %+v", setup, s)
			}
		}
		for _, r := range rep.Results {
			if r.OK != 12 || r.Failed != 0 || r.Latency.Count != 12 || r.Latency.P50MS <= 0 {
				t.Errorf("%s: %s %s %d clients: %+v", setup, r.Kind, r.Sync, r.Clients, r)
			}
		}
		for _, want := range []string{"ledger/s", "raw/s", "tcp/s", "runtime.NumCPU", "shared machine"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("%s: output lacks %q", setup, want)
			}
		}
	}
}

// TestReplayRun runs the replay workload on a small log into the memory
// and embedded stores (the PostgreSQL row is the same code on another
// store; its tests are projections/postgres's) and checks the report's
// shape: every phase read or replayed the whole log. It measures nothing.
func TestReplayRun(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "replay.json")
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"-workload", "replay", "-events", "5000", "-orders", "8", "-stores", "memory,embedded",
		"-data", filepath.Join(dir, "data"), "-json", out, "-cpuprofile", filepath.Join(dir, "cpu.prof")}, &stdout, io.Discard)
	if err != nil {
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
	if got := strings.Join(kinds, ","); got != "replay.read_all,replay.read_decode,replay.memory,replay.embedded,replay.read_all_after" {
		t.Fatalf("kinds: %s", got)
	}
	if len(rep.Comparisons) != 3 {
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
		if !strings.Contains(stdout.String(), want) {
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
