package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/payoutledger/ledger/projections"
)

// sqlType is the column type the store creates for a projection column
// type. Money is numeric(20,2): exact, two decimals, up to 10^18 - 0.01.
// (Two more digits than the usual numeric(18,2): the conformance suite
// round-trips 123456789012345678.99, beyond float64's exact range.)
func sqlType(t projections.ColumnType) string {
	switch t {
	case projections.Decimal:
		return "numeric(20,2)"
	default:
		return t.SQL() // text, bigint, boolean, timestamptz, text[]
	}
}

// arrayType is the type of the array parameter that carries a column's
// values in a batch statement. Decimals travel as text (exact, no
// float on the way) and lists as JSON text (a text[][] must be
// rectangular, lists are not).
func arrayType(t projections.ColumnType) string {
	switch t {
	case projections.Int:
		return "bigint[]"
	case projections.Bool:
		return "boolean[]"
	case projections.Time:
		return "timestamptz[]"
	default: // Text, Decimal, TextList
		return "text[]"
	}
}

// valueExpr turns the unnested parameter column u into the column's type.
func valueExpr(t projections.ColumnType, u string) string {
	switch t {
	case projections.Decimal:
		return u + "::numeric(20,2)"
	case projections.TextList:
		return "CASE WHEN " + u + " IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(" + u + "::jsonb)) END"
	default:
		return u
	}
}

// reserved names cannot be projection tables: their views would collide
// with the store's catalogue.
var reserved = map[string]bool{
	"schema_migrations": true, "projection_instances": true,
	"projection_tables": true, "projection_active": true,
}

