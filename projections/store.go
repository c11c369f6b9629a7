package projections

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// This file is the contract between the projection runtime and the stores
// that persist read models (the embedded file store in this package, the
// PostgreSQL store in projections/postgres). It is deliberately small:
//
//	Load      rows and checkpoint of one projection instance (creating its
//	          tables on first use: "migrations applied on start")
//	Commit    changed rows, deleted keys and the new checkpoint, atomically
//	Active    which version of a projection readers see
//	Activate  switch readers to another version (blue/green takeover)
//	Drop      remove a retired version
//
// Every store passes the same conformance suite (projections/storetest),
// which also runs the real projections on the store.
//
// Identity. A projection instance is (Schema.Projection, Schema.Version).
// Two versions of one projection live side by side while the new one is
// built from position 0 (blue/green); they never share tables.
//
// Checkpoint. The global position (eventstore.RecordedEvent.Position) of the
// last event reflected in the instance's committed rows; 0 before any. It
// is written in the same atomic step as the rows it describes, so after a
// crash the rows and the checkpoint always agree, and the runtime skips
// every event at or below it.

// ReadModelStore persists projection instances. Implementations must be
// safe for concurrent use by several goroutines, each working on a
// different instance (the runtime never commits to one instance from two
// goroutines at once).
type ReadModelStore interface {
	// Load prepares the instance's storage (on the first call: creates
	// its tables; a store that keeps a schema catalogue records s there)
	// and reads it back: fn is called once per stored row, in no
	// particular order, with the table name and the row in s's column
	// order; then Load returns the checkpoint (0 for a new instance).
	// fn's error stops Load and is returned as is.
	//
	// Errors: ErrInvalidSchema (s.Validate fails), ErrSchemaMismatch (the
	// instance exists with other tables or columns: a projection that
	// changes its tables must change its version), ErrClosed, or the
	// backend's error.
	Load(ctx context.Context, s *Schema, fn func(table string, row Row) error) (checkpoint uint64, err error)

	// Commit applies b atomically: all of b's deletes and upserts and the
	// move of the checkpoint from b.From to b.To, or nothing. It is a
	// compare-and-set on the checkpoint: if the stored checkpoint is not
	// b.From, nothing is written and the error wraps
	// ErrCheckpointConflict (another writer, or a runtime that missed a
	// commit: both would otherwise apply events twice). Commit returns
	// once the batch is durable by the store's policy.
	//
	// Errors: ErrCheckpointConflict, ErrInvalidBatch (b.To <= b.From, an
	// unknown table, a row whose arity or value types do not match the
	// schema, a key present twice in one TableChanges), ErrUnknownInstance
	// (the instance was never loaded in this store), ErrClosed, or the
	// backend's error.
	Commit(ctx context.Context, b Batch) error

	// Active returns the version of the projection that readers see
	// (0: none yet). Errors: ErrClosed or the backend's error.
	Active(ctx context.Context, projection string) (version int, err error)

	// Activate makes s's instance the one readers see, atomically: in
	// PostgreSQL, the plain views named after the tables now select from
	// this version's tables, in one transaction. The instance must have
	// been loaded. Errors: ErrUnknownInstance, ErrClosed, or the
	// backend's error.
	Activate(ctx context.Context, s *Schema) error

	// Drop deletes an instance's rows, tables and checkpoint. Dropping an
	// instance that does not exist returns nil; dropping the active
	// version is refused. Errors: ErrInvalidBatch (the version is
	// active), ErrClosed, or the backend's error.
	Drop(ctx context.Context, projection string, version int) error

	// Close releases the store. It does not commit anything (the runtime
	// flushes before closing its store). Later calls return ErrClosed.
	Close() error
}

// Batch is one atomic step of an instance: the rows changed since the
// previous commit and the checkpoint they bring the instance to.
type Batch struct {
	Schema  *Schema        // the instance (projection and version) and its tables
	From    uint64         // the checkpoint the store must hold (compare-and-set)
	To      uint64         // the new checkpoint, > From
	Changes []TableChanges // may be empty: a checkpoint-only commit
}

