package eventstore_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/eventstore"
)

func chainEvents(n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = eventstore.EventData{
			ID:            uuid.Must(uuid.NewV7()),
			Type:          "PayoutInitiated",
			SchemaVersion: 1,
			Data:          []byte(`{"amount":"12.50","n":` + string(rune('0'+i)) + `}`),
		}
	}
	return out
}

// verify runs a fresh verifier over events and returns the first error.
func verify(stream string, events []eventstore.RecordedEvent) error {
	v := eventstore.ChainVerifier{Stream: stream}
	for _, e := range events {
		if err := v.Check(e); err != nil {
			return err
		}
	}
	return nil
}

func requireBroken(t *testing.T, err error, atVersion uint64) {
	t.Helper()
	require.Error(t, err)
	require.True(t, errors.Is(err, eventstore.ErrChainBroken), "want ErrChainBroken, got %v", err)
	var ce *eventstore.ChainError
	require.True(t, errors.As(err, &ce), "want *ChainError, got %T", err)
	require.Equal(t, atVersion, ce.Version, "break reported at the wrong version: %v", err)
}

func TestChainLinksEveryEventToItsPredecessor(t *testing.T) {
	const stream = "douyin.S1001"
	recs := eventstore.Chain(stream, 0, eventstore.Hash{}, chainEvents(5))
	require.Len(t, recs, 5)
	require.True(t, recs[0].PrevHash.IsZero(), "version 1 follows the zero hash")
	for i, r := range recs {
		require.Equal(t, uint64(i+1), r.Version)
		require.Equal(t, stream, r.Stream)
		require.Equal(t, eventstore.ChainHash(r.PrevHash, stream, r.Version, r.EventData), r.Hash)
		require.False(t, r.Hash.IsZero())
		if i > 0 {
			require.Equal(t, recs[i-1].Hash, r.PrevHash)
		}
	}
	require.NoError(t, verify(stream, recs))

	v := eventstore.ChainVerifier{Stream: stream}
	for _, r := range recs {
		require.NoError(t, v.Check(r))
	}
	ver, head := v.Head()
	require.Equal(t, uint64(5), ver)
	require.Equal(t, recs[4].Hash, head)
}

func TestChainContinuesAcrossAppends(t *testing.T) {
	const stream = "kuaishou.K7"
	evs := chainEvents(6)
	whole := eventstore.Chain(stream, 0, eventstore.Hash{}, evs)
	first := eventstore.Chain(stream, 0, eventstore.Hash{}, evs[:2])
	rest := eventstore.Chain(stream, 2, first[1].Hash, evs[2:])
	require.Equal(t, whole, append(first, rest...), "chaining in two appends must equal chaining in one")

	// A verifier carries the chain from page to page.
	v := eventstore.ChainVerifier{Stream: stream}
	for _, page := range [][]eventstore.RecordedEvent{whole[:3], whole[3:]} {
		for _, r := range page {
			require.NoError(t, v.Check(r))
		}
	}
}

func TestChainHashCoversEveryIdentifyingField(t *testing.T) {
	base := chainEvents(1)[0]
	prev := eventstore.Hash{1, 2, 3}
	h := eventstore.ChainHash(prev, "s.a", 7, base)
	require.Equal(t, h, eventstore.ChainHash(prev, "s.a", 7, base), "deterministic")
	require.Len(t, h.String(), 64)

	mutants := map[string]func() eventstore.Hash{
		"prev":    func() eventstore.Hash { return eventstore.ChainHash(eventstore.Hash{9}, "s.a", 7, base) },
		"stream":  func() eventstore.Hash { return eventstore.ChainHash(prev, "s.b", 7, base) },
		"version": func() eventstore.Hash { return eventstore.ChainHash(prev, "s.a", 8, base) },
		"id": func() eventstore.Hash {
			e := base
			e.ID = uuid.Must(uuid.NewV7())
			return eventstore.ChainHash(prev, "s.a", 7, e)
		},
		"type": func() eventstore.Hash {
			e := base
			e.Type = "PayoutConfirmed"
			return eventstore.ChainHash(prev, "s.a", 7, e)
		},
		"schema": func() eventstore.Hash {
			e := base
			e.SchemaVersion = 2
			return eventstore.ChainHash(prev, "s.a", 7, e)
		},
		"body": func() eventstore.Hash {
			e := base
			e.Data = append([]byte(nil), base.Data...)
			e.Data[0] ^= 1
			return eventstore.ChainHash(prev, "s.a", 7, e)
		},
		// Length-prefixed fields: moving bytes from the stream name into the
		// type must not collide.
		"field boundary": func() eventstore.Hash {
			e := base
			e.Type = "a" + base.Type
			return eventstore.ChainHash(prev, "s.", 7, e)
		},
	}
	for name, f := range mutants {
		require.NotEqual(t, h, f(), "changing %s must change the hash", name)
	}
}

