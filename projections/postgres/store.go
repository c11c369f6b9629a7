// Package postgres is the PostgreSQL read-model store: it implements
// projections.ReadModelStore with plain tables that a SQL user reads
// directly, so that finance teams query the projections with SQL
// (docs/postgres.md has the schema and example queries).
//
// Layout in the database (all in the connection's search_path, normally
// public):
//
//	<table>_v<version>     one table per projection table and version, typed
//	                       columns (money is numeric(20,2), times
//	                       timestamptz, lists text[]), the projection's key
//	                       as primary key, the column docs as comments
//	<table>                a view of the active version's table (Activate
//	                       switches it atomically: blue/green takeover);
//	                       internal tables get no view
//	projection_instances   each instance's schema, fingerprint and
//	                       checkpoint (updated in the transaction that
//	                       writes the rows it describes)
//	projection_tables      which storage table belongs to which instance
//	projection_active      the version each projection's views show
//	schema_migrations      the store's own migrations, applied by Open
//
// Commit is one transaction: a compare-and-set of the checkpoint, then the
// deletes and the upserts, each table's rows sent as arrays in a single
// INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE statement (up to
// MaxRowsPerStatement rows), all pipelined in one round trip.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payoutledger/ledger/projections"
)

// Store is the PostgreSQL ReadModelStore. Safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	closed atomic.Bool

	mu  sync.Mutex
	sql map[string]*tableSQL // storage table name -> its statements
}

var _ projections.ReadModelStore = (*Store)(nil)

// Config of Open. Zero values take the defaults.
type Config struct {
	// DSN: a libpq connection string or URL,
	// e.g. "postgres://ledger@db:5432/readmodels?sslmode=verify-full".
	DSN string
	// MaxConns caps the pool (default: pgxpool's, max(4, CPUs)).
	MaxConns int32
}

// Open connects, applies the store's migrations (idempotent; safe with
// several processes starting at once) and returns the store. Errors: a
// malformed DSN, an unreachable server, or a failed migration.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if cfg.MaxConns > 0 {
		pcfg.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if _, err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool, sql: map[string]*tableSQL{}}, nil
}

// Pool is the store's connection pool, for tools that query the read
// models with SQL. Closed by Close.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool. Later calls return projections.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return projections.ErrClosed
	}
	s.pool.Close()
	return nil
}

func (s *Store) check() error {
	if s.closed.Load() {
		return projections.ErrClosed
	}
	return nil
}

// Active returns the version readers see (0: none yet).
func (s *Store) Active(ctx context.Context, projection string) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	var v int32
	err := s.pool.QueryRow(ctx, "SELECT version FROM projection_active WHERE projection = $1", projection).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, s.wrap("active", err)
	}
	return int(v), nil
}

// Activate makes s's instance the one readers see: in one transaction the
// views of the previously active version are dropped and views named
// after this version's (non-internal) tables are created over them.
// Readers see the old views or the new ones, never a mix. Errors:
// ErrUnknownInstance (never loaded), ErrSchemaMismatch (loaded with another
// shape), ErrInvalidSchema (a view name is taken by another projection's
// table), ErrClosed, or the server's error.
func (s *Store) Activate(ctx context.Context, sch *projections.Schema) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := validate(sch); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
			return err
		}
		if err := checkInstance(ctx, tx, sch); err != nil {
			return err
		}
		// Another projection's active views must not be replaced.
		for _, t := range sch.Tables {
			if t.Internal {
				continue
			}
			var owner string
			err := tx.QueryRow(ctx, `SELECT t.projection FROM projection_tables t
				JOIN projection_active a ON a.projection = t.projection AND a.version = t.version
				WHERE t.table_name = $1 AND NOT t.internal AND t.projection <> $2`, t.Name, sch.Projection).Scan(&owner)
			if err == nil {
				return fmt.Errorf("%w: view %q already shows projection %s's table", projections.ErrInvalidSchema, t.Name, owner)
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		// Drop the views of the version shown so far.
		rows, err := tx.Query(ctx, `SELECT t.table_name FROM projection_tables t
			JOIN projection_active a ON a.projection = t.projection AND a.version = t.version
			WHERE t.projection = $1 AND NOT t.internal`, sch.Projection)
		if err != nil {
			return err
		}
		old, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, name := range old {
			if _, err := tx.Exec(ctx, "DROP VIEW IF EXISTS "+ident(name)); err != nil {
				return err
			}
		}
		for _, t := range sch.Tables {
			if t.Internal {
				continue
			}
			if _, err := tx.Exec(ctx, viewDDL(sch, &t)); err != nil {
				return fmt.Errorf("create view %s: %w", t.Name, err)
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO projection_active (projection, version) VALUES ($1, $2)
			ON CONFLICT (projection) DO UPDATE SET version = EXCLUDED.version, activated_at = now()`,
			sch.Projection, sch.Version)
		return err
	})
	return s.wrap("activate "+instanceName(sch), err)
}

// Drop deletes an instance's tables and catalogue rows. A missing
// instance is a no-op. Errors: ErrInvalidBatch (the version is active),
// ErrClosed, or the server's error.
func (s *Store) Drop(ctx context.Context, projection string, version int) error {
	if err := s.check(); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
			return err
		}
		var active int32
		err := tx.QueryRow(ctx, "SELECT version FROM projection_active WHERE projection = $1", projection).Scan(&active)
		if err == nil && int(active) == version {
			return fmt.Errorf("%w: %s v%d is the active version; activate another one first", projections.ErrInvalidBatch, projection, version)
		}
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT storage_name FROM projection_tables WHERE projection = $1 AND version = $2", projection, version)
		if err != nil {
			return err
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, t := range tables {
			if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+ident(t)); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, "DELETE FROM projection_instances WHERE projection = $1 AND version = $2", projection, version)
		return err
	})
	return s.wrap(fmt.Sprintf("drop %s v%d", projection, version), err)
}

// wrap adds context to a failure, keeping projections' sentinels and
// reporting a pool closed underneath as ErrClosed.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() && !isSentinel(err) {
		return fmt.Errorf("postgres: %s: %w (%v)", op, projections.ErrClosed, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23514" { // check_violation
		return fmt.Errorf("postgres: %s: %w: %v", op, projections.ErrInvalidBatch, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

func isSentinel(err error) bool {
	for _, s := range []error{projections.ErrCheckpointConflict, projections.ErrSchemaMismatch, projections.ErrInvalidSchema,
		projections.ErrInvalidBatch, projections.ErrUnknownInstance, projections.ErrClosed} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
