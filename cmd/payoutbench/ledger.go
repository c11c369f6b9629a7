package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// ledgerRun drives InitiatePayout through the handler.
type ledgerRun struct {
	h      *handler.Handler
	w      *workload
	seed   uint64
	slices uint64 // slices run so far: seeds each client's generator
	// samples: per platform, the global position of one stored
	// single-event PayoutInitiated: the raw baseline copies its headers
	// and body.
	samples map[domain.PlatformID]*atomic.Uint64
}

func newLedgerRun(h *handler.Handler, w *workload, seed uint64) *ledgerRun {
	l := &ledgerRun{h: h, w: w, seed: seed, samples: map[domain.PlatformID]*atomic.Uint64{}}
	for _, s := range w.shops {
		if l.samples[s.ref.Platform] == nil {
			l.samples[s.ref.Platform] = new(atomic.Uint64)
		}
	}
	return l
}

// samplePositions returns the sampled positions of the platforms that
// have one so far.
func (l *ledgerRun) samplePositions() map[domain.PlatformID]uint64 {
	out := map[domain.PlatformID]uint64{}
	for p, a := range l.samples {
		if pos := a.Load(); pos != 0 {
			out[p] = pos
		}
	}
	return out
}

// slice runs clients clients sending InitiatePayout until b; maxSamples
// bounds the latencies it keeps.
func (l *ledgerRun) slice(ctx context.Context, clients int, b bound, maxSamples int) slice {
	g, stop := startGate(ctx, b)
	defer stop()
	tallies := make([]*tally, clients)
	recs := make([]*recorder, clients)
	skipped0 := l.w.skipped.Load()
	l.slices++
	n := l.slices
	elapsed, cpu := runClients(clients, func(i int) {
		t, rec := newTally(), newRecorder(maxSamples/clients, l.seed+n<<32+uint64(i))
		tallies[i], recs[i] = t, rec
		rng := rand.New(rand.NewPCG(l.seed, n<<32|uint64(i)))
		for g.next() {
			p, ok := l.w.pick(rng, time.Now())
			if !ok {
				// No order is ready anywhere (a Douyin-only mix whose
				// orders all wait out their minute): wait, do not spin.
				g.giveBack()
				time.Sleep(10 * time.Millisecond)
				continue
			}
			start := time.Now()
			res, err := l.h.Handle(ctx, p.cmd, handler.Meta{Actor: admin, IdempotencyKey: p.key})
			end := time.Now()
			p.done(end)
			var rej *domain.Rejection
			switch {
			case err == nil:
				t.ok++
				t.events += int64(len(res.Events))
				if len(res.Events) > 1 {
					t.multi++
				}
				t.byPlatform[string(p.cmd.Platform)]++
				rec.add(end.Sub(start))
				if len(res.Events) == 1 && res.Events[0].Type == "PayoutInitiated" && res.Events[0].Position != 0 {
					l.samples[p.cmd.Platform].CompareAndSwap(0, res.Events[0].Position)
				}
			case errors.As(err, &rej):
				t.rejections[rej.Code]++
			default:
				t.errs[errorClass(err)]++
			}
		}
	})
	return slice{tallies: tallies, recs: recs, elapsed: elapsed, cpu: cpu, skipped: l.w.skipped.Load() - skipped0}
}
