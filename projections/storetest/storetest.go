// Package storetest is the conformance suite every projections.ReadModelStore
// runs: the embedded store in projections, the PostgreSQL store in
// projections/postgres. It checks the store contract (atomic commits,
// compare-and-set checkpoints, value round trips, blue/green activation,
// restarts) and runs the real projections of this repository through the
// runtime on the store, so that every store passes the same projection
// tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/projections"
)

// Opener opens the storage that one subtest was given. Every call opens the
// SAME storage anew, as a restarted process would (the suite closes the
// previous store value first); storage given to different subtests is
// independent.
type Opener func() projections.ReadModelStore

// Run runs the suite. newStorage is called once per subtest and returns
// how to open that subtest's fresh, empty storage, e.g. for the embedded
// store:
//
//	storetest.Run(t, func(t *testing.T) storetest.Opener {
//		dir := t.TempDir()
//		return func() projections.ReadModelStore {
//			s, err := projections.OpenEmbedded(dir)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		}
//	})
func Run(t *testing.T, newStorage func(t *testing.T) Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"NewInstanceLoadsEmptyAtZero", testNewInstance},
		{"ValuesRoundTripAcrossRestart", testRoundTrip},
		{"UpsertReplacesDeleteRemoves", testUpsertDelete},
		{"CheckpointCompareAndSet", testCompareAndSet},
		{"InvalidBatchesWriteNothing", testInvalidBatches},
		{"UnknownInstance", testUnknownInstance},
		{"SchemaMismatch", testSchemaMismatch},
		{"VersionsActivateDrop", testVersions},
		{"RandomCommitsAndRestarts", testRandomCommits},
		{"ConcurrentInstances", testConcurrent},
		{"Closed", testClosed},
		{"ProjectionsEqualFreshReplay", testProjections},
		{"ProjectionsResumeAfterRestart", testProjectionsResume},
		{"ProjectionsLive", testProjectionsLive},
		{"ProjectionsBlueGreen", testBlueGreen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			open := newStorage(t)
			tc.fn(t, open)
		})
	}
}

