package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/projections"
)

// Load creates the instance's tables on first use and streams its rows to
// fn, then returns the checkpoint. Rows and checkpoint come from one
// snapshot (a repeatable-read transaction), so they agree even while
// another process commits. Errors: ErrInvalidSchema, ErrSchemaMismatch,
// ErrClosed, fn's error as is, or the server's error.
func (s *Store) Load(ctx context.Context, sch *projections.Schema, fn func(table string, row projections.Row) error) (uint64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if err := validate(sch); err != nil {
		return 0, err
	}
	if err := s.ensure(ctx, sch); err != nil {
		return 0, s.wrap("load "+instanceName(sch), err)
	}
	var checkpoint int64
	var fnErr error
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT checkpoint FROM projection_instances WHERE projection = $1 AND version = $2",
			sch.Projection, sch.Version).Scan(&checkpoint); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("%w: %s was dropped while loading", projections.ErrUnknownInstance, instanceName(sch))
			}
			return err
		}
		for i := range sch.Tables {
			t := &sch.Tables[i]
			if err := s.loadTable(ctx, tx, s.statements(sch, t), func(r projections.Row) error {
				if err := fn(t.Name, r); err != nil {
					fnErr = err
					return err
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if fnErr != nil {
		return 0, fnErr
	}
	if err != nil {
		return 0, s.wrap("load "+instanceName(sch), err)
	}
	return uint64(checkpoint), nil
}

// ensure creates the instance (tables and catalogue rows) if it does not
// exist, or checks its shape if it does.
func (s *Store) ensure(ctx context.Context, sch *projections.Schema) error {
	err := checkInstance(ctx, s.pool, sch)
	if !errors.Is(err, projections.ErrUnknownInstance) {
		return err // nil: exists with this shape
	}
	schemaJSON, err := json.Marshal(sch)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// DDL of concurrent processes is serialised; the check is repeated
		// under the lock.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
			return err
		}
		err := checkInstance(ctx, tx, sch)
		if !errors.Is(err, projections.ErrUnknownInstance) {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO projection_instances (projection, version, fingerprint, schema)
			VALUES ($1, $2, $3, $4)`, sch.Projection, sch.Version, sch.Fingerprint(), schemaJSON); err != nil {
			return err
		}
		for i := range sch.Tables {
			t := &sch.Tables[i]
			storage := storageName(t.Name, sch.Version)
			var owner string
			var ownerVersion int32
			err := tx.QueryRow(ctx, "SELECT projection, version FROM projection_tables WHERE storage_name = $1", storage).Scan(&owner, &ownerVersion)
			if err == nil {
				return fmt.Errorf("%w: table %s of %s already belongs to projection %s v%d: table names must be unique across projections",
					projections.ErrInvalidSchema, storage, instanceName(sch), owner, ownerVersion)
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if _, err := tx.Exec(ctx, tableDDL(sch, t)); err != nil {
				var pgErr *pgconn.PgError
				if errors.As(err, &pgErr) && pgErr.Code == "42P07" { // duplicate_table
					return fmt.Errorf("%w: a relation named %s exists and is not %s's: %v", projections.ErrInvalidSchema, storage, instanceName(sch), err)
				}
				return fmt.Errorf("create table %s: %w", storage, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO projection_tables (storage_name, projection, version, table_name, internal)
				VALUES ($1, $2, $3, $4, $5)`, storage, sch.Projection, sch.Version, t.Name, t.Internal); err != nil {
				return err
			}
		}
		return nil
	})
}

// loadTable reads every row of one table in the projection's Go types.
func (s *Store) loadTable(ctx context.Context, tx pgx.Tx, ts *tableSQL, fn func(projections.Row) error) error {
	rows, err := tx.Query(ctx, ts.sel)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols := ts.table.Columns
	dest := make([]any, len(cols))
	texts := make([]pgtype.Text, len(cols))
	ints := make([]pgtype.Int8, len(cols))
	bools := make([]pgtype.Bool, len(cols))
	times := make([]pgtype.Timestamptz, len(cols))
	lists := make([]*[]string, len(cols))
	for i, c := range cols {
		switch c.Type {
		case projections.Int:
			dest[i] = &ints[i]
		case projections.Bool:
			dest[i] = &bools[i]
		case projections.Time:
			dest[i] = &times[i]
		case projections.TextList:
			dest[i] = &lists[i]
		default: // Text, Decimal (selected as text)
			dest[i] = &texts[i]
		}
	}
	for rows.Next() {
		for i := range lists {
			lists[i] = nil
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		row := make(projections.Row, len(cols))
		for i, c := range cols {
			switch c.Type {
			case projections.Text:
				if texts[i].Valid {
					row[i] = texts[i].String
				}
			case projections.Decimal:
				if texts[i].Valid {
					d, err := decimal.NewFromString(texts[i].String)
					if err != nil {
						return fmt.Errorf("%s.%s: %w", ts.table.Name, c.Name, err)
					}
					row[i] = d
				}
			case projections.Int:
				if ints[i].Valid {
					row[i] = ints[i].Int64
				}
			case projections.Bool:
				if bools[i].Valid {
					row[i] = bools[i].Bool
				}
			case projections.Time:
				if times[i].Valid {
					row[i] = times[i].Time.UTC()
				}
			case projections.TextList:
				if lists[i] != nil {
					l := *lists[i]
					if l == nil {
						l = []string{}
					}
					row[i] = l
				}
			}
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return rows.Err()
}
