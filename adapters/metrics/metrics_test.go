package metrics

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExpositionFormat(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounterVec("payoutd_commands_total", "Commands by type and outcome.", "command", "outcome")
	c.Inc("InitiatePayout", "ok")
	c.Add(2, "InitiatePayout", "jd.limits")
	c.Inc("TopUp", `we"ird\code`+"\n")
	h := r.NewHistogramVec("payoutd_append_seconds", "Append latency.", []float64{0.001, 0.01}, "store")
	h.ObserveSeconds(0.0005, "jetstream")
	h.ObserveSeconds(0.001, "jetstream") // on a bound: counted in le=0.001
	h.ObserveSeconds(0.5, "jetstream")
	r.NewGaugeFunc("payoutd_projection_lag_events", "Events behind the log.", []string{"projection"}, func() []Sample {
		return []Sample{{Labels: []string{"quota_usage"}, Value: 3}, {Labels: []string{"daily_totals"}, Value: 0}, {Labels: []string{"too", "many"}, Value: 1}}
	})
	var b bytes.Buffer
	r.Write(&b)
	want := `# HELP payoutd_commands_total Commands by type and outcome.
# TYPE payoutd_commands_total counter
payoutd_commands_total{command="InitiatePayout",outcome="jd.limits"} 2
payoutd_commands_total{command="InitiatePayout",outcome="ok"} 1
payoutd_commands_total{command="TopUp",outcome="we\"ird\\code\n"} 1
# HELP payoutd_append_seconds Append latency.
# TYPE payoutd_append_seconds histogram
payoutd_append_seconds_bucket{store="jetstream",le="0.001"} 2
payoutd_append_seconds_bucket{store="jetstream",le="0.01"} 2
payoutd_append_seconds_bucket{store="jetstream",le="+Inf"} 3
payoutd_append_seconds_sum{store="jetstream"} 0.5015
payoutd_append_seconds_count{store="jetstream"} 3
# HELP payoutd_projection_lag_events Events behind the log.
# TYPE payoutd_projection_lag_events gauge
payoutd_projection_lag_events{projection="daily_totals"} 0
payoutd_projection_lag_events{projection="quota_usage"} 3
`
	require.Equal(t, want, b.String())
}

func TestServeHTTPContentType(t *testing.T) {
	r := NewRegistry()
	r.NewCounterVec("up_total", "x").Inc()
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, "text/plain; version=0.0.4; charset=utf-8", rec.Header().Get("Content-Type"))
	require.Contains(t, rec.Body.String(), "up_total 1\n")
}

func TestConcurrentUpdatesAreCountedExactly(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounterVec("c_total", "x", "k")
	h := r.NewHistogramVec("h_seconds", "x", LatencyBuckets, "k")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				c.Inc([]string{"a", "b"}[i%2])
				h.ObserveSeconds(0.002, "a")
				if i%100 == 0 {
					r.Write(&bytes.Buffer{}) // scrapes race the updates
				}
			}
		}()
	}
	wg.Wait()
	require.Equal(t, uint64(4000), c.Value("a"))
	require.Equal(t, uint64(4000), c.Value("b"))
	require.Equal(t, uint64(8000), h.Count("a"))
}

func TestRegistrationMistakesPanic(t *testing.T) {
	r := NewRegistry()
	r.NewCounterVec("dup_total", "x")
	for name, f := range map[string]func(){
		"twice":        func() { r.NewCounterVec("dup_total", "x") },
		"bad name":     func() { r.NewCounterVec("9lives", "x") },
		"label count":  func() { r.NewCounterVec("l_total", "x", "a").Inc() },
		"bounds order": func() { r.NewHistogramVec("b_seconds", "x", []float64{1, 1}) },
	} {
		require.Panics(t, f, name)
	}
	require.False(t, strings.Contains(func() string { var b bytes.Buffer; r.Write(&b); return b.String() }(), "9lives"))
}
