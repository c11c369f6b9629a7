// Package projtest holds test support for projections and their stores: an
// in-memory event log that is a projections.Source (dense positions from
// 1, catch-up and live Subscribe, hash-chained like a real store) and a
// seeded random workload across the five platforms, decided by the real
// domain.
package projtest

import (
	"context"
	"fmt"
	"sync"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// Log is an append-only in-memory event log. Safe for concurrent use.
type Log struct {
	mu      sync.Mutex
	events  []eventstore.RecordedEvent // events[i].Position == i+1
	heads   map[string]eventstore.Hash
	vers    map[string]uint64
	changed chan struct{} // closed and replaced on every append
	reads   int64         // events returned by ReadAll and Subscribe
}

// NewLog returns an empty log.
func NewLog() *Log {
	return &Log{heads: map[string]eventstore.Hash{}, vers: map[string]uint64{}, changed: make(chan struct{})}
}

// Append stores domain events of one stream at the end of the log.
func (l *Log) Append(stream string, evs []domain.Event) error {
	data, err := handler.Encode(evs)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	recs := eventstore.Chain(stream, l.vers[stream], l.heads[stream], data)
	for i := range recs {
		recs[i].Position = uint64(len(l.events) + 1)
		recs[i].RecordedAt = evs[i].OccurredAt
		l.events = append(l.events, recs[i])
	}
	l.vers[stream] = recs[len(recs)-1].Version
	l.heads[stream] = recs[len(recs)-1].Hash
	close(l.changed)
	l.changed = make(chan struct{})
	return nil
}

// Len is the number of events (and the last position).
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

// Events returns a copy of every event, in position order.
func (l *Log) Events() []eventstore.RecordedEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]eventstore.RecordedEvent(nil), l.events...)
}

// Reads is the number of events handed out by ReadAll and Subscribe
// since the log was made (or ResetReads).
func (l *Log) Reads() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reads
}

// ResetReads zeroes the read counter.
func (l *Log) ResetReads() {
	l.mu.Lock()
	l.reads = 0
	l.mu.Unlock()
}

// ReadAll implements projections.Source.
func (l *Log) ReadAll(ctx context.Context, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if max <= 0 {
		max = 1000
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if from == 0 {
		from = 1
	}
	if from > uint64(len(l.events)) {
		return nil, nil
	}
	end := min(uint64(len(l.events)), from-1+uint64(max))
	out := append([]eventstore.RecordedEvent(nil), l.events[from-1:end]...)
	l.reads += int64(len(out))
	return out, nil
}

// Subscribe implements projections.Source: stored events, then live ones.
func (l *Log) Subscribe(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	if from == 0 {
		from = 1
	}
	for {
		l.mu.Lock()
		var batch []eventstore.RecordedEvent
		if from <= uint64(len(l.events)) {
			batch = append(batch, l.events[from-1:]...)
		}
		l.reads += int64(len(batch))
		wait := l.changed
		l.mu.Unlock()
		for _, r := range batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
			from = r.Position + 1
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wait:
		}
	}
}

// LastPosition implements projections.LastPositioner.
func (l *Log) LastPosition(context.Context) (uint64, error) { return uint64(l.Len()), nil }

// Streams lists the streams in the log.
func (l *Log) Streams() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.vers))
	for s := range l.vers {
		out = append(out, s)
	}
	return out
}

// String describes the log.
func (l *Log) String() string { return fmt.Sprintf("log of %d events", l.Len()) }