// TableChanges are the changes of one table in a batch. Within one
// TableChanges a key appears at most once (in Upserts or in Deletes). A
// batch applies its TableChanges in order (the runtime sends each table
// at most once per batch).
type TableChanges struct {
	Table   string
	Upserts []Row // whole rows in column order: inserted, or replacing the row with the same key
	Deletes []Key // primary-key values in Table.Key order; deleting a missing row is a no-op
}

// Row is one row in its table's column order. Values are, by ColumnType:
//
//	Text     string
//	Int      int64
//	Decimal  decimal.Decimal   (compared by value: "12.5" equals "12.50")
//	Bool     bool
//	Time     time.Time, in UTC, truncated to the microsecond (what a
//	         PostgreSQL timestamptz keeps, so every store returns the
//	         same instant)
//	TextList []string          (non-nil; an empty list is []string{})
//
// and nil for NULL, allowed only in a Nullable column. Stores return rows
// with exactly these Go types.
type Row []any

// Key is the primary-key values of a row, in Table.Key order.
type Key []any

// ColumnType is the type of a column. The names are the PostgreSQL types
// the PostgreSQL store creates (ColumnType.SQL).
type ColumnType string

const (
	Text     ColumnType = "text"
	Int      ColumnType = "bigint"
	Decimal  ColumnType = "numeric"
	Bool     ColumnType = "boolean"
	Time     ColumnType = "timestamptz"
	TextList ColumnType = "text[]"
)

// SQL is the PostgreSQL type of the column type.
func (t ColumnType) SQL() string { return string(t) }

// Column is one column of a table.
type Column struct {
	Name     string
	Type     ColumnType
	Nullable bool
	Doc      string // one line for docs/projections.md and SQL comments
}

// Table describes one table of a projection: plain columns and a primary
// key, so that the PostgreSQL store creates a table a SQL user reads
// directly.
type Table struct {
	Name    string
	Columns []Column
	Key     []string // primary-key column names, in order
	Doc     string
	// Internal marks bookkeeping the projection needs to apply later
	// events (for instance the payouts still in flight) but that is not a
	// read model itself. Stored and committed like the others.
	Internal bool
}

// Schema describes a projection instance: its name, its version and its
// tables. A projection that changes its tables or what its rows mean
// bumps Version, and is then rebuilt beside the old version (blue/green).
type Schema struct {
	Projection string
	Version    int
	Tables     []Table
}

// Errors of ReadModelStore. Implementations wrap them with %w.
var (
	// ErrCheckpointConflict: a Commit's From is not the stored checkpoint.
	ErrCheckpointConflict = errors.New("projections: checkpoint conflict")
	// ErrSchemaMismatch: an instance is stored with another schema.
	ErrSchemaMismatch = errors.New("projections: schema mismatch")
	// ErrInvalidSchema: a Schema that fails Validate.
	ErrInvalidSchema = errors.New("projections: invalid schema")
	// ErrInvalidBatch: a malformed Commit or Drop.
	ErrInvalidBatch = errors.New("projections: invalid batch")
	// ErrUnknownInstance: Commit or Activate on an instance never loaded.
	ErrUnknownInstance = errors.New("projections: unknown projection instance")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("projections: store closed")
)

// identifier: valid as an unquoted SQL identifier and as part of a file
// name, with room for a "_v<version>" suffix within PostgreSQL's 63 bytes.
var identifier = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)

