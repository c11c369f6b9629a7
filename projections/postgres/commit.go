package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/projections"
)

// MaxRowsPerStatement bounds the rows of one upsert or delete statement
// (the arrays of one round of parameters). Larger changes are split into
// several statements of the same transaction.
const MaxRowsPerStatement = 5000

// maxMoney is the first value numeric(20,2) cannot hold.
var maxMoney = decimal.New(1, 18)

// timestamptz holds 4713 BC to 294276 AD; a year's margin on each side
// keeps the check simple.
var (
	minTime = time.Date(-4712, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(294276, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Commit writes b in one transaction: the checkpoint's compare-and-set
// first (which also locks the instance against concurrent commits), then
// every table's deletes and upserts, pipelined in one round trip. Either
// all of it is committed or nothing is.
//
// Errors: ErrCheckpointConflict (the stored checkpoint is not b.From),
// ErrInvalidBatch (a malformed batch: no schema or an invalid one, a table
// twice, a bad row or key, a key twice; or a value PostgreSQL cannot store
// exactly: a decimal with more than two places or of 10^18 or more, text
// with a NUL byte or invalid UTF-8, a time outside timestamptz's range),
// ErrUnknownInstance, ErrSchemaMismatch (b.Schema is not the shape the
// instance was loaded with), ErrClosed, or the server's error.
func (s *Store) Commit(ctx context.Context, b projections.Batch) error {
	if err := s.check(); err != nil {
		return err
	}
	if b.Schema == nil {
		return fmt.Errorf("%w: no schema", projections.ErrInvalidBatch)
	}
	if err := validate(b.Schema); err != nil {
		return fmt.Errorf("%w: %w", projections.ErrInvalidBatch, err)
	}
	if b.To <= b.From {
		return fmt.Errorf("%w: checkpoint from %d to %d does not advance", projections.ErrInvalidBatch, b.From, b.To)
	}
	if b.To > math.MaxInt64 {
		return fmt.Errorf("%w: checkpoint %d exceeds bigint", projections.ErrInvalidBatch, b.To)
	}
	batch := &pgx.Batch{}
	batch.Queue(`UPDATE projection_instances SET checkpoint = $1, updated_at = now()
		WHERE projection = $2 AND version = $3 AND checkpoint = $4 AND fingerprint = $5`,
		int64(b.To), b.Schema.Projection, b.Schema.Version, int64(b.From), b.Schema.Fingerprint())
	tables := make(map[string]bool, len(b.Changes))
	for _, tc := range b.Changes {
		t := b.Schema.Table(tc.Table)
		if t == nil {
			return fmt.Errorf("%w: %s has no table %q", projections.ErrInvalidBatch, instanceName(b.Schema), tc.Table)
		}
		if tables[tc.Table] {
			return fmt.Errorf("%w: table %s twice in one batch", projections.ErrInvalidBatch, tc.Table)
		}
		tables[tc.Table] = true
		if err := checkChanges(t, tc); err != nil {
			return err
		}
		ts := s.statements(b.Schema, t)
		for start := 0; start < len(tc.Deletes); start += MaxRowsPerStatement {
			end := min(start+MaxRowsPerStatement, len(tc.Deletes))
			batch.Queue(ts.delete, keyArgs(t, ts.keyIdx, tc.Deletes[start:end])...)
		}
		for start := 0; start < len(tc.Upserts); start += MaxRowsPerStatement {
			end := min(start+MaxRowsPerStatement, len(tc.Upserts))
			args, err := rowArgs(t, tc.Upserts[start:end])
			if err != nil {
				return err
			}
			batch.Queue(ts.upsert, args...)
		}
	}

	var casFailed bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		br := tx.SendBatch(ctx, batch)
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return err
		}
		if tag.RowsAffected() != 1 {
			casFailed = true
			br.Close()
			return errCASFailed
		}
		for i := 1; i < batch.Len(); i++ {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return err
			}
		}
		return br.Close()
	})
	if casFailed {
		return s.wrap("commit "+instanceName(b.Schema), s.diagnose(ctx, b))
	}
	return s.wrap("commit "+instanceName(b.Schema), err)
}

var errCASFailed = errors.New("checkpoint compare-and-set failed")

// diagnose says why a commit's compare-and-set matched no row.
func (s *Store) diagnose(ctx context.Context, b projections.Batch) error {
	if err := checkInstance(ctx, s.pool, b.Schema); err != nil {
		return err
	}
	var stored int64
	if err := s.pool.QueryRow(ctx, "SELECT checkpoint FROM projection_instances WHERE projection = $1 AND version = $2",
		b.Schema.Projection, b.Schema.Version).Scan(&stored); err != nil {
		return err
	}
	return fmt.Errorf("%w: stored checkpoint is %d, the batch expects %d", projections.ErrCheckpointConflict, stored, b.From)
}

