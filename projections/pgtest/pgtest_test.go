package pgtest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/projections/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestNewDatabaseIsFreshAndUsable(t *testing.T) {
	a, b := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	require.NotEqual(t, a, b)
	t.Logf("shared cluster started in %s", pgtest.StartupTime())

	ca, err := pgx.Connect(ctx(t), a)
	require.NoError(t, err)
	defer ca.Close(ctx(t))
	_, err = ca.Exec(ctx(t), "CREATE TABLE x (id bigint PRIMARY KEY, amount numeric(18,2))")
	require.NoError(t, err)
	_, err = ca.Exec(ctx(t), "INSERT INTO x VALUES (1, 12.5)")
	require.NoError(t, err)
	var amount string
	require.NoError(t, ca.QueryRow(ctx(t), "SELECT amount::text FROM x").Scan(&amount))
	require.Equal(t, "12.50", amount)

	cb, err := pgx.Connect(ctx(t), b)
	require.NoError(t, err)
	defer cb.Close(ctx(t))
	var n int
	require.NoError(t, cb.QueryRow(ctx(t), "SELECT count(*) FROM pg_tables WHERE tablename = 'x'").Scan(&n))
	require.Zero(t, n, "databases are isolated")

	var fsync string
	require.NoError(t, cb.QueryRow(ctx(t), "SHOW fsync").Scan(&fsync))
	require.Equal(t, "off", fsync)
}

func TestPrivateClusterIsRemovedOnStop(t *testing.T) {
	c, err := pgtest.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop() })
	_, err = os.Stat(filepath.Join(c.Dir, "data", "PG_VERSION"))
	require.NoError(t, err)

	conn, err := pgx.Connect(ctx(t), c.DSN("postgres"))
	require.NoError(t, err)
	var version string
	require.NoError(t, conn.QueryRow(ctx(t), "SHOW server_version_num").Scan(&version))
	require.NotEmpty(t, version)
	conn.Close(ctx(t))

	require.NoError(t, c.Stop())
	require.NoError(t, c.Stop(), "Stop twice is harmless")
	_, err = os.Stat(c.Dir)
	require.True(t, os.IsNotExist(err), "the cluster directory is removed: %v", err)
	_, err = pgx.Connect(ctx(t), c.DSN("postgres"))
	require.Error(t, err, "the server is gone")
}
