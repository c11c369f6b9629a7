package postgres_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/projections"
	"github.com/payoutledger/ledger/projections/pgtest"
	"github.com/payoutledger/ledger/projections/postgres"
)

// The package's tests share one throwaway cluster (started by the first
// test that needs it, removed after the last); every test gets a fresh
// database.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(ctxT(t), postgres.Config{DSN: dsn})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// payoutsSchema has a column of every type, a composite key, nullable
// columns and an internal table.
func payoutsSchema(version int) *projections.Schema {
	return &projections.Schema{
		Projection: "payout_records",
		Version:    version,
		Tables: []projections.Table{
			{
				Name: "payout_records",
				Doc:  "One row per payout.",
				Key:  []string{"stream", "payout_id"},
				Columns: []projections.Column{
					{Name: "stream", Type: projections.Text, Doc: "the shop's stream"},
					{Name: "payout_id", Type: projections.Text, Doc: "chosen by the client"},
					{Name: "amount", Type: projections.Decimal, Doc: "CNY"},
					{Name: "attempts", Type: projections.Int},
					{Name: "holds_funds", Type: projections.Bool},
					{Name: "initiated_at", Type: projections.Time},
					{Name: "succeeded_at", Type: projections.Time, Nullable: true},
					{Name: "limit", Type: projections.Decimal, Nullable: true, Doc: "a reserved word as a column name"},
					{Name: "rules", Type: projections.TextList, Doc: "the rules checked"},
					{Name: "note", Type: projections.Text, Nullable: true},
				},
			},
			{
				Name: "payout_records_in_flight", Internal: true, Key: []string{"payout_id"},
				Columns: []projections.Column{{Name: "payout_id", Type: projections.Text}},
			},
		},
	}
}

var t0 = time.Date(2026, 11, 23, 2, 0, 0, 123456000, time.UTC)

func payoutRow(i int, amount string) projections.Row {
	var succeeded any
	if i%2 == 0 {
		succeeded = t0.Add(time.Duration(i) * time.Minute)
	}
	var limit any
	if i%3 == 0 {
		limit = dec("100")
	}
	rules := []string{}
	if i%4 != 0 {
		rules = []string{"jd.order.cap", fmt.Sprintf("r%d", i), "quote ' and \" and {braces}, commas"}
	}
	return projections.Row{"jd.S1", fmt.Sprintf("P%05d", i), dec(amount), int64(i), i%2 == 1, t0, succeeded, limit, rules, nil}
}

// loadAll reads an instance back as table -> sorted rows.
func loadAll(t *testing.T, s projections.ReadModelStore, sch *projections.Schema) (map[string][]projections.Row, uint64) {
	t.Helper()
	out := map[string][]projections.Row{}
	cp, err := s.Load(ctxT(t), sch, func(table string, row projections.Row) error {
		out[table] = append(out[table], row)
		return nil
	})
	require.NoError(t, err)
	for _, rows := range out {
		sort.Slice(rows, func(i, j int) bool { return fmt.Sprint(rows[i][:2]) < fmt.Sprint(rows[j][:2]) })
	}
	return out, cp
}

// requireRowsEqual compares rows, decimals by value.
func requireRowsEqual(t *testing.T, want, got []projections.Row) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.Len(t, got[i], len(want[i]))
		for j := range want[i] {
			if w, ok := want[i][j].(decimal.Decimal); ok {
				g, ok := got[i][j].(decimal.Decimal)
				require.True(t, ok, "row %d col %d: %T", i, j, got[i][j])
				require.True(t, w.Equal(g), "row %d col %d: %s != %s", i, j, w, g)
				continue
			}
			require.Equal(t, want[i][j], got[i][j], "row %d col %d", i, j)
		}
	}
}

