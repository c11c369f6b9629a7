package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Result is one measured run: one workload at one concurrency in one sync
// mode. Kinds so far:
//
//	ledger.initiate_payout  InitiatePayout through handler.Handle (decide,
//	                        append with the expected version, in process)
//	raw.publish             plain JetStream publishes of copies of stored
//	                        ledger events, in process, to a twin server
//	raw.publish_tcp         the same, to the store's own server over
//	                        loopback TCP
//	ledger.mix              the mix (mix.go) through handler.Handle,
//	                        clients spread over every shop
//	ledger.mix_one_shop     the same, every client on one JD shop
//	raw.atomic_batch        atomic batches of BatchMessages copies, one
//	                        publisher, to the twin server
//	postgres.initiate_payout, postgres.initiate_payout_one_shop
//	                        a naive PostgreSQL InitiatePayout (pgbase.go)
//
// Fields that do not apply stay zero and are omitted.
type Result struct {
	Kind    string  `json:"kind"`
	Sync    string  `json:"sync"`
	Clients int     `json:"clients"`
	Seconds float64 `json:"seconds"` // measured time, all slices together
	Slices  int     `json:"slices"`  // stretches the run was cut into, alternating with its baseline's
	// Attempted = OK + Rejected + Failed.
	Attempted int64   `json:"attempted"`
	OK        int64   `json:"ok"` // accepted commands, acknowledged publishes
	OKPerSec  float64 `json:"ok_per_s"`
	Events    int64   `json:"events,omitempty"` // events (messages) appended
	// MultiEvent: accepted commands that appended several events (a
	// duplicate-compensation warning with its payout): an atomic batch.
	MultiEvent   int64   `json:"multi_event_appends,omitempty"`
	EventsPerSec float64 `json:"events_per_s,omitempty"`
	// Latency of the OK operations, from the call to its return.
	Latency    Latency          `json:"latency"`
	Rejected   int64            `json:"rejected,omitempty"`
	Rejections map[string]int64 `json:"rejections,omitempty"` // by rule code
	Failed     int64            `json:"failed,omitempty"`
	Errors     map[string]int64 `json:"errors,omitempty"` // other errors, by message
	ByPlatform map[string]int64 `json:"accepted_by_platform,omitempty"`
	// Skipped: shops passed over because no order of theirs was ready
	// under a per-order rule (Douyin: 5 payouts, one a minute).
	Skipped  int64   `json:"skipped_shops,omitempty"`
	MsgBytes int     `json:"msg_bytes,omitempty"` // raw: bytes of one message (headers and body)
	Load1    float64 `json:"load_avg_1m_before"`  // the machine's 1-minute load average when the run started
	// CPUSeconds: the process's CPU time during the run (client, embedded
	// servers, collector); CPUPerOKMicros: that per OK operation.
	CPUSeconds     float64 `json:"cpu_s"`
	CPUPerOKMicros float64 `json:"cpu_us_per_ok"`

	// The mix (ledger.mix*): shops the clients spread over; every
	// command answered (accepted, refused or failed) and per second;
	// per command type; the latency of every command (Latency above:
	// accepted ones); outcomes the mix's model did not expect (any fails
	// the run).
	Shops              int                      `json:"shops,omitempty"`
	Commands           int64                    `json:"commands,omitempty"`
	CommandsPerSec     float64                  `json:"commands_per_s,omitempty"`
	ByCommand          map[string]*CommandStats `json:"by_command,omitempty"`
	LatencyAll         *Latency                 `json:"latency_all_commands,omitempty"`
	Unexpected         int64                    `json:"unexpected,omitempty"`
	UnexpectedExamples []string                 `json:"unexpected_examples,omitempty"`
	// Projection: a projections.Runtime following the log during the
	// run; Delivery: a NATS ordered consumer on the store's listener.
	Projection  *LagStats         `json:"projection_lag,omitempty"`
	GroupCommit *GroupCommitStats `json:"group_commit,omitempty"`
	Delivery    *DeliveryStats    `json:"consumer_delivery,omitempty"`
	// BatchMessages: raw.atomic_batch: messages per batch.
	BatchMessages int `json:"batch_messages,omitempty"`
	// Postgres: the PostgreSQL baseline's settings as the server reported them.
	Postgres map[string]string `json:"postgres_settings,omitempty"`
}

// bound is when a measured run stops: after a duration, or after a number
// of operations when ops > 0.
type bound struct {
	duration time.Duration
	ops      int64
}

