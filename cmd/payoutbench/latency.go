package main

import (
	"math/rand/v2"
	"slices"
	"time"
)

// recorder keeps a bounded, uniform sample of one client's latencies
// (reservoir sampling, Vitter's algorithm R): a long run costs at most max
// durations of memory per client, and percentiles come from the sorted
// sample. The count, the sum and the maximum are exact.
type recorder struct {
	max    int
	n      int64 // latencies offered
	sum    time.Duration
	worst  time.Duration
	sample []time.Duration
	rng    *rand.Rand
}

func newRecorder(max int, seed uint64) *recorder {
	if max < 1 {
		max = 1
	}
	return &recorder{max: max, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

func (r *recorder) add(d time.Duration) {
	r.n++
	r.sum += d
	r.worst = max(r.worst, d)
	if len(r.sample) < r.max {
		r.sample = append(r.sample, d)
		return
	}
	if k := r.rng.Int64N(r.n); k < int64(r.max) {
		r.sample[k] = d
	}
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	Count   int64   `json:"count"`
	Sampled int     `json:"sampled"` // durations kept to compute the percentiles
	MeanMS  float64 `json:"mean_ms"`
	P50MS   float64 `json:"p50_ms"`
	P90MS   float64 `json:"p90_ms"`
	P99MS   float64 `json:"p99_ms"`
	P999MS  float64 `json:"p99_9_ms"`
	MaxMS   float64 `json:"max_ms"`
}

// summarize merges the clients' samples. A client whose reservoir
// overflowed stands for more latencies than it kept, so each kept duration
// weighs n/len(sample) of its client: the merged percentiles are those of
// all latencies offered, not of the busiest client.
func summarize(rs []*recorder) Latency {
	type weighted struct {
		d time.Duration
		w float64
	}
	var all []weighted
	var out Latency
	var sum, worst time.Duration
	for _, r := range rs {
		if r == nil || r.n == 0 {
			continue
		}
		out.Count += r.n
		sum += r.sum
		worst = max(worst, r.worst)
		w := float64(r.n) / float64(len(r.sample))
		for _, d := range r.sample {
			all = append(all, weighted{d, w})
		}
	}
	if out.Count == 0 {
		return out
	}
	slices.SortFunc(all, func(a, b weighted) int {
		switch {
		case a.d < b.d:
			return -1
		case a.d > b.d:
			return 1
		}
		return 0
	})
	var total float64
	for _, x := range all {
		total += x.w
	}
	// quantile: the smallest duration whose cumulative weight reaches q
	// of the total (nearest rank).
	quantile := func(q float64) time.Duration {
		target, acc := q*total, 0.0
		for _, x := range all {
			acc += x.w
			if acc >= target {
				return x.d
			}
		}
		return all[len(all)-1].d
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	out.Sampled = len(all)
	out.MeanMS = ms(sum / time.Duration(out.Count))
	out.P50MS = ms(quantile(0.50))
	out.P90MS = ms(quantile(0.90))
	out.P99MS = ms(quantile(0.99))
	out.P999MS = ms(quantile(0.999))
	out.MaxMS = ms(worst)
	return out
}
