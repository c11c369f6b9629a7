package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/projections"
	"github.com/payoutledger/ledger/projections/projtest"
)

// The projection subtests run the real projections of the ledger on the
// store, over a seeded random workload across the five platforms, and
// compare every stored row with a fresh in-memory replay of the same log.

func workload(t *testing.T, steps int) *projtest.Workload {
	t.Helper()
	seed := time.Now().UnixNano()
	t.Logf("workload seed %d", seed)
	w := projtest.NewWorkload(seed)
	w.Run(steps)
	return w
}

func runtimeOn(t *testing.T, src projections.Source, s projections.ReadModelStore, stopAtHead bool, fs ...projections.Factory) *projections.Runtime {
	t.Helper()
	if len(fs) == 0 {
		fs = projections.All()
	}
	rt, err := projections.New(projections.Config{Source: src, Store: s, BatchEvents: 64, BatchInterval: 20 * time.Millisecond,
		DensePositions: true, StopAtHead: stopAtHead, HeadInterval: 10 * time.Millisecond, Logf: t.Logf}, fs...)
	require.NoError(t, err)
	return rt
}

// requireEqualReplay compares every active projection in the store with
// a fresh replay of the log up to the stored checkpoint.
func requireEqualReplay(t *testing.T, log *projtest.Log, s projections.ReadModelStore, fs ...projections.Factory) {
	t.Helper()
	ctx := context.Background()
	if len(fs) == 0 {
		fs = projections.All()
	}
	for _, f := range fs {
		sc := f().Schema()
		got, err := projections.ReadSnapshot(ctx, s, sc)
		require.NoError(t, err)
		cp := got.Checkpoint
		want, err := projections.ReplayAll(ctx, log, []projections.Factory{f}, func(r eventstore.RecordedEvent) bool { return r.Position > cp })
		require.NoError(t, err)
		require.NotZero(t, want[sc.Projection].Count(), "%s: the workload produced rows", sc.Projection)
		requireSame(t, want[sc.Projection], got)
	}
}

func testProjections(t *testing.T, open Opener) {
	w := workload(t, 1500)
	s := openT(t, open)
	rt := runtimeOn(t, w.Log, s, true)
	require.NoError(t, rt.Run(context.Background()))
	for _, st := range rt.Status() {
		require.Equal(t, uint64(w.Log.Len()), st.Checkpoint, "%s at the head", st.Projection)
		require.True(t, st.Active)
		require.Zero(t, st.Behind)
	}
	requireEqualReplay(t, w.Log, s)
}

func testProjectionsResume(t *testing.T, open Opener) {
	ctx := context.Background()
	w := workload(t, 800)
	s := openT(t, open)
	require.NoError(t, runtimeOn(t, w.Log, s, true).Run(ctx))
	require.NoError(t, s.Close())

	before := w.Log.Len()
	w.Run(400)
	added := w.Log.Len() - before
	require.Positive(t, added)
	w.Log.ResetReads()
	s = openT(t, open)
	rt := runtimeOn(t, w.Log, s, true)
	require.NoError(t, rt.Run(ctx))
	// Resumed from the checkpoint: only the new events were read (one
	// reader for all projections), not the whole log.
	require.Equal(t, int64(added), w.Log.Reads(), "events read after the restart")
	for _, st := range rt.Status() {
		require.Equal(t, uint64(added), st.Events, "%s applied only the new events", st.Projection)
	}
	requireEqualReplay(t, w.Log, s)
}

