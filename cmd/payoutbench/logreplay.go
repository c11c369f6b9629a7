package main

import (
	"context"
	"fmt"
	"time"

	"github.com/payoutledger/ledger/projections"
)

// Kinds of the whole-log reads at the end of a sync mode's runs.
const (
	kindLogOrdered = "log.ordered"       // raw nats.go ordered consumer over the store's client port
	kindLogReplay  = "log.replay_memory" // every projection from position 0 into a memory store
)

// replayWholeLog reads the whole log the mode's runs left (set-up and
// every run) once with a raw ordered consumer and once replays it into
// all six projections, and compares the two: make bench's replay figure.
// make bench-replay measures the same on a 1M-event log, with every store.
func (m *mode) replayWholeLog(ctx context.Context, rep *Report, p *printer) error {
	head, err := projections.HeadPosition(ctx, m.store, 0)
	if err != nil {
		return err
	}
	var results []Result
	measure := func(kind string, fn func() (int64, error)) error {
		load := loadAvg1()
		cpu0, start := processCPU(), time.Now()
		n, err := fn()
		elapsed, cpu := time.Since(start), processCPU()-cpu0
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		if uint64(n) != head {
			return fmt.Errorf("%s: %d events, the log has %d", kind, n, head)
		}
		r := Result{Kind: kind, Sync: m.sync, Clients: 1, Seconds: elapsed.Seconds(), Slices: 1, Attempted: n, OK: n, Events: n,
			Load1: load, CPUSeconds: cpu.Seconds()}
		r.OKPerSec = float64(n) / max(r.Seconds, 1e-9)
		r.EventsPerSec = r.OKPerSec
		r.CPUPerOKMicros = float64(cpu.Microseconds()) / float64(max(n, 1))
		results = append(results, r)
		rep.Results = append(rep.Results, r)
		return nil
	}
	if err := measure(kindLogOrdered, func() (int64, error) { return readOrdered(ctx, m.ledgerConn, head) }); err != nil {
		return err
	}
	if err := measure(kindLogReplay, func() (int64, error) { return replayInto(ctx, m.store, "memory", head, m.o.Data) }); err != nil {
		return err
	}
	ordered, replay := results[0], results[1]
	rep.addComparison(m.sync, 1, replay, ordered)
	fmt.Fprintf(p.w, "\nwhole log after the runs (%d events): raw ordered consumer (client port) %.0f events/s; replay into all six projections (memory store) %.0f events/s, %.1f µs CPU/event; ratio %.2f (make bench-replay: 1M events, every store)\n",
		head, ordered.EventsPerSec, replay.EventsPerSec, replay.CPUPerOKMicros, replay.EventsPerSec/ordered.EventsPerSec)
	return nil
}
