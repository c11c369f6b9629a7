package projections

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// Snapshot is every row of one projection instance at a checkpoint.
type Snapshot struct {
	Schema     *Schema
	Checkpoint uint64
	Rows       map[string]map[string]Row // table -> KeyString(key) -> row
}

func newSnapshot(s *Schema) *Snapshot {
	sn := &Snapshot{Schema: s, Rows: map[string]map[string]Row{}}
	for _, t := range s.Tables {
		sn.Rows[t.Name] = map[string]Row{}
	}
	return sn
}

// apply folds a projector's flushed changes into the snapshot.
func (sn *Snapshot) apply(changes []TableChanges) {
	for _, c := range changes {
		t := sn.Schema.Table(c.Table)
		for _, k := range c.Deletes {
			delete(sn.Rows[c.Table], KeyString(k))
		}
		for _, r := range c.Upserts {
			sn.Rows[c.Table][KeyString(t.KeyOf(r))] = CloneRow(r)
		}
	}
}

// Count is the number of rows in all tables.
func (sn *Snapshot) Count() int {
	n := 0
	for _, rows := range sn.Rows {
		n += len(rows)
	}
	return n
}

// SnapshotOf renders a projector that was built from nothing (so that
// every row it holds is still unflushed) as a snapshot at checkpoint. It
// flushes the projector.
func SnapshotOf(p Projector, checkpoint uint64) *Snapshot {
	sn := newSnapshot(p.Schema())
	sn.apply(p.Flush())
	sn.Checkpoint = checkpoint
	return sn
}

// ReadSnapshot loads an instance's rows and checkpoint from a store (Load:
// for an instance that does not exist yet, the store creates it empty).
func ReadSnapshot(ctx context.Context, st ReadModelStore, s *Schema) (*Snapshot, error) {
	sn := newSnapshot(s)
	cp, err := st.Load(ctx, s, func(table string, r Row) error {
		t := s.Table(table)
		if t == nil {
			return fmt.Errorf("unknown table %q", table)
		}
		sn.Rows[table][KeyString(t.KeyOf(r))] = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	sn.Checkpoint = cp
	return sn, nil
}

// ReplayAll is a fresh replay, the reference every stored read model is
// compared with: it reads the source from position 1 in pages, decodes
// each event and applies it to a new projector of each factory, in
// memory, with no store, no batching and no runtime. It stops at the end
// of the log, or before the first event for which stop returns true.
// Errors: the source's, a decode error or a projector's error, with the
// position.
func ReplayAll(ctx context.Context, src Source, factories []Factory, stop func(eventstore.RecordedEvent) bool) (map[string]*Snapshot, error) {
	projs := make([]Projector, len(factories))
	out := map[string]*Snapshot{}
	for i, f := range factories {
		projs[i] = f()
		out[projs[i].Schema().Projection] = newSnapshot(projs[i].Schema())
	}
	var last uint64
	for from := uint64(1); ; {
		recs, err := src.ReadAll(ctx, from, 1000)
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			break
		}
		done := false
		for _, r := range recs {
			if stop != nil && stop(r) {
				done = true
				break
			}
			ev, err := handler.Decode(r)
			if err != nil {
				return nil, fmt.Errorf("position %d: %w", r.Position, err)
			}
			for _, p := range projs {
				if err := p.Apply(ev); err != nil {
					return nil, fmt.Errorf("%s at position %d: %w", p.Schema().Projection, r.Position, err)
				}
			}
			last, from = r.Position, r.Position+1
		}
		if done {
			break
		}
	}
	for _, p := range projs {
		sn := out[p.Schema().Projection]
		sn.apply(p.Flush())
		sn.Checkpoint = last
	}
	return out, nil
}

// Difference is one way two snapshots of a projection differ.
type Difference struct {
	Projection string
	Table      string
	Key        string // the row's key values, comma separated
	Column     string // for a value difference
	Kind       string // "checkpoint", "missing" (in a, not b), "extra" (in b, not a), "value"
	A, B       string // the values (rendered)
}

func (d Difference) String() string {
	switch d.Kind {
	case "checkpoint":
		return fmt.Sprintf("%s: checkpoint %s vs %s", d.Projection, d.A, d.B)
	case "missing":
		return fmt.Sprintf("%s.%s [%s]: only in the first: %s", d.Projection, d.Table, d.Key, d.A)
	case "extra":
		return fmt.Sprintf("%s.%s [%s]: only in the second: %s", d.Projection, d.Table, d.Key, d.B)
	}
	return fmt.Sprintf("%s.%s [%s] %s: %s vs %s", d.Projection, d.Table, d.Key, d.Column, d.A, d.B)
}

// Diff lists every difference between two snapshots of one projection
// version: checkpoint, rows only in a, rows only in b, and each column
// that differs (decimals and times compared by value), in table and key
// order.
func Diff(a, b *Snapshot) []Difference {
	s := a.Schema
	var out []Difference
	if a.Checkpoint != b.Checkpoint {
		out = append(out, Difference{Projection: s.Projection, Kind: "checkpoint",
			A: fmt.Sprint(a.Checkpoint), B: fmt.Sprint(b.Checkpoint)})
	}
	for _, t := range s.Tables {
		ra, rb := a.Rows[t.Name], b.Rows[t.Name]
		keys := map[string]bool{}
		for k := range ra {
			keys[k] = true
		}
		for k := range rb {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, ks := range sorted {
			x, inA := ra[ks]
			y, inB := rb[ks]
			key := strings.ReplaceAll(ks, "\x1f", ",")
			switch {
			case !inB:
				out = append(out, Difference{Projection: s.Projection, Table: t.Name, Key: key, Kind: "missing", A: RenderRow(x)})
			case !inA:
				out = append(out, Difference{Projection: s.Projection, Table: t.Name, Key: key, Kind: "extra", B: RenderRow(y)})
			default:
				for i, c := range t.Columns {
					if !EqualValue(x[i], y[i]) {
						out = append(out, Difference{Projection: s.Projection, Table: t.Name, Key: key, Column: c.Name,
							Kind: "value", A: Render(x[i]), B: Render(y[i])})
					}
				}
			}
		}
	}
	return out
}

// EqualValue compares two column values as a store must preserve them:
// decimals by value, times as instants, lists element by element (an
// empty list equals a nil one).
func EqualValue(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case decimal.Decimal:
		y, ok := b.(decimal.Decimal)
		return ok && x.Equal(y)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case []string:
		y, ok := b.([]string)
		return ok && slices.Equal(x, y)
	}
	return a == b
}

// Render shows a value for people (NULL for nil).
func Render(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case []string:
		return "[" + strings.Join(x, " ") + "]"
	case string:
		return fmt.Sprintf("%q", x)
	}
	return fmt.Sprint(v)
}

// RenderRow shows a row for people.
func RenderRow(r Row) string {
	parts := make([]string, len(r))
	for i, v := range r {
		parts[i] = Render(v)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
