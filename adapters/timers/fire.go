package timers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// Actor is who every timer command is sent by.
var Actor = domain.Actor{ID: "timer", Role: domain.RoleSystem}

// ErrRetry wraps the failures FireDue kept timers for (conflicts, store
// errors, a handler clock behind the scheduler's): they are tried again
// at a later tick.
var ErrRetry = errors.New("timers: due timers kept for a retry")

// subject is a payout or card: its timers fire in due order, so a later
// one is never tried while an earlier one waits for a retry.
type subject struct{ stream, id string }

// FireDue fires every timer due at Clock(), in due-time order (at most
// MaxPerTick of them), and returns how many appended their command's
// events. A timer answered from an earlier firing (another scheduler, a
// previous run) or made moot by the state is dropped and not counted. A
// timer whose command failed for a transient reason is kept for a later
// attempt, and the error returned wraps ErrRetry and the first such
// failure; ctx's error is returned when ctx is done (the timers not tried
// stay pending).
func (s *Scheduler) FireDue(ctx context.Context) (int, error) {
	s.fireMu.Lock()
	defer s.fireMu.Unlock()
	now := s.cfg.Clock()
	s.mu.Lock()
	batch := s.set.takeDue(now, s.cfg.MaxPerTick)
	s.mu.Unlock()

	fired := 0
	var firstErr error
	held := map[subject]time.Time{} // subjects with a timer waiting for a retry
	for i, e := range batch {
		if ctx.Err() != nil {
			s.mu.Lock()
			for _, rest := range batch[i:] {
				s.set.keep(rest, rest.NextAttempt)
			}
			s.mu.Unlock()
			return fired, ctx.Err()
		}
		subj := subject{e.Stream, e.ID}
		s.mu.Lock()
		current := s.set.current(e)
		until, isHeld := held[subj]
		if current && isHeld {
			s.set.keep(e, until)
		}
		s.mu.Unlock()
		if !current || isHeld {
			// Ended or replaced by an event read since the batch was
			// taken, or waiting behind its subject's earlier timer.
			continue
		}
		outcome, err := s.fire(ctx, e.Timer)
		s.mu.Lock()
		switch outcome {
		case OutcomeFired, OutcomeReplayed, OutcomeMoot, OutcomeRejected:
			s.set.done(e)
		default: // OutcomeRetry, OutcomeEarly
			e.Attempts++
			next := now.Add(s.backoff(e.Attempts))
			s.set.keep(e, next)
			held[subj] = next
			if firstErr == nil {
				firstErr = fmt.Errorf("%w: %s %s %s: %w", ErrRetry, e.Kind, e.Stream, e.ID, err)
			}
		}
		s.mu.Unlock()
		if outcome == OutcomeFired {
			fired++
		}
		s.observe(string(e.Kind), outcome)
	}
	return fired, firstErr
}

// fire sends one timer's command and classifies the answer.
func (s *Scheduler) fire(ctx context.Context, t Timer) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.FireTimeout)
	defer cancel()
	cmd := t.Command()
	log := s.log.With("kind", t.Kind, "stream", t.Stream, "id", t.ID, "due", t.Due, "command", cmd.CommandName())
	res, err := s.cfg.Commands.Handle(ctx, cmd, handler.Meta{
		Actor: Actor, IdempotencyKey: t.IdempotencyKey(), CausationID: t.Cause,
	})
	code := domain.CodeOf(err)
	switch {
	case err == nil && res.Replayed:
		log.Debug("timer already fired")
		return OutcomeReplayed, nil
	case err == nil:
		log.Info("timer fired", "version", res.Version, "attempts", t.Attempts+1)
		return OutcomeFired, nil
	case code == domain.CodeIllegalTransition:
		// The state moved on (the buyer confirmed, the card was paid): the
		// timer has nothing left to end.
		log.Debug("timer moot", "reason", err)
		return OutcomeMoot, nil
	case code != "" && code == t.earlyCode():
		log.Warn("timer refused as early: the handler's clock is behind; retrying", "err", err, "attempts", t.Attempts+1)
		return OutcomeEarly, err
	case code != "":
		// A refusal the timer cannot outwait (a bug or a profile change):
		// retrying would only repeat it.
		log.Error("timer command rejected; timer dropped", "code", code, "err", err)
		return OutcomeRejected, nil
	default:
		// handler.ErrConflict, store errors, a timeout: keep the timer.
		log.Warn("timer command failed; retrying", "err", err, "attempts", t.Attempts+1)
		return OutcomeRetry, err
	}
}