func validate(s *projections.Schema) error {
	if err := s.Validate(); err != nil {
		return err
	}
	for _, t := range s.Tables {
		if reserved[t.Name] {
			return fmt.Errorf("%w: %s: table name %q is reserved by the PostgreSQL store", projections.ErrInvalidSchema, s.Projection, t.Name)
		}
	}
	return nil
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// literal quotes a string for DDL that takes no parameters (COMMENT ON).
func literal(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// storageName is the table holding one version of a projection table.
func storageName(t string, version int) string { return t + "_v" + strconv.Itoa(version) }

func instanceName(s *projections.Schema) string {
	return s.Projection + " v" + strconv.Itoa(s.Version)
}

// tableDDL creates a storage table with its primary key and comments.
func tableDDL(s *projections.Schema, t *projections.Table) string {
	name := ident(storageName(t.Name, s.Version))
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (\n", name)
	for _, c := range t.Columns {
		null := " NOT NULL"
		if c.Nullable {
			null = ""
		}
		fmt.Fprintf(&b, "  %s %s%s,\n", ident(c.Name), sqlType(c.Type), null)
	}
	keys := make([]string, len(t.Key))
	for i, k := range t.Key {
		keys[i] = ident(k)
	}
	fmt.Fprintf(&b, "  PRIMARY KEY (%s)\n);\n", strings.Join(keys, ", "))
	doc := t.Doc
	if doc != "" {
		doc += " "
	}
	fmt.Fprintf(&b, "COMMENT ON TABLE %s IS %s;\n", name, literal(fmt.Sprintf("%s(projection %s, version %d)", doc, s.Projection, s.Version)))
	for _, c := range t.Columns {
		if c.Doc != "" {
			fmt.Fprintf(&b, "COMMENT ON COLUMN %s.%s IS %s;\n", name, ident(c.Name), literal(c.Doc))
		}
	}
	return b.String()
}

// viewDDL creates the reader's view of a table over one version.
func viewDDL(s *projections.Schema, t *projections.Table) string {
	view := ident(t.Name)
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE VIEW %s AS SELECT * FROM %s;\n", view, ident(storageName(t.Name, s.Version)))
	doc := t.Doc
	if doc != "" {
		doc += " "
	}
	fmt.Fprintf(&b, "COMMENT ON VIEW %s IS %s;\n", view, literal(fmt.Sprintf("%s(projection %s, active version %d)", doc, s.Projection, s.Version)))
	for _, c := range t.Columns {
		if c.Doc != "" {
			fmt.Fprintf(&b, "COMMENT ON COLUMN %s.%s IS %s;\n", view, ident(c.Name), literal(c.Doc))
		}
	}
	return b.String()
}

// tableSQL holds the statements of one storage table.
type tableSQL struct {
	table  *projections.Table
	keyIdx []int
	upsert string // $i: the i-th column's values as an array
	delete string // $i: the i-th key column's values as an array
	sel    string // every column, decimals as text
}

func (s *Store) statements(sch *projections.Schema, t *projections.Table) *tableSQL {
	cacheKey := sch.Fingerprint() + "/" + t.Name
	s.mu.Lock()
	defer s.mu.Unlock()
	if ts, ok := s.sql[cacheKey]; ok {
		return ts
	}
	ts := buildSQL(storageName(t.Name, sch.Version), t)
	s.sql[cacheKey] = ts
	return ts
}

func buildSQL(storage string, t *projections.Table) *tableSQL {
	name := ident(storage)
	ts := &tableSQL{table: t, keyIdx: t.KeyColumns()}
	isKey := map[string]bool{}
	for _, k := range t.Key {
		isKey[k] = true
	}
	var cols, params, aliases, exprs, sets, olds, news, sel []string
	for i, c := range t.Columns {
		u := "u.c" + strconv.Itoa(i+1)
		cols = append(cols, ident(c.Name))
		params = append(params, fmt.Sprintf("$%d::%s", i+1, arrayType(c.Type)))
		aliases = append(aliases, "c"+strconv.Itoa(i+1))
		exprs = append(exprs, valueExpr(c.Type, u))
		if !isKey[c.Name] {
			sets = append(sets, fmt.Sprintf("%s = EXCLUDED.%s", ident(c.Name), ident(c.Name)))
			olds = append(olds, "t."+ident(c.Name))
			news = append(news, "EXCLUDED."+ident(c.Name))
		}
		if c.Type == projections.Decimal {
			sel = append(sel, ident(c.Name)+"::text")
		} else {
			sel = append(sel, ident(c.Name))
		}
	}
	keys := make([]string, len(t.Key))
	for i, k := range t.Key {
		keys[i] = ident(k)
	}
	conflict := "DO NOTHING"
	if len(sets) > 0 {
		// An upsert that changes nothing writes nothing (no dead tuple):
		// replays and re-deliveries stay cheap.
		conflict = fmt.Sprintf("DO UPDATE SET %s WHERE (%s) IS DISTINCT FROM (%s)",
			strings.Join(sets, ", "), rowExpr(olds), rowExpr(news))
	}
	ts.upsert = fmt.Sprintf("INSERT INTO %s AS t (%s) SELECT %s FROM unnest(%s) AS u(%s) ON CONFLICT (%s) %s",
		name, strings.Join(cols, ", "), strings.Join(exprs, ", "), strings.Join(params, ", "),
		strings.Join(aliases, ", "), strings.Join(keys, ", "), conflict)

	var kparams, kaliases, conds []string
	for i, j := range ts.keyIdx {
		c := t.Columns[j]
		kparams = append(kparams, fmt.Sprintf("$%d::%s", i+1, arrayType(c.Type)))
		kaliases = append(kaliases, "k"+strconv.Itoa(i+1))
		conds = append(conds, fmt.Sprintf("t.%s = %s", ident(c.Name), valueExpr(c.Type, "d.k"+strconv.Itoa(i+1))))
	}
	ts.delete = fmt.Sprintf("DELETE FROM %s AS t USING unnest(%s) AS d(%s) WHERE %s",
		name, strings.Join(kparams, ", "), strings.Join(kaliases, ", "), strings.Join(conds, " AND "))
	ts.sel = fmt.Sprintf("SELECT %s FROM %s", strings.Join(sel, ", "), name)
	return ts
}

// rowExpr: a one-element "row" is just the value (ROW(x) IS DISTINCT FROM
// ROW(y) works too, but this reads better in logs).
func rowExpr(xs []string) string {
	if len(xs) == 1 {
		return xs[0]
	}
	return "ROW(" + strings.Join(xs, ", ") + ")"
}

// checkInstance verifies that s is stored with this shape.
func checkInstance(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, s *projections.Schema) error {
	var fp string
	err := q.QueryRow(ctx, "SELECT fingerprint FROM projection_instances WHERE projection = $1 AND version = $2",
		s.Projection, s.Version).Scan(&fp)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %s", projections.ErrUnknownInstance, instanceName(s))
	}
	if err != nil {
		return err
	}
	if fp != s.Fingerprint() {
		return fmt.Errorf("%w: %s is stored with other tables or columns (fingerprint %s, given %s); change the version", projections.ErrSchemaMismatch, instanceName(s), fp, s.Fingerprint())
	}
	return nil
}
