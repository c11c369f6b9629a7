package projections

import (
	"fmt"
	"sort"

	"github.com/payoutledger/ledger/domain"
)

// Projector is one projection's read model, held in memory. The runtime
// calls it from one goroutine at a time (Apply and Flush under the
// instance's write lock, queries under its read lock).
//
// A projector is deterministic: its rows depend only on the events applied
// and the rows restored, never on a clock, randomness or map iteration
// order. That is what makes a rebuild equal to the live instance, and a
// restart from a checkpoint equal to a full replay.
type Projector interface {
	// Schema describes the projection's name, version and tables. It must
	// return the same value on every call.
	Schema() *Schema
	// Restore loads one stored row (before any Apply). An error means the
	// stored row cannot be read by this version of the code.
	Restore(table string, row Row) error
	// Apply folds one event into the model, recording the rows it
	// changes. Apply must ignore events it has no use for. An error is a
	// bug or an event the projection cannot interpret: the runtime stops
	// the projection at that event's position and discards the model's
	// uncommitted changes (the model may be half-updated).
	Apply(e domain.Event) error
	// Flush returns the rows changed since the previous Flush (upserts
	// and deletes, each key once) and forgets them. Tables with no change
	// may be omitted.
	Flush() []TableChanges
}

// Factory makes an empty projector of one projection version.
type Factory func() Projector

// table keeps the rows of one table of a projector, indexed by key, and
// the keys changed since the last flush. V is the projection's Go type for
// a row; enc renders it in column order.
type table[V any] struct {
	def   *Table
	rows  map[string]*V
	dirty map[string]Key // key string -> key values (for deletes)
	enc   func(*V) Row
	dec   func(Row) (*V, error)
}

func newTable[V any](def *Table, enc func(*V) Row, dec func(Row) (*V, error)) *table[V] {
	return &table[V]{def: def, rows: map[string]*V{}, dirty: map[string]Key{}, enc: enc, dec: dec}
}

// get returns the row with key k, or nil.
func (t *table[V]) get(k Key) *V { return t.rows[KeyString(k)] }

// at returns the row with key k for update, creating it with mk if it is
// missing, and marks it changed.
func (t *table[V]) at(k Key, mk func() *V) *V {
	ks := KeyString(k)
	v := t.rows[ks]
	if v == nil {
		v = mk()
		t.rows[ks] = v
	}
	t.dirty[ks] = k
	return v
}

// newZero is a constructor for at() when the caller sets the whole row.
func newZero[V any]() *V { return new(V) }

// touch marks an existing row changed (after an update through get).
func (t *table[V]) touch(k Key) {
	ks := KeyString(k)
	if _, ok := t.rows[ks]; ok {
		t.dirty[ks] = k
	}
}

// del removes the row with key k (if any) and records the deletion.
func (t *table[V]) del(k Key) {
	ks := KeyString(k)
	if _, ok := t.rows[ks]; ok {
		delete(t.rows, ks)
		t.dirty[ks] = k
	}
}

func (t *table[V]) restore(r Row) error {
	if err := t.def.CheckRow(r); err != nil {
		return err
	}
	v, err := t.dec(r)
	if err != nil {
		return fmt.Errorf("%s: %w", t.def.Name, err)
	}
	t.rows[KeyString(t.def.KeyOf(r))] = v
	return nil
}

// flush renders the changed rows, in key order (deterministic output).
func (t *table[V]) flush() (TableChanges, bool) {
	if len(t.dirty) == 0 {
		return TableChanges{}, false
	}
	keys := make([]string, 0, len(t.dirty))
	for ks := range t.dirty {
		keys = append(keys, ks)
	}
	sort.Strings(keys)
	c := TableChanges{Table: t.def.Name}
	for _, ks := range keys {
		if v, ok := t.rows[ks]; ok {
			c.Upserts = append(c.Upserts, t.enc(v))
		} else {
			c.Deletes = append(c.Deletes, t.dirty[ks])
		}
	}
	t.dirty = map[string]Key{}
	return c, true
}

// all returns every row, in key order.
func (t *table[V]) all() []*V {
	keys := make([]string, 0, len(t.rows))
	for ks := range t.rows {
		keys = append(keys, ks)
	}
	sort.Strings(keys)
	out := make([]*V, len(keys))
	for i, ks := range keys {
		out[i] = t.rows[ks]
	}
	return out
}

// tableSet is the tables of one projector, for Restore and Flush.
type tableSet struct {
	restore map[string]func(Row) error
	flush   []func() (TableChanges, bool)
}

func addTable[V any](s *tableSet, t *table[V]) *table[V] {
	if s.restore == nil {
		s.restore = map[string]func(Row) error{}
	}
	s.restore[t.def.Name] = t.restore
	s.flush = append(s.flush, t.flush)
	return t
}

func (s *tableSet) Restore(table string, row Row) error {
	f, ok := s.restore[table]
	if !ok {
		return fmt.Errorf("unknown table %q", table)
	}
	return f(row)
}

func (s *tableSet) Flush() []TableChanges {
	var out []TableChanges
	for _, f := range s.flush {
		if c, ok := f(); ok {
			out = append(out, c)
		}
	}
	return out
}

// AsVersion is the projection of f under another version number (same
// logic, same tables, a separate instance in the store). Registered beside
// the current version, it rebuilds the projection from position 0 without
// downtime and takes over when caught up (blue/green): the way to rebuild
// a read model suspected damaged without stopping the queries.
func AsVersion(f Factory, version int) Factory {
	return func() Projector {
		p := f()
		s := *p.Schema()
		s.Version = version
		return &reversioned{Projector: p, schema: &s}
	}
}

type reversioned struct {
	Projector
	schema *Schema
}

func (r *reversioned) Schema() *Schema { return r.schema }

// Unwrap returns the projector under the version change (for queries that
// type-assert the projection's own type).
func (r *reversioned) Unwrap() Projector { return r.Projector }

// Underlying returns p, or what p wraps (AsVersion), so that a query can
// type-assert the projection's own type whatever version serves it.
func Underlying(p Projector) Projector {
	for {
		u, ok := p.(interface{ Unwrap() Projector })
		if !ok {
			return p
		}
		p = u.Unwrap()
	}
}
