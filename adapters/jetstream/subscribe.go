package jetstream

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/payoutledger/ledger/eventstore"
)

// Subscribe delivers every event from fromPosition in global order, stored
// ones first, then live ones, through a JetStream ordered consumer (an
// ephemeral consumer that the client recreates from the last delivered
// sequence if it ever sees a gap, so nothing is skipped or repeated). fn is
// called from the calling goroutine only.
//
// Positions are dense (see ReadAll): an event delivered after a position
// the server skipped (a damaged message, which an ordered consumer passes
// over like any reader) ends the subscription with a *GapError before fn
// sees it, so that a projection never applies past a missing event.
//
// Errors: ctx's error when ctx is done, fn's error as is, a *GapError
// (wrapping ErrDamaged and eventstore.ErrChainBroken),
// eventstore.ErrClosed when the store is closed, ErrMalformed, or a
// JetStream error creating the consumer.
func (s *Store) Subscribe(ctx context.Context, fromPosition uint64, fn func(eventstore.RecordedEvent) error) error {
	if err := s.check(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()

	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{s.subj.all()},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if fromPosition > 1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, fromPosition
	}
	setup, cancelSetup := s.withTimeout(ctx)
	defer cancelSetup()
	cons, err := s.stream.OrderedConsumer(setup, cfg)
	if err != nil {
		return s.subscribeErr(ctx, fmt.Errorf("jetstream: subscribe: %w", err))
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(pullBatch),
		jetstream.PullExpiry(subscribeExpiry), jetstream.PullHeartbeat(subscribeHeartbeat))
	if err != nil {
		return s.subscribeErr(ctx, fmt.Errorf("jetstream: subscribe: %w", err))
	}
	defer it.Stop()
	next := max(fromPosition, 1) // the position the next event must have
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return s.subscribeErr(ctx, fmt.Errorf("jetstream: subscribe: %w", err))
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("jetstream: subscribe: %w", err)
		}
		seq := md.Sequence.Stream
		if seq > next {
			return &GapError{From: next, To: seq - 1}
		}
		r, err := Decode(m.Subject(), seq, m.Headers(), m.Data())
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
		// A position at or below one delivered (never seen from an ordered
		// consumer) is passed on: the caller skips redeliveries.
		next = max(next, seq+1)
	}
}

// An ordered consumer notices a pull request that was lost (its consumer
// not ready yet on a cluster that just elected a leader, a route that
// dropped it) only when two heartbeats are missed, and then recreates
// itself from the last delivered position. nats.go's default heartbeat for
// ordered consumers is 5 s, so a live projection could stand still for 10 s
// (an R3 conformance run in CI did); with these, for about 2 s. An idle
// subscriber costs the server one heartbeat a second and one pull request
// every 5 s.
const (
	subscribeExpiry    = 5 * time.Second
	subscribeHeartbeat = time.Second
)

// subscribeErr prefers the reason Subscribe was stopped over the error it
// caused.
func (s *Store) subscribeErr(ctx context.Context, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("%w: %w", eventstore.ErrClosed, err)
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}