// gate hands out operations to the clients of one run until the bound is
// reached or ctx is done.
type gate struct {
	stop   atomic.Bool
	useOps bool
	left   atomic.Int64
}

func startGate(ctx context.Context, b bound) (*gate, func()) {
	g := &gate{useOps: b.ops > 0}
	g.left.Store(b.ops)
	ctx, cancel := context.WithCancel(ctx)
	if !g.useOps {
		t := time.AfterFunc(b.duration, func() { g.stop.Store(true) })
		go func() { <-ctx.Done(); t.Stop(); g.stop.Store(true) }()
	} else {
		go func() { <-ctx.Done(); g.stop.Store(true) }()
	}
	return g, cancel
}

// next reports whether the client may start one more operation.
func (g *gate) next() bool {
	if g.stop.Load() {
		return false
	}
	return !g.useOps || g.left.Add(-1) >= 0
}

// giveBack returns an operation the client could not start.
func (g *gate) giveBack() {
	if g.useOps {
		g.left.Add(1)
	}
}

// tally is one client's counts, merged into the run's Result at the end.
type tally struct {
	ok, events int64
	multi      int64 // OK operations that appended more than one event
	rejections map[string]int64
	errs       map[string]int64
	byPlatform map[string]int64
}

func newTally() *tally {
	return &tally{rejections: map[string]int64{}, errs: map[string]int64{}, byPlatform: map[string]int64{}}
}

// errorClass names an error for the counts: short and stable, so that a
// thousand failures of one kind are one line.
func errorClass(err error) string {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "context: " + err.Error()
	}
	s := err.Error()
	if i := strings.IndexByte(s, ':'); i > 0 && i < 60 {
		// "append to jd.S00001: ..." and the like: drop the stream name.
		if j := strings.LastIndex(s, ": "); j > i {
			s = s[j+2:]
		}
	}
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

// slice is one timed stretch of a run: its clients' tallies and latency
// samples, and how long it lasted. A run is one or more slices of one
// workload, interleaved with the baseline's (-rounds).
type slice struct {
	tallies []*tally
	recs    []*recorder
	elapsed time.Duration
	cpu     time.Duration // process CPU time during the slice
	skipped int64
}

// mergeSlices folds the slices of one workload at one concurrency into a
// Result: counts add up, durations add up, the latency samples are merged.
func mergeSlices(kind, sync string, clients int, slices []slice) Result {
	r := Result{Kind: kind, Sync: sync, Clients: clients, Slices: len(slices)}
	r.Rejections, r.Errors, r.ByPlatform = map[string]int64{}, map[string]int64{}, map[string]int64{}
	var recs []*recorder
	var elapsed, cpu time.Duration
	for _, sl := range slices {
		elapsed += sl.elapsed
		cpu += sl.cpu
		r.Skipped += sl.skipped
		recs = append(recs, sl.recs...)
		for _, t := range sl.tallies {
			r.OK += t.ok
			r.Events += t.events
			r.MultiEvent += t.multi
			for _, m := range []struct{ dst, src map[string]int64 }{{r.Rejections, t.rejections}, {r.Errors, t.errs}, {r.ByPlatform, t.byPlatform}} {
				for k, v := range m.src {
					m.dst[k] += v
				}
			}
		}
	}
	r.Seconds = elapsed.Seconds()
	for _, n := range r.Rejections {
		r.Rejected += n
	}
	for _, n := range r.Errors {
		r.Failed += n
	}
	r.Attempted = r.OK + r.Rejected + r.Failed
	if r.Seconds > 0 {
		r.OKPerSec = float64(r.OK) / r.Seconds
		r.EventsPerSec = float64(r.Events) / r.Seconds
	}
	r.Latency = summarize(recs)
	r.CPUSeconds = cpu.Seconds()
	if r.OK > 0 {
		r.CPUPerOKMicros = float64(cpu.Microseconds()) / float64(r.OK)
	}
	for _, m := range []*map[string]int64{&r.Rejections, &r.Errors, &r.ByPlatform} {
		if len(*m) == 0 {
			*m = nil
		}
	}
	return r
}

// runClients starts clients goroutines running fn(i) and waits for them;
// it returns how long they ran and the process CPU time they took.
func runClients(clients int, fn func(i int)) (elapsed, cpu time.Duration) {
	var wg sync.WaitGroup
	cpu0 := processCPU()
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i)
		}()
	}
	wg.Wait()
	return time.Since(start), processCPU() - cpu0
}