// checkChanges refuses, before anything is sent, what the contract or
// PostgreSQL would refuse half-way: bad rows and keys, a key twice.
func checkChanges(t *projections.Table, tc projections.TableChanges) error {
	seen := make(map[string]struct{}, len(tc.Upserts)+len(tc.Deletes))
	for _, r := range tc.Upserts {
		if err := t.CheckRow(r); err != nil {
			return err
		}
		if err := storable(t, r); err != nil {
			return err
		}
		k := projections.KeyString(t.KeyOf(r))
		if _, dup := seen[k]; dup {
			return fmt.Errorf("%w: %s: key %q twice in one batch", projections.ErrInvalidBatch, t.Name, k)
		}
		seen[k] = struct{}{}
	}
	for _, k := range tc.Deletes {
		if err := t.CheckKey(k); err != nil {
			return err
		}
		ks := projections.KeyString(k)
		if _, dup := seen[ks]; dup {
			return fmt.Errorf("%w: %s: key %q twice in one batch", projections.ErrInvalidBatch, t.Name, ks)
		}
		seen[ks] = struct{}{}
	}
	return nil
}

// storable checks what PostgreSQL cannot hold exactly in the store's
// column types.
func storable(t *projections.Table, r projections.Row) error {
	for i, c := range t.Columns {
		switch v := r[i].(type) {
		case decimal.Decimal:
			if !v.Equal(v.Truncate(2)) || v.Abs().GreaterThanOrEqual(maxMoney) {
				return fmt.Errorf("%w: %s.%s: %s does not fit numeric(20,2) exactly", projections.ErrInvalidBatch, t.Name, c.Name, v)
			}
		case string:
			if err := storableText(v); err != nil {
				return fmt.Errorf("%w: %s.%s: %v", projections.ErrInvalidBatch, t.Name, c.Name, err)
			}
		case time.Time:
			if v.Before(minTime) || !v.Before(maxTime) {
				return fmt.Errorf("%w: %s.%s: %s is outside timestamptz's range", projections.ErrInvalidBatch, t.Name, c.Name, v)
			}
		case []string:
			for _, s := range v {
				if err := storableText(s); err != nil {
					return fmt.Errorf("%w: %s.%s: %v", projections.ErrInvalidBatch, t.Name, c.Name, err)
				}
			}
		}
	}
	return nil
}

func storableText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("text is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return errors.New("text contains a NUL byte")
	}
	return nil
}

// rowArgs turns rows into one array argument per column.
func rowArgs(t *projections.Table, rows []projections.Row) ([]any, error) {
	args := make([]any, len(t.Columns))
	for i, c := range t.Columns {
		a, err := column(c.Type, len(rows), func(j int) any { return rows[j][i] })
		if err != nil {
			return nil, err
		}
		args[i] = a
	}
	return args, nil
}

// keyArgs turns keys into one array argument per key column.
func keyArgs(t *projections.Table, keyIdx []int, keys []projections.Key) []any {
	args := make([]any, len(keyIdx))
	for i, j := range keyIdx {
		a, _ := column(t.Columns[j].Type, len(keys), func(n int) any { return keys[n][i] }) // keys hold no lists: cannot fail
		args[i] = a
	}
	return args
}

// column builds the array parameter of one column (see arrayType); nil
// values become NULL elements. Values were checked by CheckRow/CheckKey.
func column(ct projections.ColumnType, n int, get func(int) any) (any, error) {
	switch ct {
	case projections.Int:
		out := make([]pgtype.Int8, n)
		for j := range n {
			if v, ok := get(j).(int64); ok {
				out[j] = pgtype.Int8{Int64: v, Valid: true}
			}
		}
		return out, nil
	case projections.Bool:
		out := make([]pgtype.Bool, n)
		for j := range n {
			if v, ok := get(j).(bool); ok {
				out[j] = pgtype.Bool{Bool: v, Valid: true}
			}
		}
		return out, nil
	case projections.Time:
		out := make([]pgtype.Timestamptz, n)
		for j := range n {
			if v, ok := get(j).(time.Time); ok {
				out[j] = pgtype.Timestamptz{Time: v, Valid: true}
			}
		}
		return out, nil
	case projections.Decimal:
		out := make([]pgtype.Text, n)
		for j := range n {
			if v, ok := get(j).(decimal.Decimal); ok {
				out[j] = pgtype.Text{String: v.String(), Valid: true}
			}
		}
		return out, nil
	case projections.TextList:
		out := make([]pgtype.Text, n)
		for j := range n {
			if v, ok := get(j).([]string); ok {
				b, err := json.Marshal(v)
				if err != nil {
					return nil, err
				}
				out[j] = pgtype.Text{String: string(b), Valid: true}
			}
		}
		return out, nil
	default: // Text
		out := make([]pgtype.Text, n)
		for j := range n {
			if v, ok := get(j).(string); ok {
				out[j] = pgtype.Text{String: v, Valid: true}
			}
		}
		return out, nil
	}
}
