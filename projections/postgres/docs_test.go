package postgres_test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/projections"
	"github.com/payoutledger/ledger/projections/pgtest"
)

var sqlBlock = regexp.MustCompile("(?s)```sql\n(.*?)```")

// docStatements returns the SQL statements of docs/postgres.md's examples,
// \copy turned into its query; illustrative fragments ("...") and role
// set-up are left out (TestDefaultPrivilegesSurviveTakeover covers it).
func docStatements(t *testing.T) []string {
	b, err := os.ReadFile("../../docs/postgres.md")
	require.NoError(t, err)
	var out []string
	for _, m := range sqlBlock.FindAllStringSubmatch(string(b), -1) {
		block := m[1]
		if strings.Contains(block, "...") || strings.Contains(block, "ROLE") {
			continue
		}
		if strings.HasPrefix(block, `\copy (`) {
			end := strings.LastIndex(block, ") TO ")
			require.Positive(t, end, block)
			block = block[len(`\copy (`):end] + ";"
		}
		for _, stmt := range strings.Split(block, ";\n") {
			if stmt = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(stmt), ";")); stmt != "" {
				out = append(out, stmt)
			}
		}
	}
	return out
}

func TestDocQueriesRun(t *testing.T) {
	s := open(t, pgtest.NewDatabase(t))
	ctx := ctxT(t)
	views := map[string]bool{}
	for _, f := range projections.All() {
		sch := f().Schema()
		_, err := s.Load(ctx, sch, func(string, projections.Row) error { return nil })
		require.NoError(t, err, sch.Projection)
		require.NoError(t, s.Activate(ctx, sch), sch.Projection)
		for _, tb := range sch.Tables {
			if !tb.Internal {
				views[tb.Name] = true
			}
		}
	}
	stmts := docStatements(t)
	require.GreaterOrEqual(t, len(stmts), 7, "the examples were found")
	for _, q := range stmts {
		rows, err := s.Pool().Query(ctx, q)
		require.NoError(t, err, q)
		rows.Close()
		require.NoError(t, rows.Err(), q)
	}

	// The table of views in the docs is the projections' non-internal tables.
	b, err := os.ReadFile("../../docs/postgres.md")
	require.NoError(t, err)
	documentedViews := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| `platform").FindAllStringSubmatch(string(b), -1) {
		documentedViews[m[1]] = true
	}
	require.Equal(t, views, documentedViews, "docs/postgres.md lists every view, and only those")
}

// A read-only role granted SELECT through default privileges keeps it
// across a blue/green takeover (the views are recreated).
func TestDefaultPrivilegesSurviveTakeover(t *testing.T) {
	s := open(t, pgtest.NewDatabase(t))
	ctx := ctxT(t)
	role := fmt.Sprintf("finance_%d", os.Getpid()) // roles are per cluster, databases per test
	_, err := s.Pool().Exec(ctx, "CREATE ROLE "+role)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = s.Pool().Exec(ctx, "DROP OWNED BY "+role)
		_, _ = s.Pool().Exec(ctx, "DROP ROLE "+role)
	})
	_, err = s.Pool().Exec(ctx, "ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT SELECT ON TABLES TO "+role)
	require.NoError(t, err)

	canRead := func() bool {
		var ok bool
		require.NoError(t, s.Pool().QueryRow(ctx, "SELECT has_table_privilege($1, 'payout_records', 'SELECT')", role).Scan(&ok))
		return ok
	}
	for v := 1; v <= 2; v++ {
		sch := payoutsSchema(v)
		loadAll(t, s, sch)
		require.NoError(t, s.Activate(ctx, sch))
		require.True(t, canRead(), "version %d", v)
	}
}
