package esdb

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/eventstore"
)

func TestHeadCacheIsBoundedLRUAndNeverGoesBack(t *testing.T) {
	c := newHeadCache(3)
	h := func(v uint64) head { return head{version: v, hash: eventstore.Hash{byte(v)}} }
	c.put("a", h(1))
	c.put("b", h(1))
	c.put("c", h(1))
	_, _ = c.get("a") // a is now the most recently used
	c.put("d", h(1))  // evicts b
	require.Equal(t, 3, c.len())
	_, ok := c.get("b")
	require.False(t, ok, "least recently used is evicted")
	for _, s := range []string{"a", "c", "d"} {
		_, ok := c.get(s)
		require.True(t, ok, s)
	}
	c.put("a", h(5))
	c.put("a", h(3)) // a slower append finishing late must not move it back
	got, _ := c.get("a")
	require.Equal(t, h(5), got)
	c.drop("a")
	_, ok = c.get("a")
	require.False(t, ok)
	require.Equal(t, DefaultHeadCacheSize, newHeadCache(0).max)
}

func TestPosMemoForgetsOldest(t *testing.T) {
	m := newPosMemo()
	m.add(0) // 0 is "unknown", never remembered
	require.False(t, m.has(0))
	for p := uint64(1); p <= posMemoSize+10; p++ {
		m.add(p)
		m.add(p) // repeats take no room
	}
	for p := uint64(1); p <= 10; p++ {
		require.False(t, m.has(p), fmt.Sprint(p))
	}
	for p := uint64(11); p <= posMemoSize+10; p++ {
		require.True(t, m.has(p), fmt.Sprint(p))
	}
	require.Len(t, m.set, posMemoSize)
}