func TestRoundTripAndRestart(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	s := open(t, dsn)
	sch := payoutsSchema(1)
	rows, cp := loadAll(t, s, sch)
	require.Empty(t, rows)
	require.Zero(t, cp)

	want := []projections.Row{payoutRow(0, "12.5"), payoutRow(1, "0.01"), payoutRow(2, "999999999999999999.99"), payoutRow(3, "3")}
	require.NoError(t, s.Commit(ctxT(t), projections.Batch{Schema: sch, From: 0, To: 7, Changes: []projections.TableChanges{
		{Table: "payout_records", Upserts: want},
		{Table: "payout_records_in_flight", Upserts: []projections.Row{{"P00001"}, {"P00003"}}},
	}}))
	// Replace one row, delete another, delete a missing one (a no-op).
	want[1] = payoutRow(1, "0.02")
	require.NoError(t, s.Commit(ctxT(t), projections.Batch{Schema: sch, From: 7, To: 9, Changes: []projections.TableChanges{
		{Table: "payout_records", Upserts: []projections.Row{want[1]}, Deletes: []projections.Key{{"jd.S1", "P00003"}, {"jd.S1", "nope"}}},
		{Table: "payout_records_in_flight", Deletes: []projections.Key{{"P00003"}}},
	}}))
	want = want[:3]
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Close(), projections.ErrClosed)
	_, err := s.Active(ctxT(t), "payout_records")
	require.ErrorIs(t, err, projections.ErrClosed)

	s2 := open(t, dsn) // a restarted process
	got, cp := loadAll(t, s2, sch)
	require.Equal(t, uint64(9), cp)
	requireRowsEqual(t, want, got["payout_records"])
	require.Equal(t, []projections.Row{{"P00001"}}, got["payout_records_in_flight"])
	// A checkpoint-only commit.
	require.NoError(t, s2.Commit(ctxT(t), projections.Batch{Schema: sch, From: 9, To: 10}))
	_, cp = loadAll(t, s2, sch)
	require.Equal(t, uint64(10), cp)
}

func TestTablesAreReadableWithSQL(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	s := open(t, dsn)
	sch := payoutsSchema(1)
	_, err := s.Load(ctxT(t), sch, func(string, projections.Row) error { return nil })
	require.NoError(t, err)
	require.NoError(t, s.Commit(ctxT(t), projections.Batch{Schema: sch, From: 0, To: 1, Changes: []projections.TableChanges{
		{Table: "payout_records", Upserts: []projections.Row{payoutRow(1, "12.5"), payoutRow(2, "7")}},
	}}))
	require.NoError(t, s.Activate(ctxT(t), sch))

	conn, err := pgx.Connect(ctxT(t), dsn)
	require.NoError(t, err)
	defer conn.Close(ctxT(t))

	// Typed columns, as information_schema tells a SQL user.
	rows, err := conn.Query(ctxT(t), `SELECT column_name, data_type, coalesce(numeric_precision, 0), coalesce(numeric_scale, 0), is_nullable
		FROM information_schema.columns WHERE table_name = 'payout_records_v1' ORDER BY ordinal_position`)
	require.NoError(t, err)
	type col struct {
		Name, Type      string
		Precision, Scal int32
		Nullable        string
	}
	cols, err := pgx.CollectRows(rows, pgx.RowToStructByPos[col])
	require.NoError(t, err)
	require.Equal(t, []col{
		{"stream", "text", 0, 0, "NO"}, {"payout_id", "text", 0, 0, "NO"},
		{"amount", "numeric", 20, 2, "NO"}, {"attempts", "bigint", 64, 0, "NO"},
		{"holds_funds", "boolean", 0, 0, "NO"}, {"initiated_at", "timestamp with time zone", 0, 0, "NO"},
		{"succeeded_at", "timestamp with time zone", 0, 0, "YES"}, {"limit", "numeric", 20, 2, "YES"},
		{"rules", "ARRAY", 0, 0, "NO"}, {"note", "text", 0, 0, "YES"},
	}, cols)

	// The view finance queries, with plain SQL.
	var amount string
	var initiated time.Time
	var rules []string
	require.NoError(t, conn.QueryRow(ctxT(t), `SELECT amount::text, initiated_at, rules FROM payout_records
		WHERE payout_id = 'P00001' AND amount > 10 AND 'jd.order.cap' = ANY(rules)`).Scan(&amount, &initiated, &rules))
	require.Equal(t, "12.50", amount)
	require.True(t, initiated.Equal(t0))
	require.Equal(t, []string{"jd.order.cap", "r1", "quote ' and \" and {braces}, commas"}, rules)
	var total string
	require.NoError(t, conn.QueryRow(ctxT(t), `SELECT sum(amount)::text FROM payout_records`).Scan(&total))
	require.Equal(t, "19.50", total)

	// Docs are comments; the internal table has no view.
	var comment string
	require.NoError(t, conn.QueryRow(ctxT(t), `SELECT col_description('payout_records'::regclass, 3)`).Scan(&comment))
	require.Equal(t, "CNY", comment)
	require.NoError(t, conn.QueryRow(ctxT(t), `SELECT obj_description('payout_records_v1'::regclass)`).Scan(&comment))
	require.Equal(t, "One row per payout. (projection payout_records, version 1)", comment)
	var views []string
	rows, err = conn.Query(ctxT(t), `SELECT table_name FROM information_schema.views WHERE table_schema = 'public' ORDER BY 1`)
	require.NoError(t, err)
	views, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"payout_records"}, views)
	var checkpoint int64
	require.NoError(t, conn.QueryRow(ctxT(t), `SELECT checkpoint FROM projection_instances WHERE projection = 'payout_records'`).Scan(&checkpoint))
	require.Equal(t, int64(1), checkpoint)
}

