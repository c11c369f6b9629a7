// Package metrics exposes counters, gauges and histograms in the Prometheus
// text format (version 0.0.4), enough for payoutd's /metrics. It is a few
// hundred lines instead of the Prometheus client library and its
// dependency tree: the service needs labelled counters, one latency
// histogram family and gauges read at scrape time, nothing more.
//
// Hot paths (a command's outcome, an append's latency) cost one map lookup
// under a read lock and atomic adds.
package metrics

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Registry holds metric families in registration order.
type Registry struct {
	mu       sync.Mutex
	families []family
	names    map[string]bool
}

type family interface {
	name() string
	write(w io.Writer)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{names: map[string]bool{}} }

func (r *Registry) add(f family) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !validName(f.name()) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", f.name()))
	}
	if r.names[f.name()] {
		panic(fmt.Sprintf("metrics: %s registered twice", f.name()))
	}
	r.names[f.name()] = true
	r.families = append(r.families, f)
}

// Write writes every family in the text exposition format.
func (r *Registry) Write(w io.Writer) {
	r.mu.Lock()
	fams := append([]family(nil), r.families...)
	r.mu.Unlock()
	for _, f := range fams {
		f.write(w)
	}
}

// ServeHTTP answers a scrape.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	r.Write(w)
}

// --- series by label values ------------------------------------------------

// seriesSet holds a family's series by their label values: a lookup under a
// read lock on the hot path, creation under the write lock once.
type seriesSet[S any] struct {
	fname  string
	labels []string
	mu     sync.RWMutex
	m      map[string]*S
}

func newSeriesSet[S any](name string, labels []string) seriesSet[S] {
	return seriesSet[S]{fname: name, labels: labels, m: map[string]*S{}}
}

// get returns the series of values, made by mk on first use.
func (ss *seriesSet[S]) get(values []string, mk func(values []string) *S) *S {
	if len(values) != len(ss.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d labels, got %d", ss.fname, len(ss.labels), len(values)))
	}
	key := strings.Join(values, "\xff")
	ss.mu.RLock()
	s := ss.m[key]
	ss.mu.RUnlock()
	if s == nil {
		ss.mu.Lock()
		if s = ss.m[key]; s == nil {
			s = mk(append([]string(nil), values...))
			ss.m[key] = s
		}
		ss.mu.Unlock()
	}
	return s
}

// lookup returns the series of values if it exists.
func (ss *seriesSet[S]) lookup(values []string) *S {
	ss.mu.RLock()
	defer ss.mu.RUnlock()
	return ss.m[strings.Join(values, "\xff")]
}

// sorted returns the series ordered by their label values.
func (ss *seriesSet[S]) sorted(valuesOf func(*S) []string) []*S {
	ss.mu.RLock()
	all := make([]*S, 0, len(ss.m))
	for _, s := range ss.m {
		all = append(all, s)
	}
	ss.mu.RUnlock()
	sort.Slice(all, func(i, j int) bool { return lessValues(valuesOf(all[i]), valuesOf(all[j])) })
	return all
}

// --- counters -------------------------------------------------------------

// CounterVec is a counter family with a fixed list of label names.
type CounterVec struct {
	help   string
	series seriesSet[series]
}

type series struct {
	values []string
	n      atomic.Uint64
}

// NewCounterVec registers a counter family.
func (r *Registry) NewCounterVec(name, help string, labels ...string) *CounterVec {
	c := &CounterVec{help: help, series: newSeriesSet[series](name, labels)}
	r.add(c)
	return c
}

// Add adds n to the series with these label values (in label order).
func (c *CounterVec) Add(n uint64, values ...string) {
	c.series.get(values, func(v []string) *series { return &series{values: v} }).n.Add(n)
}

// Inc adds one.
func (c *CounterVec) Inc(values ...string) { c.Add(1, values...) }

// Value returns the current count of a series (0 if never touched).
func (c *CounterVec) Value(values ...string) uint64 {
	if s := c.series.lookup(values); s != nil {
		return s.n.Load()
	}
	return 0
}

func (c *CounterVec) name() string { return c.series.fname }

func (c *CounterVec) write(w io.Writer) {
	header(w, c.series.fname, c.help, "counter")
	for _, s := range c.series.sorted(func(s *series) []string { return s.values }) {
		fmt.Fprintf(w, "%s%s %d\n", c.series.fname, labelSet(c.series.labels, s.values, "", ""), s.n.Load())
	}
}

// --- gauges read at scrape time --------------------------------------------

