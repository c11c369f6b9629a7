package integrity

import (
	"context"
	"errors"
	"time"

	"github.com/payoutledger/ledger/eventstore"
)

// readRetries is how many times in a row a read that timed out is tried
// again before the check gives up. A store's own per-request timeout can
// expire while a cluster elects a leader or a restarted node catches up;
// an audit that fails on that is one the operator has to run again.
const readRetries = 5

// retryBackoff is the first pause before a retry (a variable for tests).
var retryBackoff = 200 * time.Millisecond

// patientStore retries the reads a check makes when the store's own
// timeout expired and the caller's context did not: reads change nothing,
// so trying again is always safe. Anything else is returned as is.
type patientStore struct {
	eventstore.Store
	backoff time.Duration // the first pause; doubled after each retry
}

func patient[T any](ctx context.Context, backoff time.Duration, read func() (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		v, err := read()
		if err == nil || attempt == readRetries || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(backoff << attempt):
		}
	}
}

func (s patientStore) ReadAll(ctx context.Context, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	return patient(ctx, s.backoff, func() ([]eventstore.RecordedEvent, error) { return s.Store.ReadAll(ctx, from, max) })
}

func (s patientStore) ReadStream(ctx context.Context, stream string, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	return patient(ctx, s.backoff, func() ([]eventstore.RecordedEvent, error) { return s.Store.ReadStream(ctx, stream, from, max) })
}

type head struct {
	version uint64
	hash    eventstore.Hash
}

func (s patientStore) Head(ctx context.Context, stream string) (uint64, eventstore.Hash, error) {
	h, err := patient(ctx, s.backoff, func() (head, error) {
		v, hash, err := s.Store.Head(ctx, stream)
		return head{v, hash}, err
	})
	return h.version, h.hash, err
}
