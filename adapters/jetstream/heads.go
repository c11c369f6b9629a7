package jetstream

import (
	"sync"

	"github.com/payoutledger/ledger/eventstore"
)

// head is where a ledger stream ends: its version, the JetStream sequence
// of its last event (what Nats-Expected-Last-Subject-Sequence compares) and
// its chain head. The zero head is a stream with no events.
type head struct {
	version uint64
	seq     uint64
	hash    eventstore.Hash
}

// headCache remembers heads this process has seen, so that an append does
// not first read the stream's last message. It may lag behind the server
// (another process appended) but never runs ahead of it: it is filled only
// from acknowledged appends and from reads. A stale entry costs one refused
// publish and a reload, never a wrong write, because the server checks the
// expected sequence.
type headCache struct {
	mu  sync.Mutex
	m   map[string]head
	max int
}

func newHeadCache(max int) *headCache {
	return &headCache{m: make(map[string]head), max: max}
}

func (c *headCache) get(stream string) (head, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.m[stream]
	return h, ok
}

// put records h unless the cache already knows a later head: concurrent
// appends and reads may report in any order, versions only grow.
func (c *headCache) put(stream string, h head) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[stream]; ok && old.version >= h.version {
		return
	}
	if len(c.m) >= c.max {
		// Evict an arbitrary entry: a miss costs one direct get.
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[stream] = h
}

// forget drops a stream's entry after the server refused it as stale.
func (c *headCache) forget(stream string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, stream)
}
