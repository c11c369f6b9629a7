package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// follower reads the ledger's events from NATS the way a downstream
// consumer does (docs/subjects.md): a JetStream ordered consumer on
// ledger.>, every message decoded with jetstream.Decode. The demo learns
// from it which timers fired when the clock moved.
type follower struct {
	nc   *nats.Conn
	msgs njs.MessagesContext

	mu      sync.Mutex
	events  []seenEvent
	last    uint64        // stream sequence (global position) of the last message
	changed chan struct{} // closed and replaced on every message
	err     error         // why following stopped
	done    chan struct{}
}

// seenEvent is one event as the consumer saw it.
type seenEvent struct {
	Position uint64
	Subject  string
	Event    domain.Event
}

func follow(ctx context.Context, url string) (*follower, error) {
	nc, err := nats.Connect(url, nats.Name("payoutdemo"))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", url, err)
	}
	js, err := njs.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	setup, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(setup, jetstream.DefaultStreamName, njs.OrderedConsumerConfig{
		FilterSubjects: []string{jetstream.DefaultSubjectPrefix + ".>"}, DeliverPolicy: njs.DeliverAllPolicy,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("consumer on %s: %w", jetstream.DefaultStreamName, err)
	}
	msgs, err := cons.Messages()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("consumer on %s: %w", jetstream.DefaultStreamName, err)
	}
	f := &follower{nc: nc, msgs: msgs, changed: make(chan struct{}), done: make(chan struct{})}
	go f.loop()
	return f, nil
}

func (f *follower) loop() {
	defer close(f.done)
	for {
		m, err := f.msgs.Next()
		if err != nil {
			f.stop(err)
			return
		}
		md, err := m.Metadata()
		if err != nil {
			f.stop(err)
			return
		}
		rec, err := jetstream.Decode(m.Subject(), md.Sequence.Stream, m.Headers(), m.Data())
		if err != nil {
			f.stop(fmt.Errorf("message %d on %s: %w", md.Sequence.Stream, m.Subject(), err))
			return
		}
		ev, err := handler.Decode(rec)
		if err != nil {
			f.stop(fmt.Errorf("event at %d: %w", rec.Position, err))
			return
		}
		f.mu.Lock()
		f.events = append(f.events, seenEvent{Position: rec.Position, Subject: m.Subject(), Event: ev})
		f.last = rec.Position
		close(f.changed)
		f.changed = make(chan struct{})
		f.mu.Unlock()
	}
}

func (f *follower) stop(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

// Close stops following.
func (f *follower) Close() {
	f.msgs.Stop()
	<-f.done
	f.nc.Close()
}

// waitFor waits until ok holds for the events seen so far (ok is called
// under the follower's lock, with every event in position order) or the
// timeout passes.
func (f *follower) waitFor(ctx context.Context, timeout time.Duration, ok func([]seenEvent) bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		if ok(f.events) {
			f.mu.Unlock()
			return nil
		}
		ch, err := f.changed, f.err
		f.mu.Unlock()
		if err != nil {
			return fmt.Errorf("following the events on NATS stopped: %w", err)
		}
		select {
		case <-ch:
		case <-deadline.C:
			return fmt.Errorf("not seen on NATS within %s", timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// since returns a copy of the events after position from.
func (f *follower) since(from uint64) []seenEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []seenEvent
	for _, e := range f.events {
		if e.Position > from {
			out = append(out, e)
		}
	}
	return out
}

// position is the position of the last event seen.
func (f *follower) position() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}