// Validate checks the names, types and keys of a schema.
func (s *Schema) Validate() error {
	if s == nil {
		return fmt.Errorf("%w: nil schema", ErrInvalidSchema)
	}
	if !identifier.MatchString(s.Projection) {
		return fmt.Errorf("%w: projection name %q", ErrInvalidSchema, s.Projection)
	}
	if s.Version < 1 {
		return fmt.Errorf("%w: %s: version %d < 1", ErrInvalidSchema, s.Projection, s.Version)
	}
	if len(s.Tables) == 0 {
		return fmt.Errorf("%w: %s: no tables", ErrInvalidSchema, s.Projection)
	}
	tables := map[string]bool{}
	for _, t := range s.Tables {
		if !identifier.MatchString(t.Name) || tables[t.Name] {
			return fmt.Errorf("%w: %s: table name %q invalid or repeated", ErrInvalidSchema, s.Projection, t.Name)
		}
		tables[t.Name] = true
		cols := map[string]Column{}
		for _, c := range t.Columns {
			if !identifier.MatchString(c.Name) || cols[c.Name].Name != "" {
				return fmt.Errorf("%w: %s.%s: column name %q invalid or repeated", ErrInvalidSchema, s.Projection, t.Name, c.Name)
			}
			switch c.Type {
			case Text, Int, Decimal, Bool, Time, TextList:
			default:
				return fmt.Errorf("%w: %s.%s.%s: type %q", ErrInvalidSchema, s.Projection, t.Name, c.Name, c.Type)
			}
			cols[c.Name] = c
		}
		if len(t.Key) == 0 {
			return fmt.Errorf("%w: %s.%s: no primary key", ErrInvalidSchema, s.Projection, t.Name)
		}
		seen := map[string]bool{}
		for _, k := range t.Key {
			c, ok := cols[k]
			if !ok || seen[k] || c.Nullable || c.Type == TextList {
				return fmt.Errorf("%w: %s.%s: key column %q missing, repeated, nullable or a list", ErrInvalidSchema, s.Projection, t.Name, k)
			}
			seen[k] = true
		}
	}
	return nil
}

// Table returns the named table (nil if the schema has none).
func (s *Schema) Table(name string) *Table {
	for i := range s.Tables {
		if s.Tables[i].Name == name {
			return &s.Tables[i]
		}
	}
	return nil
}

// Fingerprint identifies the stored shape of the schema (projection,
// version, tables, columns, types, nullability, keys; not the docs), so
// that a store can refuse to load an instance whose shape changed without
// a new version (ErrSchemaMismatch).
func (s *Schema) Fingerprint() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%d", s.Projection, s.Version)
	for _, t := range s.Tables {
		fmt.Fprintf(&b, "|%s(", t.Name)
		for _, c := range t.Columns {
			fmt.Fprintf(&b, "%s %s %t,", c.Name, c.Type, c.Nullable)
		}
		fmt.Fprintf(&b, ") key(%s) internal=%t", strings.Join(t.Key, ","), t.Internal)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:12])
}

// KeyColumns returns the positions of the key columns in the table's
// column order.
func (t *Table) KeyColumns() []int {
	out := make([]int, len(t.Key))
	for i, k := range t.Key {
		for j, c := range t.Columns {
			if c.Name == k {
				out[i] = j
			}
		}
	}
	return out
}

// KeyOf extracts a row's key.
func (t *Table) KeyOf(r Row) Key {
	idx := t.KeyColumns()
	k := make(Key, len(idx))
	for i, j := range idx {
		k[i] = r[j]
	}
	return k
}

// CheckRow verifies that r fits the table: arity, Go types, NULLs only in
// nullable columns, times in UTC at microsecond precision. Stores call it
// on every upsert (ErrInvalidBatch).
func (t *Table) CheckRow(r Row) error {
	if len(r) != len(t.Columns) {
		return fmt.Errorf("%w: %s: row has %d values, table has %d columns", ErrInvalidBatch, t.Name, len(r), len(t.Columns))
	}
	for i, c := range t.Columns {
		if err := checkValue(c, r[i]); err != nil {
			return fmt.Errorf("%w: %s.%s: %v", ErrInvalidBatch, t.Name, c.Name, err)
		}
	}
	return nil
}