func testProjectionsLive(t *testing.T, open Opener) {
	w := workload(t, 300)
	s := openT(t, open)
	rt := runtimeOn(t, w.Log, s, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	// Live appends while the runtime follows.
	for i := 0; i < 10; i++ {
		w.Run(60)
		time.Sleep(2 * time.Millisecond)
	}
	waitCaughtUp(t, rt, uint64(w.Log.Len()))
	var quota projections.ShopDayUsage
	require.NoError(t, projections.View(rt, projections.QuotaUsageName, func(q *projections.QuotaUsage) error {
		quota = q.ShopDay(domain.ShopRef{Platform: domain.PlatformDouyin, ShopID: "s1"}, "2026-11-23")
		return nil
	}))
	require.Equal(t, "2026-11-23", quota.Day)
	cancel()
	require.NoError(t, <-done)
	requireEqualReplay(t, w.Log, s)
}

// waitCaughtUp waits until every active projection applied position head.
func waitCaughtUp(t *testing.T, rt *projections.Runtime, head uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		active := 0
		ok := true
		for _, st := range rt.Status() {
			if st.Active {
				active++
			}
			if st.Active && st.Applied < head {
				ok = false
			}
			require.Nil(t, st.Err, "%s failed", st.Projection)
		}
		if ok && active == len(rt.Projections()) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not caught up with %d: %+v", head, rt.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// gated holds Apply until its gate opens: a new version that is still
// building.
type gated struct {
	projections.Projector
	gate <-chan struct{}
}

func (g *gated) Apply(e domain.Event) error {
	<-g.gate
	return g.Projector.Apply(e)
}

func (g *gated) Unwrap() projections.Projector { return g.Projector }

func testBlueGreen(t *testing.T, open Opener) {
	ctx := context.Background()
	w := workload(t, 600)
	s := openT(t, open)
	require.NoError(t, runtimeOn(t, w.Log, s, true).Run(ctx))

	gate := make(chan struct{})
	var once sync.Once
	open2 := func() { once.Do(func() { close(gate) }) }
	defer open2()
	v2 := func() projections.Projector {
		return &gated{Projector: projections.AsVersion(projections.NewPayoutRecords, 2)(), gate: gate}
	}
	rt := runtimeOn(t, w.Log, s, false, append(projections.All(), v2)...)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(rctx) }()

	// While v2 builds, v1 serves and keeps following live events.
	w.Run(200)
	waitCaughtUp(t, rt, uint64(w.Log.Len()))
	st := statusOf(t, rt, projections.PayoutRecordsName)
	require.True(t, st[1].Active)
	require.False(t, st[1].Building)
	require.True(t, st[2].Building)
	require.False(t, st[2].Active)
	require.Zero(t, st[2].Applied, "v2 is held at its first event")
	v, err := s.Active(ctx, projections.PayoutRecordsName)
	require.NoError(t, err)
	require.Equal(t, 1, v)
	servedBy := 0
	require.NoError(t, rt.Read(projections.PayoutRecordsName, func(p projections.Projector) error {
		servedBy = p.Schema().Version
		return nil
	}))
	require.Equal(t, 1, servedBy)

	// Let v2 build; it takes over once caught up, and v1 is dropped.
	open2()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st = statusOf(t, rt, projections.PayoutRecordsName)
		if st[2].Active {
			break
		}
		require.True(t, time.Now().Before(deadline), "v2 never took over: %+v", st)
		time.Sleep(5 * time.Millisecond)
	}
	require.Equal(t, projections.StateRetired, st[1].State)
	require.False(t, st[2].Building)
	w.Run(100)
	waitCaughtUp(t, rt, uint64(w.Log.Len()))
	require.NoError(t, rt.Read(projections.PayoutRecordsName, func(p projections.Projector) error {
		servedBy = p.Schema().Version
		return nil
	}))
	require.Equal(t, 2, servedBy)
	cancel()
	require.NoError(t, <-done)

	v, err = s.Active(ctx, projections.PayoutRecordsName)
	require.NoError(t, err)
	require.Equal(t, 2, v, "the store's readers switched to v2")
	gone, err := projections.ReadSnapshot(ctx, s, projections.NewPayoutRecords().Schema())
	require.NoError(t, err)
	require.Zero(t, gone.Count(), "v1 was dropped")
	requireEqualReplay(t, w.Log, s, projections.AsVersion(projections.NewPayoutRecords, 2))
	// A restart keeps v2 (and builds nothing).
	rt3 := runtimeOn(t, w.Log, s, true, append(projections.All(), projections.AsVersion(projections.NewPayoutRecords, 2))...)
	require.NoError(t, rt3.Run(ctx))
	st = statusOf(t, rt3, projections.PayoutRecordsName)
	require.Len(t, st, 1)
	require.True(t, st[2].Active)
	require.ErrorIs(t, rt3.Run(ctx), projections.ErrRunning, "a runtime runs once")
}

func statusOf(t *testing.T, rt *projections.Runtime, name string) map[int]projections.Status {
	out := map[int]projections.Status{}
	for _, st := range rt.Status() {
		if st.Projection == name {
			out[st.Version] = st
		}
	}
	return out
}