func TestMigrationsAreAppliedOnceEvenConcurrently(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Go(func() {
			s, err := postgres.Open(ctxT(t), postgres.Config{DSN: dsn})
			if err == nil {
				err = s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	s := open(t, dsn) // and once more, later
	var n int
	require.NoError(t, s.Pool().QueryRow(ctxT(t), "SELECT count(*) FROM schema_migrations").Scan(&n))
	require.Equal(t, 1, n)
}

// A batch that fails half-way inside PostgreSQL leaves neither its rows
// nor its checkpoint.
func TestCheckpointMovesOnlyWithItsRows(t *testing.T) {
	s := open(t, pgtest.NewDatabase(t))
	sch := payoutsSchema(1)
	loadAll(t, s, sch)
	require.NoError(t, s.Commit(ctxT(t), projections.Batch{Schema: sch, From: 0, To: 5, Changes: []projections.TableChanges{
		{Table: "payout_records", Upserts: []projections.Row{payoutRow(1, "1")}},
	}}))

	// A trigger makes the server refuse one row, after the statements
	// before it ran in the same transaction.
	_, err := s.Pool().Exec(ctxT(t), `CREATE FUNCTION refuse_p3() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.payout_id = 'P00003' THEN RAISE EXCEPTION 'refused by test trigger'; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_p3 BEFORE INSERT ON payout_records_in_flight_v1 FOR EACH ROW EXECUTE FUNCTION refuse_p3();`)
	require.NoError(t, err)
	err = s.Commit(ctxT(t), projections.Batch{Schema: sch, From: 5, To: 6, Changes: []projections.TableChanges{
		{Table: "payout_records", Upserts: []projections.Row{payoutRow(1, "99"), payoutRow(2, "2")}},
		{Table: "payout_records_in_flight", Upserts: []projections.Row{{"P00002"}, {"P00003"}}},
	}})
	require.ErrorContains(t, err, "refused by test trigger")
	rows, cp := loadAll(t, s, sch)
	require.Equal(t, uint64(5), cp)
	requireRowsEqual(t, []projections.Row{payoutRow(1, "1")}, rows["payout_records"])
	require.Empty(t, rows["payout_records_in_flight"])

	// Money that numeric(20,2) cannot hold exactly is refused before
	// anything is sent.
	for _, amount := range []string{"1.005", "1000000000000000000", "-1000000000000000000"} {
		err = s.Commit(ctxT(t), projections.Batch{Schema: sch, From: 5, To: 6, Changes: []projections.TableChanges{
			{Table: "payout_records", Upserts: []projections.Row{payoutRow(2, amount)}},
		}})
		require.ErrorIs(t, err, projections.ErrInvalidBatch, amount)
	}
	// So are text PostgreSQL cannot store and times out of its range.
	nul, badUTF8, future := payoutRow(2, "2"), payoutRow(2, "2"), payoutRow(2, "2")
	nul[9] = "a\x00b"
	badUTF8[8] = []string{"ok", "\xff"}
	future[5] = time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range []projections.Row{nul, badUTF8, future} {
		err = s.Commit(ctxT(t), projections.Batch{Schema: sch, From: 5, To: 6, Changes: []projections.TableChanges{
			{Table: "payout_records", Upserts: []projections.Row{r}},
		}})
		require.ErrorIs(t, err, projections.ErrInvalidBatch)
	}
	_, cp = loadAll(t, s, sch)
	require.Equal(t, uint64(5), cp)
}

func TestConcurrentCommitsFromOneCheckpoint(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	a, b := open(t, dsn), open(t, dsn) // two processes
	sch := payoutsSchema(1)
	loadAll(t, a, sch)
	loadAll(t, b, sch)
	for round := range 20 {
		from := uint64(round * 10)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, s := range []*postgres.Store{a, b} {
			wg.Go(func() {
				errs[i] = s.Commit(ctxT(t), projections.Batch{Schema: sch, From: from, To: from + 10, Changes: []projections.TableChanges{
					{Table: "payout_records", Upserts: []projections.Row{payoutRow(round*2+i, "1")}},
				}})
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				require.ErrorIs(t, err, projections.ErrCheckpointConflict)
			}
		}
		require.Equal(t, 1, ok, "round %d: exactly one writer wins: %v", round, errs)
	}
	rows, cp := loadAll(t, a, sch)
	require.Equal(t, uint64(200), cp)
	require.Len(t, rows["payout_records"], 20, "one row per round: the loser wrote nothing")
}

func TestContractErrors(t *testing.T) {
	s := open(t, pgtest.NewDatabase(t))
	sch := payoutsSchema(1)
	ctx := ctxT(t)
	err := s.Commit(ctx, projections.Batch{Schema: sch, From: 0, To: 1})
	require.ErrorIs(t, err, projections.ErrUnknownInstance)
	require.ErrorIs(t, s.Activate(ctx, sch), projections.ErrUnknownInstance)

	loadAll(t, s, sch)
	require.ErrorIs(t, s.Commit(ctx, projections.Batch{Schema: sch, From: 1, To: 2}), projections.ErrCheckpointConflict)
	require.ErrorIs(t, s.Commit(ctx, projections.Batch{Schema: sch, From: 0, To: 0}), projections.ErrInvalidBatch)
	require.ErrorIs(t, s.Commit(ctx, projections.Batch{Schema: sch, From: 0, To: 1, Changes: []projections.TableChanges{{Table: "nope"}}}), projections.ErrInvalidBatch)
	dup := []projections.TableChanges{{Table: "payout_records", Upserts: []projections.Row{payoutRow(1, "1")}, Deletes: []projections.Key{{"jd.S1", "P00001"}}}}
	require.ErrorIs(t, s.Commit(ctx, projections.Batch{Schema: sch, From: 0, To: 1, Changes: dup}), projections.ErrInvalidBatch)
	short := []projections.TableChanges{{Table: "payout_records", Upserts: []projections.Row{{"jd.S1"}}}}
	require.ErrorIs(t, s.Commit(ctx, projections.Batch{Schema: sch, From: 0, To: 1, Changes: short}), projections.ErrInvalidBatch)

	// The same instance with another shape.
	changed := payoutsSchema(1)
	changed.Tables[0].Columns = changed.Tables[0].Columns[:9]
	_, err = s.Load(ctx, changed, func(string, projections.Row) error { return nil })
	require.ErrorIs(t, err, projections.ErrSchemaMismatch)
	require.ErrorIs(t, s.Commit(ctx, projections.Batch{Schema: changed, From: 0, To: 1}), projections.ErrSchemaMismatch)

	// Another projection may not take a table name.
	thief := payoutsSchema(1)
	thief.Projection = "other"
	_, err = s.Load(ctx, thief, func(string, projections.Row) error { return nil })
	require.ErrorIs(t, err, projections.ErrInvalidSchema)
	reserved := payoutsSchema(1)
	reserved.Tables[0].Name = "projection_active"
	_, err = s.Load(ctx, reserved, func(string, projections.Row) error { return nil })
	require.ErrorIs(t, err, projections.ErrInvalidSchema)

	// fn's error is returned as is.
	require.NoError(t, s.Commit(ctx, projections.Batch{Schema: sch, From: 0, To: 1, Changes: []projections.TableChanges{
		{Table: "payout_records", Upserts: []projections.Row{payoutRow(1, "1")}},
	}}))
	stop := fmt.Errorf("stop here")
	_, err = s.Load(ctx, sch, func(string, projections.Row) error { return stop })
	require.Equal(t, stop, err)
}

func TestBlueGreenViews(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	s := open(t, dsn)
	ctx := ctxT(t)
	v1, v2 := payoutsSchema(1), payoutsSchema(2)
	v2.Tables[0].Columns = append(v2.Tables[0].Columns, projections.Column{Name: "extra", Type: projections.Int, Nullable: true})
	with := func(r projections.Row) projections.Row { return append(slices.Clone(r), int64(42)) }

	loadAll(t, s, v1)
	require.NoError(t, s.Commit(ctx, projections.Batch{Schema: v1, From: 0, To: 3, Changes: []projections.TableChanges{
		{Table: "payout_records", Upserts: []projections.Row{payoutRow(1, "1")}},
	}}))
	v, err := s.Active(ctx, "payout_records")
	require.NoError(t, err)
	require.Zero(t, v)
	require.NoError(t, s.Activate(ctx, v1))

	// v2 is built beside v1 while readers see v1.
	loadAll(t, s, v2)
	require.NoError(t, s.Commit(ctx, projections.Batch{Schema: v2, From: 0, To: 3, Changes: []projections.TableChanges{
		{Table: "payout_records", Upserts: []projections.Row{with(payoutRow(1, "1")), with(payoutRow(2, "2"))}},
	}}))
	count := func() int {
		var n int
		require.NoError(t, s.Pool().QueryRow(ctx, "SELECT count(*) FROM payout_records").Scan(&n))
		return n
	}
	require.Equal(t, 1, count())
	require.NoError(t, s.Activate(ctx, v2))
	require.Equal(t, 2, count())
	var extra int64
	require.NoError(t, s.Pool().QueryRow(ctx, "SELECT extra FROM payout_records LIMIT 1").Scan(&extra))
	require.Equal(t, int64(42), extra)
	v, err = s.Active(ctx, "payout_records")
	require.NoError(t, err)
	require.Equal(t, 2, v)

	require.ErrorIs(t, s.Drop(ctx, "payout_records", 2), projections.ErrInvalidBatch)
	require.NoError(t, s.Drop(ctx, "payout_records", 1))
	require.NoError(t, s.Drop(ctx, "payout_records", 1), "dropping a missing instance is a no-op")
	var tables int
	require.NoError(t, s.Pool().QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'payout_records%_v1'").Scan(&tables))
	require.Zero(t, tables)
	// A dropped version can be built again from scratch.
	rows, cp := loadAll(t, s, v1)
	require.Empty(t, rows)
	require.Zero(t, cp)
	require.Equal(t, 2, count())
}

// Large batches are split into statements of MaxRowsPerStatement rows,
// all in one transaction.
func TestLargeBatches(t *testing.T) {
	s := open(t, pgtest.NewDatabase(t))
	sch := payoutsSchema(1)
	loadAll(t, s, sch)
	const n = 2*postgres.MaxRowsPerStatement + 17
	rows := make([]projections.Row, n)
	for i := range rows {
		rows[i] = payoutRow(i, fmt.Sprintf("%d.%02d", i, i%100))
	}
	start := time.Now()
	require.NoError(t, s.Commit(ctxT(t), projections.Batch{Schema: sch, From: 0, To: 1, Changes: []projections.TableChanges{{Table: "payout_records", Upserts: rows}}}))
	insert := time.Since(start)
	// Replayed unchanged: no row is rewritten.
	start = time.Now()
	require.NoError(t, s.Commit(ctxT(t), projections.Batch{Schema: sch, From: 1, To: 2, Changes: []projections.TableChanges{{Table: "payout_records", Upserts: rows}}}))
	same := time.Since(start)
	var deletes []projections.Key
	for i := 0; i < n; i += 2 {
		deletes = append(deletes, projections.Key{"jd.S1", fmt.Sprintf("P%05d", i)})
	}
	require.NoError(t, s.Commit(ctxT(t), projections.Batch{Schema: sch, From: 2, To: 3, Changes: []projections.TableChanges{{Table: "payout_records", Deletes: deletes}}}))
	got, cp := loadAll(t, s, sch)
	require.Equal(t, uint64(3), cp)
	var want []projections.Row
	for i := 1; i < n; i += 2 {
		want = append(want, rows[i])
	}
	requireRowsEqual(t, want, got["payout_records"])
	t.Logf("%d rows: upsert %s (%.0f rows/s), unchanged re-upsert %s", n, insert, float64(n)/insert.Seconds(), same)
}