// CheckKey verifies that k fits the table's primary key.
func (t *Table) CheckKey(k Key) error {
	idx := t.KeyColumns()
	if len(k) != len(idx) {
		return fmt.Errorf("%w: %s: key has %d values, primary key has %d columns", ErrInvalidBatch, t.Name, len(k), len(idx))
	}
	for i, j := range idx {
		if err := checkValue(t.Columns[j], k[i]); err != nil {
			return fmt.Errorf("%w: %s key %s: %v", ErrInvalidBatch, t.Name, t.Columns[j].Name, err)
		}
	}
	return nil
}

func checkValue(c Column, v any) error {
	if v == nil {
		if !c.Nullable {
			return errors.New("NULL in a NOT NULL column")
		}
		return nil
	}
	ok := false
	switch c.Type {
	case Text:
		_, ok = v.(string)
	case Int:
		_, ok = v.(int64)
	case Decimal:
		_, ok = v.(decimal.Decimal)
	case Bool:
		_, ok = v.(bool)
	case Time:
		var tm time.Time
		if tm, ok = v.(time.Time); ok && (tm.Location() != time.UTC || tm.Nanosecond()%1000 != 0) {
			return fmt.Errorf("time %s is not UTC at microsecond precision (use projections.UTC)", tm)
		}
	case TextList:
		var l []string
		if l, ok = v.([]string); ok && l == nil {
			return errors.New("nil list (use []string{})")
		}
	}
	if !ok {
		return fmt.Errorf("value %T for a %s column", v, c.Type)
	}
	return nil
}

// UTC normalises an instant for a Time column: UTC, truncated to the
// microsecond.
func UTC(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// UTCPtr is UTC for a nullable Time column: nil stays NULL.
func UTCPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return UTC(*t)
}

// KeyString renders a key as a map key (values are separated by a byte
// that cannot appear in IDs; stores and projections use it to index rows).
func KeyString(k Key) string {
	var b strings.Builder
	for i, v := range k {
		if i > 0 {
			b.WriteByte(0x1f)
		}
		switch x := v.(type) {
		case string:
			b.WriteString(x)
		case time.Time:
			b.WriteString(x.UTC().Format(time.RFC3339Nano))
		case decimal.Decimal:
			b.WriteString(x.String())
		default:
			fmt.Fprint(&b, x)
		}
	}
	return b.String()
}

// Check verifies a batch against its schema, as every store must before
// writing anything: To > From, known tables, rows and keys that fit, each
// key at most once per table. Errors wrap ErrInvalidBatch.
func (b Batch) Check() error {
	if b.Schema == nil {
		return fmt.Errorf("%w: no schema", ErrInvalidBatch)
	}
	if b.To <= b.From {
		return fmt.Errorf("%w: %s v%d: checkpoint %d -> %d does not advance", ErrInvalidBatch, b.Schema.Projection, b.Schema.Version, b.From, b.To)
	}
	for _, c := range b.Changes {
		t := b.Schema.Table(c.Table)
		if t == nil {
			return fmt.Errorf("%w: %s v%d: unknown table %q", ErrInvalidBatch, b.Schema.Projection, b.Schema.Version, c.Table)
		}
		keys := map[string]bool{}
		for _, r := range c.Upserts {
			if err := t.CheckRow(r); err != nil {
				return err
			}
			ks := KeyString(t.KeyOf(r))
			if keys[ks] {
				return fmt.Errorf("%w: %s: key %q twice in one batch", ErrInvalidBatch, t.Name, ks)
			}
			keys[ks] = true
		}
		for _, k := range c.Deletes {
			if err := t.CheckKey(k); err != nil {
				return err
			}
			ks := KeyString(k)
			if keys[ks] {
				return fmt.Errorf("%w: %s: key %q twice in one batch", ErrInvalidBatch, t.Name, ks)
			}
			keys[ks] = true
		}
	}
	return nil
}

// CloneRow copies a row, including its lists, so that a store never
// shares memory with its caller.
func CloneRow(r Row) Row {
	out := make(Row, len(r))
	for i, v := range r {
		if l, ok := v.([]string); ok {
			v = append([]string{}, l...)
		}
		out[i] = v
	}
	return out
}
