package esdb

import (
	"container/list"
	"sync"

	"github.com/payoutledger/ledger/eventstore"
)

// DefaultHeadCacheSize bounds the stream heads kept in memory: 10,000
// heads is about 1 MB and covers the shops active at once in one process.
const DefaultHeadCacheSize = 10_000

// head is a stream's version (events it holds) and the hash of its last
// event: what eventstore.Chain needs to chain the next append.
type head struct {
	version uint64
	hash    eventstore.Hash
}

// headCache is a bounded LRU of stream heads. It is a hint, never the
// truth: an append that relies on it is still checked by EventStoreDB's
// expected revision, and a conflict drops the entry. A version's hash never
// changes (streams are append-only), so an entry can be stale only by being
// behind, and put never moves an entry backwards.
type headCache struct {
	mu  sync.Mutex
	max int
	ll  *list.List // front = most recently used; values are *headEntry
	m   map[string]*list.Element
}

type headEntry struct {
	stream string
	head   head
}

func newHeadCache(max int) *headCache {
	if max <= 0 {
		max = DefaultHeadCacheSize
	}
	return &headCache{max: max, ll: list.New(), m: make(map[string]*list.Element)}
}

func (c *headCache) get(stream string) (head, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[stream]
	if !ok {
		return head{}, false
	}
	c.ll.MoveToFront(el)
	return el.Value.(*headEntry).head, true
}

// put records h unless the cache already holds a later head of the stream
// (a concurrent append finished first).
func (c *headCache) put(stream string, h head) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[stream]; ok {
		e := el.Value.(*headEntry)
		if h.version >= e.head.version {
			e.head = h
		}
		c.ll.MoveToFront(el)
		return
	}
	c.m[stream] = c.ll.PushFront(&headEntry{stream: stream, head: h})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.m, last.Value.(*headEntry).stream)
	}
}

func (c *headCache) drop(stream string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[stream]; ok {
		c.ll.Remove(el)
		delete(c.m, stream)
	}
}

func (c *headCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
