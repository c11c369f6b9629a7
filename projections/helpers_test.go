package projections

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/projections/projtest"
)

// applyLog is a projection that records, per global position, how many
// times the event was applied to its committed state. After any number
// of crashes and restarts every position must show 1: an event applied
// twice would show 2, a skipped one would be missing.
type applyLog struct {
	tableSet
	schema *Schema
	rows   *table[applyLogRow]
	order  []uint64 // positions in the order applied (this model only)
}

type applyLogRow struct {
	Position int64
	Count    int64
	EventID  string
}

const applyLogName = "applylog"

func newApplyLog() Projector {
	s := &Schema{Projection: applyLogName, Version: 1, Tables: []Table{{
		Name: "applylog_positions", Key: []string{"position"},
		Columns: []Column{{Name: "position", Type: Int}, {Name: "count", Type: Int}, {Name: "event_id", Type: Text}},
	}}}
	a := &applyLog{schema: s}
	a.rows = addTable(&a.tableSet, newTable(s.Table("applylog_positions"),
		func(v *applyLogRow) Row { return Row{v.Position, v.Count, v.EventID} },
		func(r Row) (*applyLogRow, error) {
			return &applyLogRow{Position: i64(r, 0), Count: i64(r, 1), EventID: str(r, 2)}, nil
		}))
	return a
}

func (a *applyLog) Schema() *Schema { return a.schema }

func (a *applyLog) Apply(e domain.Event) error {
	r := a.rows.at(Key{int64(e.Position)}, func() *applyLogRow { return &applyLogRow{Position: int64(e.Position)} })
	r.Count++
	r.EventID = e.ID.String()
	a.order = append(a.order, e.Position)
	return nil
}

// requireAppliedOnce checks the stored applylog: positions 1..n, each once.
func requireAppliedOnce(t *testing.T, s ReadModelStore, n int) {
	t.Helper()
	sn, err := ReadSnapshot(context.Background(), s, newApplyLog().Schema())
	require.NoError(t, err)
	require.Equal(t, uint64(n), sn.Checkpoint)
	rows := sn.Rows["applylog_positions"]
	require.Len(t, rows, n, "every position applied")
	for _, r := range rows {
		require.Equal(t, int64(1), r[1], "position %d applied %d times", r[0], r[1])
	}
}

// faulty fails Apply at one position while fail is set: a projector bug
// that a later fix removes.
type faulty struct {
	Projector
	at   uint64
	fail *atomic.Bool
}

func (f *faulty) Apply(e domain.Event) error {
	if f.fail.Load() && e.Position == f.at {
		return fmt.Errorf("cannot interpret %s", e.Type)
	}
	return f.Projector.Apply(e)
}

func (f *faulty) Unwrap() Projector { return f.Projector }

// crashStore passes commits to a store until it "crashes": from then on
// every commit fails without writing, as if the process had died before
// the write. With torn, the crashing commit first writes half a frame to
// the instance's log, as a process killed inside write(2) would.
type crashStore struct {
	ReadModelStore
	left    atomic.Int64 // commits allowed before the crash
	crashed atomic.Bool
	torn    bool
	commits atomic.Int64
}

var errCrashed = errors.New("crashed")

func (c *crashStore) Commit(ctx context.Context, b Batch) error {
	if c.crashed.Load() || c.left.Add(-1) < 0 {
		if !c.crashed.Swap(true) && c.torn {
			if e, ok := c.ReadModelStore.(*EmbeddedStore); ok {
				e.tearLog(b)
			}
		}
		return errCrashed
	}
	c.commits.Add(1)
	return c.ReadModelStore.Commit(ctx, b)
}

// tearLog appends the first half of b's frame to the instance's log.
func (s *EmbeddedStore) tearLog(b Batch) {
	in, _ := s.instance(instanceKey{b.Schema.Projection, b.Schema.Version})
	if in == nil {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.log == nil {
		return
	}
	p := []byte(fmt.Sprintf(`{"from":%d,"to":%d,"c":[]}`, b.From, b.To))
	frame := appendFrame(nil, p)
	_, _ = in.log.Write(frame[:len(frame)/2])
}

// cancelAfter cancels a context after n deliveries from the source: a
// runtime stopped at an arbitrary point.
type cancelAfter struct {
	Source
	n      atomic.Int64
	cancel context.CancelFunc
}

func (c *cancelAfter) count(k int) {
	if c.n.Add(-int64(k)) <= 0 {
		c.cancel()
	}
}

func (c *cancelAfter) ReadAll(ctx context.Context, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	recs, err := c.Source.ReadAll(ctx, from, max)
	c.count(len(recs))
	return recs, err
}

func (c *cancelAfter) LastPosition(ctx context.Context) (uint64, error) {
	return HeadPosition(ctx, c.Source, 0)
}

func (c *cancelAfter) Subscribe(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	return c.Source.Subscribe(ctx, from, func(r eventstore.RecordedEvent) error {
		c.count(1)
		return fn(r)
	})
}

// twice delivers every event twice (and the previous one again), as an
// at-least-once transport might.
type twice struct{ Source }

func (d twice) ReadAll(ctx context.Context, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	recs, err := d.Source.ReadAll(ctx, from, max)
	var out []eventstore.RecordedEvent
	for i, r := range recs {
		out = append(out, r, r)
		if i > 0 {
			out = append(out, recs[i-1])
		}
	}
	return out, err
}

func (d twice) Subscribe(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	var prev *eventstore.RecordedEvent
	return d.Source.Subscribe(ctx, from, func(r eventstore.RecordedEvent) error {
		for _, x := range []eventstore.RecordedEvent{r, r} {
			if err := fn(x); err != nil {
				return err
			}
		}
		if prev != nil {
			if err := fn(*prev); err != nil {
				return err
			}
		}
		p := r
		prev = &p
		return nil
	})
}

func newRuntime(t *testing.T, src Source, s ReadModelStore, mut func(*Config), fs ...Factory) *Runtime {
	t.Helper()
	cfg := Config{Source: src, Store: s, BatchEvents: 50, BatchInterval: 10 * time.Millisecond, DensePositions: true,
		HeadInterval: 5 * time.Millisecond, GapTimeout: time.Second}
	if mut != nil {
		mut(&cfg)
	}
	rt, err := New(cfg, fs...)
	require.NoError(t, err)
	return rt
}

// runLive starts rt in the background; stop cancels it and returns Run's
// error.
func runLive(rt *Runtime) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
}

// eventually polls cond for up to 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func statusOf(rt *Runtime, name string) Status {
	for _, s := range rt.Status() {
		if s.Projection == name && (s.Active || s.Building) {
			return s
		}
	}
	return Status{}
}

// requireEqualsReplay compares the stored instances of fs with a fresh
// replay of log up to each stored checkpoint.
func requireEqualsReplay(t *testing.T, log *projtest.Log, s ReadModelStore, fs ...Factory) {
	t.Helper()
	ctx := context.Background()
	for _, f := range fs {
		sc := f().Schema()
		got, err := ReadSnapshot(ctx, s, sc)
		require.NoError(t, err)
		cp := got.Checkpoint
		want, err := ReplayAll(ctx, log, []Factory{f}, func(r eventstore.RecordedEvent) bool { return r.Position > cp })
		require.NoError(t, err)
		diffs := Diff(want[sc.Projection], got)
		for i, d := range diffs {
			if i < 10 {
				t.Errorf("%s", d)
			}
		}
		require.Empty(t, diffs, "%s: %d differences with a fresh replay", sc.Projection, len(diffs))
	}
}
