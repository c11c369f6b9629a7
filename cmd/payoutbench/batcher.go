package main

import (
	"context"
	"fmt"

	"github.com/payoutledger/ledger/eventstore"
)

// batcher packs whole shop logs into atomic batches of at most
// MaxEventsPerAppend events (a log longer than that is split across
// batches, each part expecting the version the previous part leaves).
type batcher struct {
	store   eventstore.BatchAppender
	what    string           // names the phase in errors
	onFlush func(events int) // counts what was appended
	batch   []eventstore.AppendRequest
	fill    int
}

// add appends a new stream's events (from version 0), flushing as batches fill.
func (b *batcher) add(ctx context.Context, stream string, data []eventstore.EventData) error {
	for version := 0; version < len(data); {
		k := min(len(data)-version, eventstore.MaxEventsPerAppend-b.fill)
		b.batch = append(b.batch, eventstore.AppendRequest{Stream: stream,
			Expected: eventstore.ExpectedVersion(version), Events: data[version : version+k]})
		b.fill += k
		version += k
		if b.fill == eventstore.MaxEventsPerAppend {
			if err := b.flush(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush appends what is pending as one atomic batch.
func (b *batcher) flush(ctx context.Context) error {
	if b.fill == 0 {
		return nil
	}
	if _, err := b.store.AppendBatch(ctx, b.batch); err != nil {
		return fmt.Errorf("%s: append a batch of %d events: %w", b.what, b.fill, err)
	}
	if b.onFlush != nil {
		b.onFlush(b.fill)
	}
	b.batch, b.fill = nil, 0
	return nil
}
