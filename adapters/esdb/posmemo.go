package esdb

import "sync"

// posMemoSize bounds the remembered positions (32 KiB of memory).
const posMemoSize = 4096

// posMemo remembers the last positions the store handed out (appended or
// read events). ReadAll(p) usually gets p = a handed-out position + 1; when
// the memo knows p-1 the read starts there at once, instead of first
// asking the server for p and being refused (p is inside a record).
type posMemo struct {
	mu   sync.Mutex
	set  map[uint64]struct{}
	ring [posMemoSize]uint64
	next int
}

func newPosMemo() *posMemo { return &posMemo{set: make(map[uint64]struct{}, posMemoSize)} }

func (m *posMemo) add(p uint64) {
	if p == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.set[p]; ok {
		return
	}
	if old := m.ring[m.next]; old != 0 {
		delete(m.set, old)
	}
	m.ring[m.next] = p
	m.set[p] = struct{}{}
	m.next = (m.next + 1) % posMemoSize
}

func (m *posMemo) has(p uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.set[p]
	return ok
}
