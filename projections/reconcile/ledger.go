package reconcile

import (
	"context"
	"fmt"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// ReadPageSize is how many events ReadLedger asks the store for at a time.
const ReadPageSize = 1000

// LedgerOptions tune ReadLedger.
type LedgerOptions struct {
	// Progress, if set, is called after every page with the number of
	// events read so far.
	Progress func(events int)
}

// LedgerStats describes the replay behind a ReadLedger answer.
type LedgerStats struct {
	Events  int // events read
	Streams int // streams whose hash chain was verified
}

// ReadLedger replays the whole event log from position 0 and returns every
// payout that succeeded (PayoutSucceeded, or PayoutConfirmedByBuyer on the
// confirmation route), in log order.
//
// Every stream's hash chain is verified on the way: reconciling against
// an altered log would be a false assurance. Errors: a *eventstore.ChainError
// (errors.Is eventstore.ErrChainBroken) for a tampered, removed or
// reordered event, a *domain.DecodeError (wrapped, with the event's stream
// and version) for a body that cannot be read, or the store's error.
//
// A payout is reported once per shop even if the log somehow holds two
// success events for it (the first one counts).
func ReadLedger(ctx context.Context, store eventstore.Store, opt LedgerOptions) ([]LedgerPayout, LedgerStats, error) {
	var (
		out      []LedgerPayout
		stats    LedgerStats
		from     uint64
		chains   = map[string]*eventstore.ChainVerifier{}
		seen     = map[[2]string]bool{}
		relevant = map[string]bool{"PayoutSucceeded": true, "PayoutConfirmedByBuyer": true}
	)
	for {
		recs, err := store.ReadAll(ctx, from, ReadPageSize)
		if err != nil {
			return nil, stats, fmt.Errorf("read the event log from position %d: %w", from, err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			v := chains[r.Stream]
			if v == nil {
				v = &eventstore.ChainVerifier{Stream: r.Stream}
				chains[r.Stream] = v
			}
			if err := v.Check(r); err != nil {
				return nil, stats, err
			}
			stats.Events++
			from = r.Position + 1
			if !relevant[r.Type] {
				continue
			}
			ev, err := handler.Decode(r)
			if err != nil {
				return nil, stats, fmt.Errorf("event %s version %d (position %d): %w", r.Stream, r.Version, r.Position, err)
			}
			var p LedgerPayout
			switch d := ev.Data.(type) {
			case domain.PayoutSucceeded:
				p = LedgerPayout{PayoutID: d.PayoutID, Amount: d.Amount}
			case domain.PayoutConfirmedByBuyer:
				p = LedgerPayout{PayoutID: d.PayoutID, Amount: d.Amount}
			default:
				continue
			}
			key := [2]string{r.Stream, p.PayoutID}
			if seen[key] {
				continue
			}
			seen[key] = true
			p.Stream, p.At, p.Position, p.Event = r.Stream, ev.OccurredAt, r.Position, r.Type
			out = append(out, p)
		}
		if opt.Progress != nil {
			opt.Progress(stats.Events)
		}
	}
	stats.Streams = len(chains)
	return out, stats, nil
}
