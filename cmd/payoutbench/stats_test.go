package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestNearestRank: quantiles of positions, nearest rank.
func TestNearestRank(t *testing.T) {
	xs := make([]uint64, 100)
	for i := range xs {
		xs[i] = uint64(i + 1)
	}
	for _, tc := range []struct {
		q    float64
		want uint64
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := nearestRank(xs, tc.q); got != tc.want {
			t.Errorf("q %v: %d, want %d", tc.q, got, tc.want)
		}
	}
	if nearestRank(nil, 0.5) != 0 {
		t.Error("empty")
	}
}

// TestSignedLatency: a consumer may get an event before its writer's ack:
// negative deltas keep their order and sign.
func TestSignedLatency(t *testing.T) {
	var ds []time.Duration
	for i := -10; i < 90; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := signedLatency(ds)
	if l.Count != 100 || l.P50MS != 39 || l.P99MS != 88 || l.MaxMS != 89 || l.MeanMS != 39.5 {
		t.Fatalf("%+v", l)
	}
}

// TestLagStats: samples and drains of several slices fold into one
// figure; the drain reported is the last slice's, with the worst beside it.
func TestLagStats(t *testing.T) {
	a := &lagSampler{pos: []uint64{0, 1, 2, 3}, times: []time.Duration{0, time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond}}
	b := &lagSampler{pos: []uint64{100}, times: []time.Duration{50 * time.Millisecond}}
	st := lagStats([]*lagSampler{a, b}, []time.Duration{40 * time.Millisecond, 10 * time.Millisecond}, 7)
	if st.Samples != 5 || st.PositionsP50 != 2 || st.PositionsMax != 100 || st.TimeMaxMS != 50 || st.DrainMS != 10 || st.DrainMaxMS != 40 || st.DrainPositions != 7 {
		t.Fatalf("%+v", st)
	}
}

// TestMixReport: the mix's details name every command type with its
// refusals by code, and the followers' figures.
func TestMixReport(t *testing.T) {
	all := Latency{P50MS: 1, P99MS: 2, P999MS: 3}
	r := Result{Kind: kindMix, Sync: "always", Clients: 16, Shops: 1000, CommandsPerSec: 2000, OKPerSec: 1800, LatencyAll: &all,
		ByCommand: map[string]*CommandStats{
			"InitiatePayout":      {Commands: 900, Accepted: 700, Rejected: 200, Rejections: map[string]int64{"pdd.payout.max": 150, "dup.same_type": 50}},
			"MarkPayoutSucceeded": {Commands: 1100, Accepted: 1100},
		},
		Projection: &LagStats{Samples: 10, PositionsP99: 12, DrainMS: 3.5},
		Delivery:   &DeliveryStats{Delivered: 1800, FromRecorded: Latency{P50MS: 0.5, P99MS: 4}},
	}
	var buf bytes.Buffer
	newPrinter(&buf).mixDetails(r)
	out := buf.String()
	lines := strings.Split(out, "\n")
	if len(lines) < 6 || !strings.Contains(lines[3], "MarkPayoutSucceeded") || !strings.Contains(lines[4], "InitiatePayout") {
		t.Fatalf("busiest command first:\n%s", out)
	}
	for _, want := range []string{"2,000 commands/s", "pdd.payout.max 150, dup.same_type 50", "projections lag (10 samples)", "drained 0 events in 3.5 ms",
		"consumer delivery (1800 events): from Recorded-At p50 0.50 p99 4.00 ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if err := checkExpected(r); err != nil {
		t.Errorf("no unexpected outcome: %v", err)
	}
	r.Unexpected, r.UnexpectedExamples = 1, []string{"probe.x InitiatePayout on jd.S1 (k): accepted, expected [jd.staff.daily]"}
	if err := checkExpected(r); err == nil || !strings.Contains(err.Error(), "accepted, expected") {
		t.Errorf("unexpected outcome not reported: %v", err)
	}
}