// Sample is one gauge series: label values (in label order) and a value.
type Sample struct {
	Labels []string
	Value  float64
}

type gaugeFunc struct {
	fname, help string
	labels      []string
	collect     func() []Sample
}

// NewGaugeFunc registers a gauge family whose series are read from collect
// at every scrape (projection lag, pending timers, the log's head).
func (r *Registry) NewGaugeFunc(name, help string, labels []string, collect func() []Sample) {
	r.add(&gaugeFunc{fname: name, help: help, labels: labels, collect: collect})
}

func (g *gaugeFunc) name() string { return g.fname }

func (g *gaugeFunc) write(w io.Writer) {
	header(w, g.fname, g.help, "gauge")
	samples := g.collect()
	sort.Slice(samples, func(i, j int) bool { return lessValues(samples[i].Labels, samples[j].Labels) })
	for _, s := range samples {
		if len(s.Labels) != len(g.labels) {
			continue // a collector bug must not break the whole scrape
		}
		fmt.Fprintf(w, "%s%s %s\n", g.fname, labelSet(g.labels, s.Labels, "", ""), formatFloat(s.Value))
	}
}

// --- histograms --------------------------------------------------------------

// HistogramVec is a histogram family (seconds) with fixed buckets.
type HistogramVec struct {
	help   string
	bounds []float64
	series seriesSet[hseries]
}

type hseries struct {
	values  []string
	buckets []atomic.Uint64 // per bound, not cumulative; +Inf is count
	count   atomic.Uint64
	sumNano atomic.Uint64 // sum in nanoseconds: exact with atomics
}

// LatencyBuckets suit a command path between 100 µs and 10 s.
var LatencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// NewHistogramVec registers a histogram family; bounds must increase.
func (r *Registry) NewHistogramVec(name, help string, bounds []float64, labels ...string) *HistogramVec {
	for i := 1; i < len(bounds); i++ {
		if bounds[i] <= bounds[i-1] {
			panic("metrics: histogram bounds must increase")
		}
	}
	h := &HistogramVec{help: help, bounds: bounds, series: newSeriesSet[hseries](name, labels)}
	r.add(h)
	return h
}

// ObserveSeconds records one observation of d seconds.
func (h *HistogramVec) ObserveSeconds(seconds float64, values ...string) {
	s := h.series.get(values, func(v []string) *hseries {
		return &hseries{values: v, buckets: make([]atomic.Uint64, len(h.bounds))}
	})
	i := sort.SearchFloat64s(h.bounds, seconds) // first bound >= seconds
	if i < len(h.bounds) {
		s.buckets[i].Add(1)
	}
	s.count.Add(1)
	if seconds > 0 {
		s.sumNano.Add(uint64(math.Round(seconds * 1e9)))
	}
}

// Count returns a series' number of observations.
func (h *HistogramVec) Count(values ...string) uint64 {
	if s := h.series.lookup(values); s != nil {
		return s.count.Load()
	}
	return 0
}

func (h *HistogramVec) name() string { return h.series.fname }

func (h *HistogramVec) write(w io.Writer) {
	name, labels := h.series.fname, h.series.labels
	header(w, name, h.help, "histogram")
	for _, s := range h.series.sorted(func(s *hseries) []string { return s.values }) {
		count := s.count.Load()
		var cum uint64
		for i, b := range h.bounds {
			cum += s.buckets[i].Load()
			fmt.Fprintf(w, "%s_bucket%s %d\n", name, labelSet(labels, s.values, "le", formatFloat(b)), cum)
		}
		if cum > count { // observations raced the scrape: keep the series monotone
			count = cum
		}
		fmt.Fprintf(w, "%s_bucket%s %d\n", name, labelSet(labels, s.values, "le", "+Inf"), count)
		fmt.Fprintf(w, "%s_sum%s %s\n", name, labelSet(labels, s.values, "", ""), formatFloat(float64(s.sumNano.Load())/1e9))
		fmt.Fprintf(w, "%s_count%s %d\n", name, labelSet(labels, s.values, "", ""), count)
	}
}

// --- text format --------------------------------------------------------------

func header(w io.Writer, name, help, typ string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
}

func labelSet(names, values []string, extraName, extraValue string) string {
	if len(names) == 0 && extraName == "" {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteString(`="`)
		b.WriteString(escapeValue(values[i]))
		b.WriteByte('"')
	}
	if extraName != "" {
		if len(names) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(extraName)
		b.WriteString(`="`)
		b.WriteString(extraValue)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

func escapeValue(s string) string { return valueEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func lessValues(a, b []string) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		ok := c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}
