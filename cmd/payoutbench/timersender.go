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
	s       commandSender
	retries int // bound; the timers package retries at every tick, forever
}

func (t timerSender) Handle(ctx context.Context, cmd domain.Command, meta handler.Meta) (handler.Result, error) {
	for attempt := 0; ; attempt++ {
		res, err := t.s.Handle(ctx, cmd, meta)
		if !errors.Is(err, handler.ErrConflict) || attempt >= t.retries {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * time.Millisecond):
		}
	}
}