func TestChainVerifierDetectsTampering(t *testing.T) {
	const stream = "douyin.S1001"
	fresh := func() []eventstore.RecordedEvent {
		return eventstore.Chain(stream, 0, eventstore.Hash{}, chainEvents(5))
	}

	t.Run("altered body", func(t *testing.T) {
		recs := fresh()
		recs[2].Data = []byte(`{"amount":"99999.00"}`)
		requireBroken(t, verify(stream, recs), 3)
	})
	t.Run("altered body with recomputed own hash", func(t *testing.T) {
		// A forger who recomputes the altered event's hash still breaks the
		// link to its successor.
		recs := fresh()
		recs[2].Data = []byte(`{"amount":"99999.00"}`)
		recs[2].Hash = eventstore.ChainHash(recs[2].PrevHash, stream, 3, recs[2].EventData)
		requireBroken(t, verify(stream, recs), 4)
	})
	t.Run("altered type", func(t *testing.T) {
		recs := fresh()
		recs[1].Type = "PayoutCancelled"
		requireBroken(t, verify(stream, recs), 2)
	})
	t.Run("removed event", func(t *testing.T) {
		recs := fresh()
		recs = append(recs[:2], recs[3:]...)
		requireBroken(t, verify(stream, recs), 3)
	})
	t.Run("removed event renumbered", func(t *testing.T) {
		// Removing an event and renumbering the rest hides the gap in the
		// versions, not in the hashes.
		recs := fresh()
		recs = append(recs[:2], recs[3:]...)
		for i := 2; i < len(recs); i++ {
			recs[i].Version = uint64(i + 1)
		}
		requireBroken(t, verify(stream, recs), 3)
	})
	t.Run("removed first event", func(t *testing.T) {
		requireBroken(t, verify(stream, fresh()[1:]), 1)
	})
	t.Run("reordered pair", func(t *testing.T) {
		recs := fresh()
		recs[1], recs[2] = recs[2], recs[1]
		requireBroken(t, verify(stream, recs), 2)
	})
	t.Run("reordered pair renumbered", func(t *testing.T) {
		recs := fresh()
		recs[1], recs[2] = recs[2], recs[1]
		recs[1].Version, recs[2].Version = 2, 3
		requireBroken(t, verify(stream, recs), 2)
	})
	t.Run("wrong prev hash", func(t *testing.T) {
		recs := fresh()
		recs[3].PrevHash[0] ^= 0xff
		requireBroken(t, verify(stream, recs), 4)
	})
	t.Run("wrong prev hash on first event", func(t *testing.T) {
		recs := fresh()
		recs[0].PrevHash = eventstore.Hash{1}
		recs[0].Hash = eventstore.ChainHash(recs[0].PrevHash, stream, 1, recs[0].EventData)
		requireBroken(t, verify(stream, recs), 1)
	})
	t.Run("event of another stream", func(t *testing.T) {
		recs := fresh()
		recs[1].Stream = "douyin.S1002"
		requireBroken(t, verify(stream, recs), 2)
	})
	t.Run("broken chain stops the verifier", func(t *testing.T) {
		recs := fresh()
		v := eventstore.ChainVerifier{Stream: stream}
		require.NoError(t, v.Check(recs[0]))
		bad := recs[1]
		bad.Data = []byte("x")
		require.Error(t, v.Check(bad))
		ver, head := v.Head()
		require.Equal(t, uint64(1), ver, "a failed check must not advance the verifier")
		require.Equal(t, recs[0].Hash, head)
	})
}
