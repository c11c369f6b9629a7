package projections

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// Every string the embedded store writes must be JSON that decodes to the
// same string: every byte 0-127 and runes strconv.Quote writes in Go's
// own escapes.
func TestAppendStringIsJSONThatDecodesToTheSameString(t *testing.T) {
	cases := []string{"", "plain", "中文 退款", "\u2028\u2029", "\U000e0001", "\U000f0000", "\ufffd", "<&>", `"\`}
	var all strings.Builder
	for c := 0; c < 128; c++ {
		all.WriteByte(byte(c))
		cases = append(cases, string(rune(c)), "a"+string(rune(c))+"中")
	}
	cases = append(cases, all.String())
	rnd := rand.New(rand.NewPCG(8, 8))
	pool := []rune{0, 1, 7, 9, 10, 11, 13, 27, 31, '"', '\\', '/', 'a', 127, 0x80, 0xe9, 0x4e2d, 0x2028, 0xfeff, 0xe0001, 0x10ffff}
	for i := 0; i < 2000; i++ {
		r := make([]rune, rnd.IntN(12))
		for j := range r {
			r[j] = pool[rnd.IntN(len(pool))]
		}
		cases = append(cases, string(r))
	}
	for _, s := range cases {
		b := appendString(nil, s)
		require.True(t, json.Valid(b), "%q -> %s", s, b)
		var got string
		require.NoError(t, json.Unmarshal(b, &got))
		require.Equal(t, s, got)
	}
}

func TestAppendStringReplacesInvalidUTF8AsEncodingJSONDoes(t *testing.T) {
	for _, s := range []string{"\xff", "a\xfe\xffb", "\xe4\xb8", "ok\xc0"} {
		require.False(t, utf8.ValidString(s))
		want, err := json.Marshal(s)
		require.NoError(t, err)
		var w, g string
		require.NoError(t, json.Unmarshal(want, &w))
		require.NoError(t, json.Unmarshal(appendString(nil, s), &g))
		require.Equal(t, w, g, "%q", s)
	}
}

// appendRecord writes what json.Marshal(logRecord) wrote before, read back
// by the same decoder.
func TestAppendRecordDecodesLikeTheLogRecord(t *testing.T) {
	sc := &Schema{Projection: "rec", Version: 1, Tables: []Table{
		{Name: "a", Key: []string{"id"}, Columns: []Column{
			{Name: "id", Type: Text}, {Name: "n", Type: Int}, {Name: "d", Type: Decimal}, {Name: "ok", Type: Bool},
			{Name: "at", Type: Time}, {Name: "tags", Type: TextList}, {Name: "note", Type: Text, Nullable: true}}},
		{Name: "b", Key: []string{"x", "y"}, Columns: []Column{{Name: "x", Type: Text}, {Name: "y", Type: Int}}},
	}}
	at := time.Date(2026, 12, 8, 1, 2, 3, 456789000, time.UTC)
	b := Batch{Schema: sc, From: 7, To: 19, Changes: []TableChanges{
		{Table: "a", Upserts: []Row{
			{"p1", int64(-5), decimal.RequireFromString("12.50"), true, at, []string{"x", "\x01"}, nil},
			{"p2\a", int64(1 << 60), decimal.RequireFromString("-0.01"), false, at.Add(time.Hour), []string{}, "中\v"},
		}, Deletes: []Key{{"gone"}}},
		{Table: "b", Deletes: []Key{{"s", int64(3)}, {"t", int64(4)}}},
	}}
	require.NoError(t, b.Check())
	p, err := appendRecord(nil, b)
	require.NoError(t, err)
	var rec logRecord
	require.NoError(t, json.Unmarshal(p, &rec), "%s", p)
	require.Equal(t, uint64(7), rec.From)
	require.Equal(t, uint64(19), rec.To)
	require.Len(t, rec.Changes, 2)
	for i, c := range b.Changes {
		lc := rec.Changes[i]
		require.Equal(t, c.Table, lc.Table)
		tb := sc.Table(c.Table)
		require.Len(t, lc.Upserts, len(c.Upserts))
		for j, raw := range lc.Upserts {
			r, err := decodeRow(tb, raw)
			require.NoError(t, err)
			require.Equal(t, KeyString(tb.KeyOf(c.Upserts[j])), KeyString(tb.KeyOf(r)))
			for k := range r {
				if dv, ok := r[k].(decimal.Decimal); ok {
					require.True(t, dv.Equal(c.Upserts[j][k].(decimal.Decimal)))
					continue
				}
				require.Equal(t, c.Upserts[j][k], r[k])
			}
		}
		require.Len(t, lc.Deletes, len(c.Deletes))
		for j, raw := range lc.Deletes {
			k, err := decodeKey(tb, raw)
			require.NoError(t, err)
			require.Equal(t, c.Deletes[j], k)
		}
	}
	// Empty changes are left out as encoding/json's omitempty left them.
	empty, err := appendRecord(nil, Batch{Schema: sc, From: 1, To: 2})
	require.NoError(t, err)
	require.Equal(t, `{"from":1,"to":2}`, string(empty))
}
