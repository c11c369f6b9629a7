package projections

import (
	"fmt"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/domain"
)

// Helpers shared by the projections: column constructors, typed access to
// rows (validated by Table.CheckRow before decoding, so the assertions
// hold), shop references and local days.

func col(name string, t ColumnType, doc string) Column { return Column{Name: name, Type: t, Doc: doc} }

func nullCol(name string, t ColumnType, doc string) Column {
	return Column{Name: name, Type: t, Nullable: true, Doc: doc}
}

// shopCols are the leading key columns of every table: the shop.
func shopCols() []Column {
	return []Column{
		col("platform", Text, "platform profile: 1688, douyin, jd, pdd, taobao"),
		col("shop_id", Text, "the shop's ID on its platform"),
	}
}

func cols(groups ...[]Column) []Column {
	var out []Column
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func str(r Row, i int) string          { return r[i].(string) }
func i64(r Row, i int) int64           { return r[i].(int64) }
func dec(r Row, i int) decimal.Decimal { return r[i].(decimal.Decimal) }
func boolean(r Row, i int) bool        { return r[i].(bool) }
func tm(r Row, i int) time.Time        { return r[i].(time.Time) }
func list(r Row, i int) []string       { return append([]string{}, r[i].([]string)...) }

// listOrEmpty copies a list for a TextList column (never nil).
func listOrEmpty(l []string) []string { return append([]string{}, l...) }

// decOrNil renders a nullable Decimal column.
func decOrNil(d *decimal.Decimal) any {
	if d == nil {
		return nil
	}
	return *d
}

// intOrNil renders a nullable Int column.
func intOrNil(n *int) any {
	if n == nil {
		return nil
	}
	return int64(*n)
}

// tmOrNil renders a nullable Time column.
func tmOrNil(t *time.Time) any { return UTCPtr(t) }

func keyOf(s domain.ShopRef, k ...any) Key {
	return append(Key{string(s.Platform), s.ShopID}, k...)
}

func decPtr(r Row, i int) *decimal.Decimal {
	if r[i] == nil {
		return nil
	}
	d := r[i].(decimal.Decimal)
	return &d
}

func intPtr(r Row, i int) *int {
	if r[i] == nil {
		return nil
	}
	n := int(r[i].(int64))
	return &n
}

func tmPtr(r Row, i int) *time.Time {
	if r[i] == nil {
		return nil
	}
	t := r[i].(time.Time)
	return &t
}

func refOf(r Row) domain.ShopRef {
	return domain.ShopRef{Platform: domain.PlatformID(str(r, 0)), ShopID: str(r, 1)}
}

// shopOf reads an event's shop from its stream name.
func shopOf(e domain.Event) (domain.ShopRef, error) {
	ref, ok := domain.ParseStream(e.Stream)
	if !ok {
		return domain.ShopRef{}, fmt.Errorf("stream %q is not a shop stream", e.Stream)
	}
	return ref, nil
}

var zones sync.Map // time zone name -> *time.Location

// zone loads a shop's time zone as the domain does (default Asia/Shanghai;
// an unloadable zone, which the decision would have refused, falls back
// to China Standard Time).
func zone(name string) *time.Location {
	if name == "" {
		name = domain.DefaultTimeZone
	}
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		l = time.FixedZone("CST", 8*3600)
	}
	zones.Store(name, l)
	return l
}

// localDay is the calendar day of t in the zone ("2006-01-02").
func localDay(t time.Time, tz string) string { return t.In(zone(tz)).Format("2006-01-02") }
