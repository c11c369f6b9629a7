package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync/atomic"
	"time"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// Kinds of the mix's results.
const (
	kindMix        = "ledger.mix"          // the mix across every shop
	kindMixOneShop = "ledger.mix_one_shop" // the mix, every client on one JD shop
)

// handlerConfig is the ONE place the benchmark configures its handlers
// (the commands' and the timers'). Group commit: the handler's default
// (handler.GroupCommitOn) is what make bench measures; a comparison run
// sets GroupCommit: handler.GroupCommitOff here.
func handlerConfig(clock func() time.Time) handler.Config {
	return handler.Config{Clock: clock}
}

// commandSender is what the mix drives: handler.Handler in process, or
// payoutd over HTTP (-target, target.go).
type commandSender interface {
	Handle(ctx context.Context, cmd domain.Command, meta handler.Meta) (handler.Result, error)
}

// mixRun drives the mix through a sender (commands) and a timers' sender
// (clock ahead by timerAdvance).
type mixRun struct {
	h, timers commandSender
	w         *workload
	seed      uint64
	slices    uint64
	// initiateOnly: -mix initiate, InitiatePayout alone (pickOp).
	initiateOnly bool
	// samples: per platform, the global position of one stored
	// single-event PayoutInitiated: the raw baselines copy it.
	samples map[domain.PlatformID]*atomic.Uint64
}

func newMixRun(h, timers commandSender, w *workload, seed uint64, mix string) *mixRun {
	m := &mixRun{h: h, timers: timers, w: w, seed: seed, initiateOnly: mix == mixInitiate, samples: map[domain.PlatformID]*atomic.Uint64{}}
	for _, s := range w.shops {
		if m.samples[s.ref.Platform] == nil {
			m.samples[s.ref.Platform] = new(atomic.Uint64)
		}
	}
	return m
}

// samplePositions returns the sampled positions of the platforms that
// have one so far.
func (m *mixRun) samplePositions() map[domain.PlatformID]uint64 {
	out := map[domain.PlatformID]uint64{}
	for p, a := range m.samples {
		if pos := a.Load(); pos != 0 {
			out[p] = pos
		}
	}
	return out
}

// cmdTally is one client's counts for one command type.
type cmdTally struct {
	n, ok, events int64
	failed        int64
	rejections    map[string]int64
	rec           *recorder // every answered command's latency
}

// mixTally is one client's counts in a mix slice.
type mixTally struct {
	tally
	byCmd      map[string]*cmdTally
	all        *recorder // latency of every command
	unexpected int64
	examples   []string
	acks       []posTime // position of each accepted command's last event, and when it was acknowledged
}

type posTime struct {
	pos uint64
	at  time.Time
}

// mixSlice is one timed stretch of the mix.
type mixSlice struct {
	slice
	mix []*mixTally
}

// maxExamples bounds the unexpected outcomes kept per client.
const maxExamples = 5

// slice runs clients clients on shops until b.
func (m *mixRun) slice(ctx context.Context, clients int, shops []*shop, b bound, maxSamples int) mixSlice {
	g, stop := startGate(ctx, b)
	defer stop()
	tallies := make([]*mixTally, clients)
	recs := make([]*recorder, clients)
	m.slices++
	n := m.slices
	perType := max(maxSamples/clients/8, 100)
	elapsed, cpu := runClients(clients, func(i int) {
		seed := m.seed + n<<32 + uint64(i)
		t := &mixTally{tally: *newTally(), byCmd: map[string]*cmdTally{}, all: newRecorder(maxSamples/clients, seed^1)}
		rec := newRecorder(maxSamples/clients, seed)
		tallies[i], recs[i] = t, rec
		rng := rand.New(rand.NewPCG(m.seed, n<<32|uint64(i)))
		for g.next() {
			o, ok := pickOp(rng, time.Now(), shops, m.initiateOnly)
			if !ok {
				// Nothing to send on the shops tried (every order waiting
				// out its minute, caps reached): wait, do not spin.
				g.giveBack()
				time.Sleep(time.Millisecond)
				continue
			}
			s := m.h
			if o.timer {
				s = m.timers
			}
			start := time.Now()
			res, err := s.Handle(ctx, o.cmd, handler.Meta{Actor: o.actor, IdempotencyKey: o.key})
			end := time.Now()
			out := o.judge(res, err, end)
			o.done(out, end)
			name := o.cmd.CommandName()
			ct := t.byCmd[name]
			if ct == nil {
				ct = &cmdTally{rejections: map[string]int64{}, rec: newRecorder(perType, seed+uint64(len(t.byCmd))<<8)}
				t.byCmd[name] = ct
			}
			ct.n++
			ct.rec.add(end.Sub(start))
			t.all.add(end.Sub(start))
			switch {
			case out.accepted:
				ct.ok++
				ct.events += int64(len(res.Events))
				t.ok++
				t.events += int64(len(res.Events))
				if len(res.Events) > 1 {
					t.multi++
				}
				t.byPlatform[string(o.s.ref.Platform)]++
				rec.add(end.Sub(start))
				if k := len(res.Events); k > 0 && res.Events[k-1].Position != 0 {
					t.acks = append(t.acks, posTime{res.Events[k-1].Position, end})
					if k == 1 && res.Events[0].Type == "PayoutInitiated" {
						m.samples[o.s.ref.Platform].CompareAndSwap(0, res.Events[0].Position)
					}
				}
			case out.err != nil:
				ct.failed++
				t.errs[errorClass(out.err)]++
			default:
				ct.rejections[out.code]++
				t.rejections[out.code]++
			}
			if out.unexpected != "" {
				t.unexpected++
				if len(t.examples) < maxExamples {
					t.examples = append(t.examples, out.unexpected)
				}
			}
		}
	})
	plain := make([]*tally, clients)
	for i, t := range tallies {
		plain[i] = &t.tally
	}
	return mixSlice{slice: slice{tallies: plain, recs: recs, elapsed: elapsed, cpu: cpu}, mix: tallies}
}