// openT opens the storage and closes it at the end of the test (closing
// twice is harmless: ErrClosed is ignored).
func openT(t *testing.T, open Opener) projections.ReadModelStore {
	t.Helper()
	s := open()
	require.NotNil(t, s)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testSchema has a column of every type, nullable and not, and a second
// table with a composite key.
func testSchema(name string, version int) *projections.Schema {
	return &projections.Schema{Projection: name, Version: version, Tables: []projections.Table{
		{Name: name + "_a", Key: []string{"id"}, Columns: []projections.Column{
			{Name: "id", Type: projections.Text},
			{Name: "n", Type: projections.Int},
			{Name: "amount", Type: projections.Decimal},
			{Name: "flag", Type: projections.Bool},
			{Name: "at", Type: projections.Time},
			{Name: "tags", Type: projections.TextList},
			{Name: "note", Type: projections.Text, Nullable: true},
			{Name: "n2", Type: projections.Int, Nullable: true},
			{Name: "amount2", Type: projections.Decimal, Nullable: true},
			{Name: "flag2", Type: projections.Bool, Nullable: true},
			{Name: "at2", Type: projections.Time, Nullable: true},
		}},
		{Name: name + "_b", Key: []string{"shop", "day", "k"}, Columns: []projections.Column{
			{Name: "shop", Type: projections.Text},
			{Name: "day", Type: projections.Text},
			{Name: "k", Type: projections.Text},
			{Name: "v", Type: projections.Decimal},
		}},
	}}
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

var t0 = time.Date(2026, 11, 23, 2, 3, 4, 567891000, time.UTC)

func rowA(id string, i int) projections.Row {
	return projections.Row{id, int64(i), d(fmt.Sprintf("%d.5", i)), i%2 == 0, t0.Add(time.Duration(i) * time.Minute),
		[]string{fmt.Sprintf("p%d", i), "x"}, nil, nil, nil, nil, nil}
}

func load(t *testing.T, s projections.ReadModelStore, sc *projections.Schema) *projections.Snapshot {
	t.Helper()
	sn, err := projections.ReadSnapshot(context.Background(), s, sc)
	require.NoError(t, err)
	return sn
}

func requireSame(t *testing.T, want, got *projections.Snapshot) {
	t.Helper()
	diffs := projections.Diff(want, got)
	for i, df := range diffs {
		if i < 20 {
			t.Errorf("difference: %s", df)
		}
	}
	require.Empty(t, diffs, "%d differences", len(diffs))
}

func commit(ctx context.Context, s projections.ReadModelStore, sc *projections.Schema, from, to uint64, ch ...projections.TableChanges) error {
	return s.Commit(ctx, projections.Batch{Schema: sc, From: from, To: to, Changes: ch})
}

func testNewInstance(t *testing.T, open Opener) {
	s := openT(t, open)
	sc := testSchema("st_new", 1)
	sn := load(t, s, sc)
	require.Zero(t, sn.Checkpoint)
	require.Zero(t, sn.Count())
	v, err := s.Active(context.Background(), "st_new")
	require.NoError(t, err)
	require.Zero(t, v, "no active version before Activate")
	// A checkpoint-only commit advances the checkpoint.
	require.NoError(t, commit(context.Background(), s, sc, 0, 7))
	require.Equal(t, uint64(7), load(t, s, sc).Checkpoint)
}

func testRoundTrip(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openT(t, open)
	sc := testSchema("st_rt", 1)
	load(t, s, sc)
	full := projections.Row{"full", int64(-9_007_199_254_740_993), d("12.50"), true, t0,
		[]string{}, "quote \" ' \\ , ; 中文 \n tab\t", int64(42), d("0.01"), false, t0.Add(-48 * time.Hour)}
	big := projections.Row{"big", int64(1 << 62), d("123456789012345678.99"), false, time.Date(1970, 1, 1, 0, 0, 0, 1000, time.UTC),
		[]string{"a", "", "c,d", "{e}", "\"f\""}, "", nil, d("-3"), nil, nil}
	// Control characters and runes strconv.Quote escapes in Go's own
	// syntax (\a, \v, \x01, \U000e0001): free text from a merchant (NUL
	// aside, which the domain refuses).
	ctrl := projections.Row{"ctrl", int64(0), d("1"), false, t0,
		[]string{"\x02", "\U000f0000", "<&>"}, "bell\a vt\v soh\x01 us\x1f del\x7f ls\u2028 tag\U000e0001 中文", nil, nil, nil, nil}
	rows := []projections.Row{full, big, ctrl}
	for i := 0; i < 50; i++ {
		rows = append(rows, rowA(fmt.Sprintf("r%02d", i), i))
	}
	b := []projections.Row{{"S1", "2026-11-23", "k1", d("1")}, {"S1", "2026-11-24", "k1", d("2.00")}, {"S2", "2026-11-23", "k1", d("3")}}
	require.NoError(t, commit(ctx, s, sc, 0, 100,
		projections.TableChanges{Table: "st_rt_a", Upserts: rows},
		projections.TableChanges{Table: "st_rt_b", Upserts: b}))
	want := load(t, s, sc)
	require.Equal(t, uint64(100), want.Checkpoint)
	require.Equal(t, 53+3, want.Count(), "rows stored")

	require.NoError(t, s.Close())
	s = openT(t, open)
	got := load(t, s, sc)
	requireSame(t, want, got)
	// Exact Go types, as the contract says, after the restart.
	r := got.Rows["st_rt_a"]["full"]
	require.IsType(t, "", r[0])
	require.IsType(t, int64(0), r[1])
	require.IsType(t, decimal.Decimal{}, r[2])
	require.IsType(t, true, r[3])
	require.IsType(t, time.Time{}, r[4])
	require.IsType(t, []string{}, r[5])
	require.NotNil(t, r[5], "an empty list comes back as []string{}, not nil")
	require.Equal(t, time.UTC, r[4].(time.Time).Location())
	require.True(t, r[4].(time.Time).Equal(t0))
	require.Equal(t, full[6], r[6])
	require.Equal(t, int64(-9_007_199_254_740_993), r[1], "int64 beyond float64 precision")
	require.True(t, d("12.5").Equal(r[2].(decimal.Decimal)))
	rc := got.Rows["st_rt_a"]["ctrl"]
	require.Equal(t, ctrl[6], rc[6], "control characters kept")
	require.Equal(t, ctrl[5], rc[5])
	rb := got.Rows["st_rt_a"]["big"]
	require.Equal(t, []string{"a", "", "c,d", "{e}", "\"f\""}, rb[5])
	require.Equal(t, "", rb[6], "empty text is not NULL")
	require.Nil(t, rb[7])
	require.True(t, d("123456789012345678.99").Equal(rb[2].(decimal.Decimal)))
	for _, row := range got.Rows["st_rt_a"] {
		require.NoError(t, sc.Table("st_rt_a").CheckRow(row), "stored row keeps the contract's types")
	}
}

func testUpsertDelete(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openT(t, open)
	sc := testSchema("st_ud", 1)
	load(t, s, sc)
	require.NoError(t, commit(ctx, s, sc, 0, 10, projections.TableChanges{Table: "st_ud_a", Upserts: []projections.Row{rowA("a", 1), rowA("b", 2), rowA("c", 3)}}))
	changed := rowA("a", 9)
	changed[0] = "a"
	require.NoError(t, commit(ctx, s, sc, 10, 20, projections.TableChanges{Table: "st_ud_a",
		Upserts: []projections.Row{changed}, Deletes: []projections.Key{{"b"}, {"nope"}}}))
	require.NoError(t, commit(ctx, s, sc, 20, 21, projections.TableChanges{Table: "st_ud_b",
		Upserts: []projections.Row{{"S", "D", "K", d("1")}}}))
	require.NoError(t, commit(ctx, s, sc, 21, 22, projections.TableChanges{Table: "st_ud_b",
		Deletes: []projections.Key{{"S", "D", "K"}}}))
	require.NoError(t, s.Close())
	s = openT(t, open)
	got := load(t, s, sc)
	require.Equal(t, uint64(22), got.Checkpoint)
	require.Len(t, got.Rows["st_ud_a"], 2)
	require.Empty(t, got.Rows["st_ud_b"])
	require.Equal(t, int64(9), got.Rows["st_ud_a"]["a"][1])
	require.Equal(t, int64(3), got.Rows["st_ud_a"]["c"][1])
}

func testCompareAndSet(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openT(t, open)
	sc := testSchema("st_cas", 1)
	load(t, s, sc)
	require.NoError(t, commit(ctx, s, sc, 0, 5, projections.TableChanges{Table: "st_cas_a", Upserts: []projections.Row{rowA("a", 1)}}))
	for _, from := range []uint64{0, 4, 6} {
		err := commit(ctx, s, sc, from, 9, projections.TableChanges{Table: "st_cas_a", Upserts: []projections.Row{rowA("z", 2)}})
		require.ErrorIs(t, err, projections.ErrCheckpointConflict, "from %d", from)
	}
	require.NoError(t, s.Close())
	s = openT(t, open)
	got := load(t, s, sc)
	require.Equal(t, uint64(5), got.Checkpoint)
	require.Len(t, got.Rows["st_cas_a"], 1, "a refused commit writes nothing")
	require.NoError(t, commit(ctx, s, sc, 5, 9))
}

func testInvalidBatches(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openT(t, open)
	sc := testSchema("st_inv", 1)
	load(t, s, sc)
	require.NoError(t, commit(ctx, s, sc, 0, 5))
	bad := func(mut func(projections.Row) projections.Row) projections.TableChanges {
		return projections.TableChanges{Table: "st_inv_a", Upserts: []projections.Row{mut(rowA("x", 1))}}
	}
	cases := map[string]projections.Batch{
		"no advance":      {Schema: sc, From: 5, To: 5},
		"backwards":       {Schema: sc, From: 5, To: 4},
		"unknown table":   {Schema: sc, From: 5, To: 6, Changes: []projections.TableChanges{{Table: "nope"}}},
		"short row":       {Schema: sc, From: 5, To: 6, Changes: []projections.TableChanges{bad(func(r projections.Row) projections.Row { return r[:3] })}},
		"int not int64":   {Schema: sc, From: 5, To: 6, Changes: []projections.TableChanges{bad(func(r projections.Row) projections.Row { r[1] = 1; return r })}},
		"float decimal":   {Schema: sc, From: 5, To: 6, Changes: []projections.TableChanges{bad(func(r projections.Row) projections.Row { r[2] = 1.5; return r })}},
		"null not null":   {Schema: sc, From: 5, To: 6, Changes: []projections.TableChanges{bad(func(r projections.Row) projections.Row { r[0] = nil; return r })}},
		"nil list":        {Schema: sc, From: 5, To: 6, Changes: []projections.TableChanges{bad(func(r projections.Row) projections.Row { r[5] = []string(nil); return r })}},
		"local time":      {Schema: sc, From: 5, To: 6, Changes: []projections.TableChanges{bad(func(r projections.Row) projections.Row { r[4] = t0.In(time.FixedZone("X", 3600)); return r })}},
		"nanosecond time": {Schema: sc, From: 5, To: 6, Changes: []projections.TableChanges{bad(func(r projections.Row) projections.Row { r[4] = t0.Add(1); return r })}},
		"key twice": {Schema: sc, From: 5, To: 6, Changes: []projections.TableChanges{{Table: "st_inv_a",
			Upserts: []projections.Row{rowA("x", 1)}, Deletes: []projections.Key{{"x"}}}}},
		"bad key":   {Schema: sc, From: 5, To: 6, Changes: []projections.TableChanges{{Table: "st_inv_a", Deletes: []projections.Key{{int64(1)}}}}},
		"no schema": {From: 5, To: 6},
	}
	for name, b := range cases {
		require.ErrorIs(t, s.Commit(ctx, b), projections.ErrInvalidBatch, name)
	}
	got := load(t, s, sc)
	require.Equal(t, uint64(5), got.Checkpoint)
	require.Zero(t, got.Count())
}

func testUnknownInstance(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openT(t, open)
	sc := testSchema("st_unk", 1)
	require.ErrorIs(t, commit(ctx, s, sc, 0, 1), projections.ErrUnknownInstance)
	require.ErrorIs(t, s.Activate(ctx, sc), projections.ErrUnknownInstance)
	require.NoError(t, s.Drop(ctx, "st_unk", 3), "dropping a missing instance is a no-op")
	bad := &projections.Schema{Projection: "Bad-Name", Version: 1}
	_, err := s.Load(ctx, bad, func(string, projections.Row) error { return nil })
	require.ErrorIs(t, err, projections.ErrInvalidSchema)
}

func testSchemaMismatch(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openT(t, open)
	sc := testSchema("st_mm", 1)
	load(t, s, sc)
	require.NoError(t, commit(ctx, s, sc, 0, 3, projections.TableChanges{Table: "st_mm_a", Upserts: []projections.Row{rowA("a", 1)}}))
	require.NoError(t, s.Close())
	s = openT(t, open)
	changed := testSchema("st_mm", 1)
	changed.Tables[1].Columns = append(changed.Tables[1].Columns, projections.Column{Name: "extra", Type: projections.Int, Nullable: true})
	_, err := s.Load(ctx, changed, func(string, projections.Row) error { return nil })
	require.ErrorIs(t, err, projections.ErrSchemaMismatch)
	// The original schema still loads, untouched.
	got := load(t, s, sc)
	require.Equal(t, uint64(3), got.Checkpoint)
	require.Len(t, got.Rows["st_mm_a"], 1)
}

func testVersions(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openT(t, open)
	v1, v2 := testSchema("st_ver", 1), testSchema("st_ver", 2)
	load(t, s, v1)
	load(t, s, v2)
	require.NoError(t, commit(ctx, s, v1, 0, 10, projections.TableChanges{Table: "st_ver_a", Upserts: []projections.Row{rowA("one", 1)}}))
	require.NoError(t, commit(ctx, s, v2, 0, 4, projections.TableChanges{Table: "st_ver_a", Upserts: []projections.Row{rowA("two", 2), rowA("three", 3)}}))
	require.NoError(t, s.Activate(ctx, v1))
	require.NoError(t, s.Close())

	s = openT(t, open)
	v, err := s.Active(ctx, "st_ver")
	require.NoError(t, err)
	require.Equal(t, 1, v, "the active version survives a restart")
	g1, g2 := load(t, s, v1), load(t, s, v2)
	require.Equal(t, uint64(10), g1.Checkpoint)
	require.Equal(t, uint64(4), g2.Checkpoint)
	require.Len(t, g1.Rows["st_ver_a"], 1, "versions never share rows")
	require.Len(t, g2.Rows["st_ver_a"], 2)
	require.NoError(t, s.Activate(ctx, v2))
	v, err = s.Active(ctx, "st_ver")
	require.NoError(t, err)
	require.Equal(t, 2, v)
	require.ErrorIs(t, s.Drop(ctx, "st_ver", 2), projections.ErrInvalidBatch, "the active version cannot be dropped")
	require.NoError(t, s.Drop(ctx, "st_ver", 1))
	require.NoError(t, s.Close())

	s = openT(t, open)
	v, err = s.Active(ctx, "st_ver")
	require.NoError(t, err)
	require.Equal(t, 2, v)
	require.Len(t, load(t, s, v2).Rows["st_ver_a"], 2)
	g1 = load(t, s, v1)
	require.Zero(t, g1.Checkpoint, "a dropped instance starts again from nothing")
	require.Zero(t, g1.Count())
}

// testRandomCommits commits random upserts and deletes against a
// reference map, reopening the store now and then.
func testRandomCommits(t *testing.T, open Opener) {
	ctx := context.Background()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	sc := testSchema("st_rand", 1)
	s := openT(t, open)
	load(t, s, sc)
	ref := map[string]projections.Row{}
	var cp uint64
	for i := 0; i < 120; i++ {
		ch := projections.TableChanges{Table: "st_rand_a"}
		used := map[string]bool{}
		for j := 0; j < 1+rng.Intn(30); j++ {
			id := fmt.Sprintf("k%03d", rng.Intn(150))
			if used[id] {
				continue
			}
			used[id] = true
			if rng.Intn(4) == 0 {
				ch.Deletes = append(ch.Deletes, projections.Key{id})
				delete(ref, id)
			} else {
				r := rowA(id, rng.Intn(1000))
				if rng.Intn(3) == 0 {
					r[6], r[7], r[8], r[9], r[10] = fmt.Sprintf("n%d", i), int64(i), d("7.07"), true, t0
				}
				ch.Upserts = append(ch.Upserts, r)
				ref[id] = r
			}
		}
		next := cp + 1 + uint64(rng.Intn(5))
		require.NoError(t, commit(ctx, s, sc, cp, next, ch))
		cp = next
		if rng.Intn(25) == 0 {
			require.NoError(t, s.Close())
			s = openT(t, open)
			load(t, s, sc)
		}
	}
	require.NoError(t, s.Close())
	s = openT(t, open)
	got := load(t, s, sc)
	want := &projections.Snapshot{Schema: sc, Checkpoint: cp, Rows: map[string]map[string]projections.Row{"st_rand_a": ref, "st_rand_b": {}}}
	requireSame(t, want, got)
}

func testConcurrent(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openT(t, open)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for g := 0; g < 6; g++ {
		sc := testSchema(fmt.Sprintf("st_conc%d", g), 1)
		load(t, s, sc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				if err := commit(ctx, s, sc, uint64(i), uint64(i+1), projections.TableChanges{Table: sc.Tables[0].Name,
					Upserts: []projections.Row{rowA(fmt.Sprintf("k%d", i%7), i)}}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for g := 0; g < 6; g++ {
		got := load(t, s, testSchema(fmt.Sprintf("st_conc%d", g), 1))
		require.Equal(t, uint64(30), got.Checkpoint)
		require.Len(t, got.Rows[fmt.Sprintf("st_conc%d_a", g)], 7)
	}
}

func testClosed(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open()
	sc := testSchema("st_closed", 1)
	load(t, s, sc)
	require.NoError(t, s.Close())
	_, err := s.Load(ctx, sc, func(string, projections.Row) error { return nil })
	require.ErrorIs(t, err, projections.ErrClosed)
	require.ErrorIs(t, commit(ctx, s, sc, 0, 1), projections.ErrClosed)
	_, err = s.Active(ctx, "st_closed")
	require.ErrorIs(t, err, projections.ErrClosed)
	require.ErrorIs(t, s.Activate(ctx, sc), projections.ErrClosed)
	require.ErrorIs(t, s.Drop(ctx, "st_closed", 1), projections.ErrClosed)
	require.True(t, errors.Is(s.Close(), projections.ErrClosed))
}
