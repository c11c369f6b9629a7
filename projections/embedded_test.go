package projections_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/payoutledger/ledger/projections"
	"github.com/payoutledger/ledger/projections/storetest"
)

func TestEmbeddedStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dir := t.TempDir()
		return func() projections.ReadModelStore {
			s, err := projections.OpenEmbedded(dir)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

func TestMemoryStoreConformanceOfTheContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		s := projections.NewMemoryStore()
		return func() projections.ReadModelStore { return newHandle(s) }
	})
}

// reopenable lets the suite "restart" a memory store: each open is a new
// handle on the same data (as a restarted process sees its files); closing
// a handle closes only that handle.
type reopenable struct {
	*projections.MemoryStore
	closed *atomic.Bool
}

func newHandle(m *projections.MemoryStore) reopenable { return reopenable{m, new(atomic.Bool)} }

func (h reopenable) err() error {
	if h.closed.Load() {
		return projections.ErrClosed
	}
	return nil
}

func (h reopenable) Load(ctx context.Context, s *projections.Schema, fn func(string, projections.Row) error) (uint64, error) {
	if err := h.err(); err != nil {
		return 0, err
	}
	return h.MemoryStore.Load(ctx, s, fn)
}

func (h reopenable) Commit(ctx context.Context, b projections.Batch) error {
	if err := h.err(); err != nil {
		return err
	}
	return h.MemoryStore.Commit(ctx, b)
}

func (h reopenable) Active(ctx context.Context, p string) (int, error) {
	if err := h.err(); err != nil {
		return 0, err
	}
	return h.MemoryStore.Active(ctx, p)
}

func (h reopenable) Activate(ctx context.Context, s *projections.Schema) error {
	if err := h.err(); err != nil {
		return err
	}
	return h.MemoryStore.Activate(ctx, s)
}

func (h reopenable) Drop(ctx context.Context, p string, v int) error {
	if err := h.err(); err != nil {
		return err
	}
	return h.MemoryStore.Drop(ctx, p, v)
}

func (h reopenable) Close() error {
	if h.closed.Swap(true) {
		return projections.ErrClosed
	}
	return nil
}
