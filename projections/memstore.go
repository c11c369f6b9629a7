package projections

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// MemoryStore is a ReadModelStore in memory: nothing survives the
// process. payoutctl verify rebuilds into it; tests use it as a reference.
type MemoryStore struct {
	mu     sync.Mutex
	closed bool
	insts  map[instanceKey]*memInstance
	active map[string]int
}

type instanceKey struct {
	projection string
	version    int
}

type memInstance struct {
	fingerprint string
	checkpoint  uint64
	rows        map[string]map[string]Row // table -> key string -> row
}

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{insts: map[instanceKey]*memInstance{}, active: map[string]int{}}
}

// Load implements ReadModelStore.
func (m *MemoryStore) Load(ctx context.Context, s *Schema, fn func(string, Row) error) (uint64, error) {
	if err := s.Validate(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return 0, ErrClosed
	}
	k := instanceKey{s.Projection, s.Version}
	in := m.insts[k]
	if in == nil {
		in = &memInstance{fingerprint: s.Fingerprint(), rows: map[string]map[string]Row{}}
		m.insts[k] = in
	}
	if in.fingerprint != s.Fingerprint() {
		m.mu.Unlock()
		return 0, fmt.Errorf("%w: %s v%d", ErrSchemaMismatch, s.Projection, s.Version)
	}
	type tr struct {
		table string
		row   Row
	}
	var out []tr
	for _, t := range s.Tables {
		keys := make([]string, 0, len(in.rows[t.Name]))
		for ks := range in.rows[t.Name] {
			keys = append(keys, ks)
		}
		sort.Strings(keys)
		for _, ks := range keys {
			out = append(out, tr{t.Name, CloneRow(in.rows[t.Name][ks])})
		}
	}
	cp := in.checkpoint
	m.mu.Unlock()
	for _, x := range out {
		if err := fn(x.table, x.row); err != nil {
			return 0, err
		}
	}
	return cp, nil
}

// Commit implements ReadModelStore.
func (m *MemoryStore) Commit(ctx context.Context, b Batch) error {
	if err := b.Check(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	in := m.insts[instanceKey{b.Schema.Projection, b.Schema.Version}]
	if in == nil {
		return fmt.Errorf("%w: %s v%d", ErrUnknownInstance, b.Schema.Projection, b.Schema.Version)
	}
	if in.fingerprint != b.Schema.Fingerprint() {
		return fmt.Errorf("%w: %s v%d", ErrSchemaMismatch, b.Schema.Projection, b.Schema.Version)
	}
	if in.checkpoint != b.From {
		return fmt.Errorf("%w: %s v%d is at %d, batch from %d", ErrCheckpointConflict, b.Schema.Projection, b.Schema.Version, in.checkpoint, b.From)
	}
	for _, c := range b.Changes {
		t := b.Schema.Table(c.Table)
		rows := in.rows[c.Table]
		if rows == nil {
			rows = map[string]Row{}
			in.rows[c.Table] = rows
		}
		for _, k := range c.Deletes {
			delete(rows, KeyString(k))
		}
		for _, r := range c.Upserts {
			rows[KeyString(t.KeyOf(r))] = CloneRow(r)
		}
	}
	in.checkpoint = b.To
	return nil
}

// Active implements ReadModelStore.
func (m *MemoryStore) Active(ctx context.Context, projection string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	return m.active[projection], nil
}

// Activate implements ReadModelStore.
func (m *MemoryStore) Activate(ctx context.Context, s *Schema) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.insts[instanceKey{s.Projection, s.Version}] == nil {
		return fmt.Errorf("%w: %s v%d", ErrUnknownInstance, s.Projection, s.Version)
	}
	m.active[s.Projection] = s.Version
	return nil
}

// Drop implements ReadModelStore.
func (m *MemoryStore) Drop(ctx context.Context, projection string, version int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.active[projection] == version {
		return fmt.Errorf("%w: %s v%d is active", ErrInvalidBatch, projection, version)
	}
	delete(m.insts, instanceKey{projection, version})
	return nil
}

// Close implements ReadModelStore.
func (m *MemoryStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.closed = true
	return nil
}
