package storetest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/storetest"
)

// memStore is the simplest correct Store: one mutex, one slice. It exists to
// test the suite itself (a suite that a correct store fails is wrong) and as
// a reference model.
type memStore struct {
	mu      sync.Mutex
	changed *sync.Cond
	log     []eventstore.RecordedEvent
	streams map[string][]int // indexes into log
	closed  bool
}

func newMemStore() *memStore {
	m := &memStore{streams: map[string][]int{}}
	m.changed = sync.NewCond(&m.mu)
	return m
}

func (m *memStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (eventstore.AppendResult, error) {
	res, err := m.AppendBatch(ctx, []eventstore.AppendRequest{{Stream: stream, Expected: expected, Events: events}})
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return res[0], nil
}

func (m *memStore) AppendBatch(_ context.Context, reqs []eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, eventstore.ErrClosed
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("%w: empty batch", eventstore.ErrInvalidAppend)
	}
	seen := map[[16]byte]bool{}
	for _, r := range reqs {
		if err := eventstore.ValidateAppend(r.Stream, r.Expected, r.Events); err != nil {
			return nil, err
		}
		for _, e := range r.Events {
			if seen[e.ID] {
				return nil, fmt.Errorf("%w: duplicate ID", eventstore.ErrInvalidAppend)
			}
			seen[e.ID] = true
		}
	}
	if len(reqs) == 1 {
		if res, ok := m.idempotent(reqs[0]); ok {
			return []eventstore.AppendResult{res}, nil
		}
	}
	// Check every expectation against the state the earlier requests produce.
	pending := map[string]uint64{}
	for _, r := range reqs {
		v, ok := pending[r.Stream]
		if !ok {
			v = uint64(len(m.streams[r.Stream]))
		}
		if r.Expected != eventstore.Any && uint64(r.Expected) != v {
			return nil, eventstore.ErrWrongExpectedVersion
		}
		pending[r.Stream] = v + uint64(len(r.Events))
	}
	out := make([]eventstore.AppendResult, len(reqs))
	now := time.Now()
	for i, r := range reqs {
		idx := m.streams[r.Stream]
		var head eventstore.Hash
		if len(idx) > 0 {
			head = m.log[idx[len(idx)-1]].Hash
		}
		for _, rec := range eventstore.Chain(r.Stream, uint64(len(idx)), head, r.Events) {
			rec.Position = uint64(len(m.log)) + 1
			rec.RecordedAt = now
			m.log = append(m.log, rec)
			m.streams[r.Stream] = append(m.streams[r.Stream], len(m.log)-1)
		}
		last := m.log[len(m.log)-1]
		out[i] = eventstore.AppendResult{Stream: r.Stream, FirstVersion: last.Version - uint64(len(r.Events)) + 1, LastVersion: last.Version, LastPosition: last.Position, LastHash: last.Hash}
	}
	m.changed.Broadcast()
	return out, nil
}

func (m *memStore) idempotent(r eventstore.AppendRequest) (eventstore.AppendResult, bool) {
	if r.Expected == eventstore.Any {
		return eventstore.AppendResult{}, false
	}
	idx := m.streams[r.Stream]
	from := int(r.Expected)
	if len(idx) < from+len(r.Events) {
		return eventstore.AppendResult{}, false
	}
	for i, e := range r.Events {
		if m.log[idx[from+i]].ID != e.ID {
			return eventstore.AppendResult{}, false
		}
	}
	last := m.log[idx[from+len(r.Events)-1]]
	return eventstore.AppendResult{Stream: r.Stream, FirstVersion: uint64(from) + 1, LastVersion: last.Version, LastPosition: last.Position, LastHash: last.Hash}, true
}

func (m *memStore) ReadStream(_ context.Context, stream string, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, eventstore.ErrClosed
	}
	idx := m.streams[stream]
	if len(idx) == 0 {
		return nil, eventstore.ErrStreamNotFound
	}
	if from == 0 {
		from = 1
	}
	if max <= 0 {
		max = 100
	}
	var out []eventstore.RecordedEvent
	for v := from; v <= uint64(len(idx)) && len(out) < max; v++ {
		out = append(out, m.log[idx[v-1]])
	}
	return out, nil
}

func (m *memStore) ReadAll(_ context.Context, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, eventstore.ErrClosed
	}
	if from == 0 {
		from = 1
	}
	if max <= 0 {
		max = 100
	}
	var out []eventstore.RecordedEvent
	for p := from; p <= uint64(len(m.log)) && len(out) < max; p++ {
		out = append(out, m.log[p-1])
	}
	return out, nil
}

func (m *memStore) Subscribe(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	stop := context.AfterFunc(ctx, func() {
		m.mu.Lock()
		m.changed.Broadcast()
		m.mu.Unlock()
	})
	defer stop()
	if from == 0 {
		from = 1
	}
	for {
		m.mu.Lock()
		for !m.closed && ctx.Err() == nil && from > uint64(len(m.log)) {
			m.changed.Wait()
		}
		if m.closed {
			m.mu.Unlock()
			return eventstore.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			m.mu.Unlock()
			return err
		}
		e := m.log[from-1]
		m.mu.Unlock()
		if err := fn(e); err != nil {
			return err
		}
		from++
	}
}

func (m *memStore) Head(_ context.Context, stream string) (uint64, eventstore.Hash, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, eventstore.Hash{}, eventstore.ErrClosed
	}
	idx := m.streams[stream]
	if len(idx) == 0 {
		return 0, eventstore.Hash{}, nil
	}
	last := m.log[idx[len(idx)-1]]
	return last.Version, last.Hash, nil
}

func (m *memStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return eventstore.ErrClosed
	}
	m.closed = true
	m.changed.Broadcast()
	return nil
}

func TestSuiteAgainstReferenceStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		s := newMemStore()
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