// CommandStats is one command type's figures in a mix run.
type CommandStats struct {
	Commands       int64            `json:"commands"`
	Accepted       int64            `json:"accepted"`
	Rejected       int64            `json:"rejected"`
	Failed         int64            `json:"failed,omitempty"`
	Events         int64            `json:"events"`
	CommandsPerSec float64          `json:"commands_per_s"`
	AcceptedPerSec float64          `json:"accepted_per_s"`
	EventsPerSec   float64          `json:"events_per_s"`
	Latency        Latency          `json:"latency"` // every answered command of the type
	Rejections     map[string]int64 `json:"rejections,omitempty"`
}

// mergeMix folds a mix run's slices into a Result: what mergeSlices
// gives, and the per-command figures, every command's latency and the
// unexpected outcomes.
func mergeMix(kind, sync string, clients, shops int, slices []mixSlice) Result {
	plain := make([]slice, len(slices))
	for i, sl := range slices {
		plain[i] = sl.slice
	}
	r := mergeSlices(kind, sync, clients, plain)
	r.Shops = shops
	r.ByCommand = map[string]*CommandStats{}
	recs := map[string][]*recorder{}
	var all []*recorder
	for _, sl := range slices {
		for _, t := range sl.mix {
			all = append(all, t.all)
			r.Unexpected += t.unexpected
			for _, e := range t.examples {
				if len(r.UnexpectedExamples) < 2*maxExamples {
					r.UnexpectedExamples = append(r.UnexpectedExamples, e)
				}
			}
			for name, ct := range t.byCmd {
				cs := r.ByCommand[name]
				if cs == nil {
					cs = &CommandStats{Rejections: map[string]int64{}}
					r.ByCommand[name] = cs
				}
				cs.Commands += ct.n
				cs.Accepted += ct.ok
				cs.Failed += ct.failed
				cs.Events += ct.events
				for code, k := range ct.rejections {
					cs.Rejections[code] += k
					cs.Rejected += k
				}
				recs[name] = append(recs[name], ct.rec)
			}
		}
	}
	for name, cs := range r.ByCommand {
		cs.Latency = summarize(recs[name])
		if r.Seconds > 0 {
			cs.CommandsPerSec = float64(cs.Commands) / r.Seconds
			cs.AcceptedPerSec = float64(cs.Accepted) / r.Seconds
			cs.EventsPerSec = float64(cs.Events) / r.Seconds
		}
		if len(cs.Rejections) == 0 {
			cs.Rejections = nil
		}
		r.Commands += cs.Commands
	}
	if r.Seconds > 0 {
		r.CommandsPerSec = float64(r.Commands) / r.Seconds
	}
	l := summarize(all)
	r.LatencyAll = &l
	return r
}

// commandNames lists a result's command types, busiest first.
func commandNames(r Result) []string {
	names := make([]string, 0, len(r.ByCommand))
	for n := range r.ByCommand {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := r.ByCommand[names[i]], r.ByCommand[names[j]]
		if a.Commands != b.Commands {
			return a.Commands > b.Commands
		}
		return names[i] < names[j]
	})
	return names
}

// checkExpected fails the run when a command was answered otherwise than
// the model expected.
func checkExpected(r Result) error {
	if r.Unexpected == 0 && r.Failed == 0 {
		return nil
	}
	return fmt.Errorf("%s, %d clients: %d commands answered otherwise than expected and %d errors (the mix's model or the ledger is wrong); first ones:\n  %v",
		r.Kind, r.Clients, r.Unexpected, r.Failed, joinLines(r.UnexpectedExamples))
}

func joinLines(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += "\n  "
		}
		out += s
	}
	return out
}

// GroupCommitStats: the commands' handler's group commits during a run
// (handler.Handler.Stats, differences over the run's slices): appends
// sent, the commands and events in them, and the appends by commands in
// them (the handler's buckets: 1, 2-4, 5-16, 17-64, 65-256, 257-1000,
// named by their upper bound).
type GroupCommitStats struct {
	Batches      int64            `json:"batches"`
	Commands     int64            `json:"commands"`
	Events       int64            `json:"events"`
	Conflicts    int64            `json:"conflicts,omitempty"`
	Failures     int64            `json:"failures,omitempty"`
	MeanCommands float64          `json:"mean_commands_per_batch"`
	BySize       map[string]int64 `json:"batches_by_commands"`
}

// batchStats reads the handler's counters (zero for another sender).
func batchStats(s commandSender) handler.BatchStats {
	if h, ok := s.(*handler.Handler); ok {
		return h.Stats()
	}
	return handler.BatchStats{}
}

// add folds the counters' change from a to b in.
func (g *GroupCommitStats) add(a, b handler.BatchStats) {
	g.Batches += b.Batches - a.Batches
	g.Commands += b.Commands - a.Commands
	g.Events += b.Events - a.Events
	g.Conflicts += b.Conflicts - a.Conflicts
	g.Failures += b.Failures - a.Failures
	if g.BySize == nil {
		g.BySize = map[string]int64{}
	}
	for k, v := range b.BySize {
		if d := v - a.BySize[k]; d > 0 {
			g.BySize[fmt.Sprintf("<=%d", k)] += d
		}
	}
	if g.Batches > 0 {
		g.MeanCommands = float64(g.Commands) / float64(g.Batches)
	}
}
