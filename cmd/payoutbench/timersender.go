package main

import (
	"context"
	"errors"
	"time"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// timerSender sends the timers' commands as adapters/timers does: a
// command that lost the race for its shop's stream (handler.ErrConflict:
// another process kept appending to that shop) is kept and sent again,
// never dropped. The benchmark's timers run as a separate handler (a
// second process's view of the same store), so on hot shops they meet the
// commands' group-commit batches; payoutd's own timers share its handler
// and do not.
type timerSender struct {
	s commandSender
}

func (t timerSender) Handle(ctx context.Context, cmd domain.Command, meta handler.Meta) (handler.Result, error) {
	for attempt := 0; ; attempt++ {
		res, err := t.s.Handle(ctx, cmd, meta)
		// Like the timers package, which keeps the timer and tries again
		// at its next tick for as long as it runs: the time it takes shows
		// in the command's latency.
		if !errors.Is(err, handler.ErrConflict) {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, err
		case <-time.After(time.Duration(min(attempt+1, 10)) * time.Millisecond):
		}
	}
}
