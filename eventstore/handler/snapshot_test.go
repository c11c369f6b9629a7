package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// countingStore wraps the real store and counts the events ReadStream
// returns, to see how much of a stream a load reads.
type countingStore struct {
	eventstore.Store
	read atomic.Int64
}

func (c *countingStore) ReadStream(ctx context.Context, stream string, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	recs, err := c.Store.ReadStream(ctx, stream, from, max)
	c.read.Add(int64(len(recs)))
	return recs, err
}

func stateJSON(t *testing.T, h *handler.Handler, ref domain.ShopRef) string {
	t.Helper()
	s, err := h.State(context.Background(), ref)
	require.NoError(t, err)
	b, err := json.Marshal(s)
	require.NoError(t, err)
	return string(b)
}

// TestSnapshotsShortenLoadsAndNeverChangeState: a shop whose stream is
// long loads from its snapshot plus the events after it; the state equals
// a full replay; idempotency keys from before the snapshot still replay;
// a snapshot that does not belong to the log (wrong head) is ignored.
func TestSnapshotsShortenLoadsAndNeverChangeState(t *testing.T) {
	forModes(t, testSnapshotsShortenLoadsAndNeverChangeState)
}

func testSnapshotsShortenLoadsAndNeverChangeState(t *testing.T, gc handler.GroupCommit) {
	ctx := context.Background()
	real := openStore(t, t.TempDir())
	snaps := handler.FileSnapshots{Dir: t.TempDir()}
	clk := &fakeClock{now: start}
	h := handler.New(real, handler.Config{Clock: clk.Now, GroupCommit: gc, Snapshots: snaps, SnapshotEvery: 50})
	ref := jdShop(t, h, "snap", "100000", 40) // ~44 events
	first, err := h.Handle(ctx, payout(ref, "P0", "O0", "1"), handler.Meta{Actor: admin, IdempotencyKey: "early"})
	require.NoError(t, err)
	for i := 1; i < 60; i++ {
		_, err := h.Handle(ctx, payout(ref, fmt.Sprintf("P%d", i), fmt.Sprintf("O%d", i%40), "1"), handler.Meta{Actor: admin})
		require.NoError(t, err)
	}
	h.WaitSnapshots()
	snap, ok, err := snaps.Load(ctx, ref.Stream())
	require.NoError(t, err)
	require.True(t, ok, "a snapshot was written")
	total, _, err := real.Head(ctx, ref.Stream())
	require.NoError(t, err)
	require.Less(t, snap.Version, total)

	// A full replay, without snapshots, is the reference.
	want := stateJSON(t, handler.New(real, handler.Config{Clock: clk.Now, GroupCommit: gc}), ref.ShopRef)

	counting := &countingStore{Store: real}
	fromSnap := handler.New(counting, handler.Config{Clock: clk.Now, GroupCommit: gc, Snapshots: snaps, SnapshotEvery: 1 << 30})
	require.Equal(t, want, stateJSON(t, fromSnap, ref.ShopRef))
	// One event to check the snapshot's head, then only the tail.
	require.Equal(t, int64(1+total-snap.Version), counting.read.Load())

	again, err := fromSnap.Handle(ctx, payout(ref, "P0", "O0", "1"), handler.Meta{Actor: admin, IdempotencyKey: "early"})
	require.NoError(t, err)
	require.True(t, again.Replayed)
	require.Equal(t, first.Events[0].ID, again.Events[0].ID)

	// A snapshot whose head does not match the log is not used.
	snap.Head[0] ^= 0xff
	require.NoError(t, snaps.Save(ctx, snap))
	counting2 := &countingStore{Store: real}
	ignoring := handler.New(counting2, handler.Config{Clock: clk.Now, GroupCommit: gc, Snapshots: snaps, SnapshotEvery: 1 << 30})
	require.Equal(t, want, stateJSON(t, ignoring, ref.ShopRef))
	require.Equal(t, int64(1+total), counting2.read.Load(), "the bad snapshot is checked, then the stream replayed")
}
