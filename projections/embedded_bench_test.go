package projections

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// BenchmarkEmbeddedCommit: one commit as a live feed makes it, a payout
// record row (the widest table) per commit, without fsync so that the
// encoding is what is measured.
func BenchmarkEmbeddedCommit(b *testing.B) {
	s, err := OpenEmbeddedConfig(b.TempDir(), EmbeddedConfig{NoSync: true, CompactAt: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	sc := recordsSchema()
	ctx := context.Background()
	if _, err := s.Load(ctx, sc, func(string, Row) error { return nil }); err != nil {
		b.Fatal(err)
	}
	t := &sc.Tables[0]
	row := make(Row, len(t.Columns))
	at := time.Date(2026, 12, 8, 1, 2, 3, 0, time.UTC)
	for i, c := range t.Columns {
		switch c.Type {
		case Text:
			row[i] = "运费补偿 shipping " + c.Name
		case Int:
			row[i] = int64(i)
		case Decimal:
			row[i] = decimal.RequireFromString("12.34")
		case Bool:
			row[i] = true
		case Time:
			row[i] = at
		case TextList:
			row[i] = []string{"a", "b"}
		}
	}
	if err := t.CheckRow(row); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		row[0] = fmt.Sprint("P", i)
		err := s.Commit(ctx, Batch{Schema: sc, From: uint64(i), To: uint64(i + 1),
			Changes: []TableChanges{{Table: t.Name, Upserts: []Row{row}}}})
		if err != nil {
			b.Fatal(err)
		}
	}
}
