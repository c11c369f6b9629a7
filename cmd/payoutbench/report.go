package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Machine is where the figures were measured.
type Machine struct {
	NumCPU     int       `json:"num_cpu"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	GoVersion  string    `json:"go_version"`
	OS         string    `json:"os"`
	Arch       string    `json:"arch"`
	CPUModel   string    `json:"cpu_model,omitempty"`
	Load       []float64 `json:"load_avg_at_start,omitempty"` // 1, 5, 15 minutes
	Shared     bool      `json:"shared"`
	// GOGC and GOMEMLIMIT as set in the environment ("" = Go's defaults:
	// GOGC=100, no limit): the ledger keeps every shop's state in memory,
	// so the collector's pace moves the figures.
	GOGC       string `json:"gogc,omitempty"`
	GOMEMLIMIT string `json:"gomemlimit,omitempty"`
}

func machine() Machine {
	m := Machine{
		NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		OS: runtime.GOOS, Arch: runtime.GOARCH, Shared: true, Load: loadAvg(),
		GOGC: os.Getenv("GOGC"), GOMEMLIMIT: os.Getenv("GOMEMLIMIT"),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// loadAvg reads the 1, 5 and 15-minute load averages (Linux; nil
// elsewhere).
func loadAvg() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	var out []float64
	for _, f := range strings.Fields(string(b))[:3] {
		x, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil
		}
		out = append(out, x)
	}
	return out
}

func loadAvg1() float64 {
	if l := loadAvg(); len(l) > 0 {
		return l[0]
	}
	return 0
}

// printer writes the human-readable report; the JSON carries the same
// figures.
type printer struct{ w io.Writer }

func newPrinter(w io.Writer) *printer { return &printer{w: w} }

func (p *printer) header(r *Report) {
	m := r.Machine
	fmt.Fprintf(p.w, "payoutbench %s: a command mix through handler.Handle against raw JetStream publishes and batches and a naive PostgreSQL payout, in one run, same disk\n", r.Date)
	fmt.Fprintf(p.w, "machine: runtime.NumCPU %d, GOMAXPROCS %d, %s %s/%s", m.NumCPU, m.GOMAXPROCS, m.GoVersion, m.OS, m.Arch)
	if m.CPUModel != "" {
		fmt.Fprintf(p.w, ", %s", m.CPUModel)
	}
	if len(m.Load) == 3 {
		fmt.Fprintf(p.w, "; load average %.2f %.2f %.2f", m.Load[0], m.Load[1], m.Load[2])
	}
	if m.GOGC != "" || m.GOMEMLIMIT != "" {
		fmt.Fprintf(p.w, "; GOGC=%s GOMEMLIMIT=%s", m.GOGC, m.GOMEMLIMIT)
	}
	fmt.Fprintln(p.w)
	fmt.Fprintln(p.w, "NOTE: a shared machine: other jobs move these figures from run to run (each run records the load average")
	fmt.Fprintln(p.w, "      before it); compare ledger and raw within one run, and re-run before relying on a number.")
	o := r.Options
	fmt.Fprintf(p.w, "workload: %d shops (%s, round robin), %d orders each at setup", o.Shops, strings.Join(o.Platforms, ", "), o.Orders)
	if o.OneShop && o.OneShopOrders > 0 {
		fmt.Fprintf(p.w, " (the one shop: %d)", o.OneShopOrders)
	}
	fmt.Fprintln(p.w, "; each client picks a random shop, then:")
	if o.Mix == mixInitiate {
		fmt.Fprintln(p.w, "          -mix initiate: an InitiatePayout of 1.00-9.99 CNY the model expects accepted, on the shop's least recently paid")
		fmt.Fprintln(p.w, "          order, each order taking each payout type once (one event per command; a RegisterOrder only if a shop runs")
		fmt.Fprintln(p.w, "          out of orders); any other outcome fails the run (mix.go)")
	} else {
		fmt.Fprintln(p.w, "          40% the next lifecycle step of its oldest open payout (succeeded, processing, buyer confirmation, card paid or")
		fmt.Fprintln(p.w, "          cancelled; card expiries and closes by a timers' handler with the clock 8 days ahead), 9% a probe refused by")
		fmt.Fprintln(p.w, "          construction (each with the code it must carry), else a payout or collection card of 1.00-9.99 CNY the model")
		fmt.Fprintln(p.w, "          expects accepted (a RegisterOrder when no order is ready); any other outcome fails the run (mix.go)")
	}
	if o.Follow {
		fmt.Fprintln(p.w, "followers: a projections.Runtime (projections.All, memory store) and a JetStream ordered consumer on ledger.> over the")
		fmt.Fprintln(p.w, "          store's client port follow the log during the ledger's runs, in this process")
	}
	if o.HTTP {
		fmt.Fprintln(p.w, "over HTTP: the same mix through payoutd's API, payoutd in this process, after each sync mode's in-process runs (-http)")
	}
	fmt.Fprintln(p.w, "replay: of the whole log after the runs, into a memory store, against a raw ordered consumer (every store, 1M events: make bench-replay)")
	size := o.Duration.String()
	if o.Ops > 0 {
		size = fmt.Sprintf("%d operations", o.Ops)
	}
	fmt.Fprintf(p.w, "runs: %s per run and clients value %v, in %d slices alternating ledger and raw (ABBA); seed %d\n", size, o.Clients, o.Rounds, o.Seed)
	if len(o.RawBatches) > 0 {
		fmt.Fprintf(p.w, "raw batches: atomic batches of %v messages (copies of ledger events, each to another shop's subject), one publisher\n", o.RawBatches)
	}
	if len(o.Raw) > 0 {
		how := "the ledger event's headers and body (same size)"
		if !o.RawHeaders {
			how = "the ledger event's body alone"
		}
		expect := "with Nats-Expected-Last-Subject-Sequence(-Subject) per subject, as the store sets"
		if !o.RawExpect {
			expect = "without expected-sequence headers"
		}
		fmt.Fprintln(p.w, "raw: synchronous nats.go jetstream PublishMsg to a stream RAW, one subject per shop, each client its own subjects,")
		fmt.Fprintf(p.w, "     %s;\n     each message carries %s\n", expect, how)
		for _, r := range o.Raw {
			if r == "inproc" {
				fmt.Fprintln(p.w, "     raw/s: in-process connection (as the store's) to a twin embedded server with the store's options, same disk")
			} else {
				fmt.Fprintln(p.w, "     tcp/s: the store's own server, over its loopback TCP listener (its in-process connection is not exported)")
			}
		}
	}
}

func (p *printer) setup(o options, s Setup) {
	fmt.Fprintf(p.w, "\nsync %s: %s\n", s.Sync, syncMeaning(s.Sync))
	fmt.Fprintf(p.w, "  data dir %s", s.DataDir)
	if s.ServerVersion != "" {
		fmt.Fprintf(p.w, ", nats-server %s", s.ServerVersion)
	}
	fmt.Fprintln(p.w)
	st := s.Shops
	if st.How == "handler" {
		fmt.Fprintf(p.w, "  setup: %d shops x %d orders: %d commands, %d events through the handler in %.1f s (%d clients, %.0f commands/s)\n",
			st.Shops, st.Orders, st.Commands, st.Events, st.Seconds, st.Clients, float64(st.Commands)/st.Seconds)
	} else {
		fmt.Fprintf(p.w, "  setup: %d shops x %d orders: %d commands decided, %d events appended in atomic batches in %.1f s; loaded into the handler in %.1f s (%d clients, %.0f events/s)\n",
			st.Shops, st.Orders, st.Commands, st.Events, st.Seconds, st.LoadSeconds, st.Clients, float64(st.Events)/st.LoadSeconds)
	}
	fmt.Fprintf(p.w, "  disk: 1 KiB write + fsync in the data dir: p50 %.2f ms, p99 %.2f ms (%d probes)\n", s.FsyncBefore.P50MS, s.FsyncBefore.P99MS, s.FsyncBefore.Count)
	fmt.Fprintf(p.w, "  heap after setup %.0f MB (%.1f KB per shop)\n", float64(s.HeapBytes)/(1<<20), float64(s.HeapBytes)/1024/float64(max(st.Shops, 1)))
	if s.Postgres != "" {
		fmt.Fprintf(p.w, "  postgres: %s\n", s.Postgres)
	}
}

func syncMeaning(s string) string {
	if s == "always" {
		return "fsync before every acknowledgement (the default)"
	}
	return "acknowledged once written to the OS, fsynced every 2 minutes"
}

// baselineLabel names a baseline's column.
func baselineLabel(kind string) string {
	if kind == "tcp" || kind == kindRawTCP {
		return "tcp/s"
	}
	return "raw/s"
}

// tableHeader: the ledger's columns, the first baseline's in full, the
// others' throughput and ratio.
func (p *printer) tableHeader(raws []string) {
	fmt.Fprintln(p.w)
	h := fmt.Sprintf("%-8s %-9s %7s | %9s %9s %9s %7s %7s %7s %8s", "sync", "shops", "clients", "cmds/s", "ledger/s", "events/s", "p50 ms", "p99 ms", "p99.9", "rejected")
	for i, r := range raws {
		if i == 0 {
			h += fmt.Sprintf(" | %9s %7s %7s %7s %6s", baselineLabel(r), "p50 ms", "p99 ms", "p99.9", "ratio")
		} else {
			h += fmt.Sprintf(" | %9s %6s", baselineLabel(r), "ratio")
		}
	}
	fmt.Fprintln(p.w, h)
	fmt.Fprintln(p.w, strings.Repeat("-", len(h)))
}

func (p *printer) row(l Result, baselines []Result) {
	shops := "all"
	if l.Kind == kindMixOneShop {
		shops = "one"
	}
	line := fmt.Sprintf("%-8s %-9s %7d | %9s %9s %9s %7.2f %7.2f %7.2f %8d", l.Sync, shops, l.Clients, thousands(l.CommandsPerSec), thousands(l.OKPerSec),
		thousands(l.EventsPerSec), l.Latency.P50MS, l.Latency.P99MS, l.Latency.P999MS, l.Rejected)
	for i, r := range baselines {
		ratio := "-"
		if r.OKPerSec > 0 {
			ratio = fmt.Sprintf("%.2f", l.OKPerSec/r.OKPerSec)
		}
		if i == 0 {
			line += fmt.Sprintf(" | %9s %7.2f %7.2f %7.2f %6s", thousands(r.OKPerSec), r.Latency.P50MS, r.Latency.P99MS, r.Latency.P999MS, ratio)
		} else {
			line += fmt.Sprintf(" | %9s %6s", thousands(r.OKPerSec), ratio)
		}
	}
	fmt.Fprintln(p.w, line)
}

// details lists, under the table, what the columns cannot show:
// rejections by code, errors, the platform mix, skipped shops.
func (p *printer) details(results []Result, s Setup) {
	fmt.Fprintln(p.w, "cmds/s: commands answered per second (accepted, refused); ledger/s: accepted commands per second; p50..p99.9: of accepted commands;")
	fmt.Fprintln(p.w, "events/s: events appended per second; shops: the mix over every shop, or every client on one JD shop;")
	fmt.Fprintln(p.w, "raw/s: publishes in process to a twin server; tcp/s: to the store's server over loopback TCP; ratio: ledger/s over each")
	for _, plat := range slices.Sorted(maps.Keys(s.LedgerMsgBytes)) {
		fmt.Fprintf(p.w, "one stored %s PayoutInitiated: %d bytes (%d-byte JSON body, the rest headers); raw messages copy it\n",
			plat, s.LedgerMsgBytes[plat], s.LedgerBodyBytes[plat])
	}
	if s.CPUProfileTop != "" {
		fmt.Fprintf(p.w, "CPU profile of the ledger's slices (%s), go tool pprof -top, 15 functions:\n%s\n", s.CPUProfile, s.CPUProfileTop)
	}
	sync := s.Sync
	fmt.Fprintf(p.w, "disk after the sweep: 1 KiB write + fsync p50 %.2f ms, p99 %.2f ms (before: %.2f, %.2f)\n",
		s.FsyncAfter.P50MS, s.FsyncAfter.P99MS, s.FsyncBefore.P50MS, s.FsyncBefore.P99MS)
	for _, r := range results {
		if r.Sync != sync {
			continue
		}
		var parts []string
		if len(r.ByPlatform) > 0 {
			parts = append(parts, "accepted "+counts(r.ByPlatform))
		}
		if len(r.Rejections) > 0 {
			parts = append(parts, "rejected "+counts(r.Rejections))
		}
		if len(r.Errors) > 0 {
			parts = append(parts, "ERRORS "+counts(r.Errors))
		}
		if r.MultiEvent > 0 {
			parts = append(parts, fmt.Sprintf("%d with a duplicate warning (2 events, one atomic batch)", r.MultiEvent))
		}
		if r.Skipped > 0 {
			parts = append(parts, fmt.Sprintf("%d shop picks skipped (no order ready)", r.Skipped))
		}
		if r.MsgBytes > 0 {
			parts = append(parts, fmt.Sprintf("%d-byte messages", r.MsgBytes))
		}
		parts = append(parts, fmt.Sprintf("%d ok in %.1f s, max %.1f ms, CPU %.0f us/op (%.2f cores), load %.2f",
			r.OK, r.Seconds, r.Latency.MaxMS, r.CPUPerOKMicros, r.CPUSeconds/max(r.Seconds, 1e-9), r.Load1))
		fmt.Fprintf(p.w, "  %-22s clients=%-3d %s\n", r.Kind, r.Clients, strings.Join(parts, "; "))
		if r.OK > 0 && r.MultiEvent*100 > r.OK {
			fmt.Fprintf(p.w, "  WARNING: %.0f%% of these payouts repeated an order's payout type (all five used): each appends 2 events\n"+
				"           as an atomic batch, a slower path; raise -orders to measure the single-event path\n", float64(r.MultiEvent)*100/float64(r.OK))
		}
	}
}

// counts renders a count map in a stable order, largest first.
func counts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// thousands formats a rate as an integer with thousands separators.
func thousands(x float64) string {
	s := strconv.FormatInt(int64(x+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// mixDetails: a mix run per command type, its refusals by code, the
// followers' figures.
func (p *printer) mixDetails(r Result) {
	fmt.Fprintf(p.w, "\n%s, %s, %d clients over %d shop(s): %s commands/s, %s accepted/s, %s events/s; all commands p50 %.2f p99 %.2f p99.9 %.2f ms\n",
		r.Kind, r.Sync, r.Clients, r.Shops, thousands(r.CommandsPerSec), thousands(r.OKPerSec), thousands(r.EventsPerSec),
		r.LatencyAll.P50MS, r.LatencyAll.P99MS, r.LatencyAll.P999MS)
	fmt.Fprintf(p.w, "  %-22s %8s %9s %10s %9s %8s %8s %8s  %s\n", "command", "count", "cmds/s", "accepted/s", "events/s", "p50 ms", "p99 ms", "p99.9", "refused by code")
	for _, name := range commandNames(r) {
		c := r.ByCommand[name]
		fmt.Fprintf(p.w, "  %-22s %8d %9s %10s %9s %8.2f %8.2f %8.2f  %s\n", name, c.Commands, thousands(c.CommandsPerSec), thousands(c.AcceptedPerSec),
			thousands(c.EventsPerSec), c.Latency.P50MS, c.Latency.P99MS, c.Latency.P999MS, counts(c.Rejections))
	}
	if r.Unexpected > 0 {
		fmt.Fprintf(p.w, "  UNEXPECTED: %d outcomes, e.g.\n    %s\n", r.Unexpected, joinLines(r.UnexpectedExamples))
	}
	if g := r.GroupCommit; g != nil {
		fmt.Fprintf(p.w, "  group commit: %d appends for %d commands (%.1f per append), %d conflicts; appends by commands in them: %s\n",
			g.Batches, g.Commands, g.MeanCommands, g.Conflicts, counts(g.BySize))
	}
	if l := r.Projection; l != nil {
		fmt.Fprintf(p.w, "  projections lag (%d samples): %d / %d events (p50 / p99, max %d), %.1f / %.1f ms (max %.1f); drained %d events in %.1f ms after the load (max %.1f)\n",
			l.Samples, l.PositionsP50, l.PositionsP99, l.PositionsMax, l.TimeP50MS, l.TimeP99MS, l.TimeMaxMS, l.DrainPositions, l.DrainMS, l.DrainMaxMS)
	}
	if d := r.Delivery; d != nil {
		fmt.Fprintf(p.w, "  consumer delivery (%d events): from Recorded-At p50 %.2f p99 %.2f ms; from the ack p50 %.2f p99 %.2f ms (%d of %d before the ack)\n",
			d.Delivered, d.FromRecorded.P50MS, d.FromRecorded.P99MS, d.FromAck.P50MS, d.FromAck.P99MS, d.BeforeAck, d.Joined)
	}
}

// baselines: the raw batches and PostgreSQL, each against the ledger.
func (p *printer) baselines(others, mixes []Result) {
	if len(others) == 0 {
		return
	}
	fmt.Fprintf(p.w, "\n%-36s %7s | %9s %8s %8s %8s | %-20s %9s %6s\n", "baseline", "clients", "ok/s", "p50 ms", "p99 ms", "p99.9", "ledger", "ledger/s", "ratio")
	for _, b := range others {
		name := b.Kind
		if b.BatchMessages > 0 {
			name = fmt.Sprintf("%s of %d (latency per batch)", b.Kind, b.BatchMessages)
		}
		lk, lc := kindMix, b.Clients
		switch b.Kind {
		case kindPGOneShop:
			lk = kindMixOneShop
		case kindRawBatch:
			if t := topMix(mixes, kindMix); t != nil {
				lc = t.Clients
			}
		}
		ledger, ratio := "-", "-"
		for _, l := range mixes {
			if l.Kind == lk && l.Clients == lc && b.OKPerSec > 0 {
				ledger, ratio = thousands(l.OKPerSec), fmt.Sprintf("%.2f", l.OKPerSec/b.OKPerSec)
			}
		}
		fmt.Fprintf(p.w, "%-36s %7d | %9s %8.2f %8.2f %8.2f | %-20s %9s %6s\n", name, b.Clients, thousands(b.OKPerSec),
			b.Latency.P50MS, b.Latency.P99MS, b.Latency.P999MS, fmt.Sprintf("%s@%d", strings.TrimPrefix(lk, "ledger."), lc), ledger, ratio)
	}
	for _, b := range others {
		if b.Postgres != nil && b.Postgres["fsync"] != "on" {
			fmt.Fprintf(p.w, "WARNING: PostgreSQL ran with fsync=%s (projections/pgtest's setting): its commits are not fsynced, the ledger's are in sync always;\n", b.Postgres["fsync"])
			fmt.Fprintln(p.w, "         the PostgreSQL rows are NOT at the same durability")
			break
		}
	}
}
