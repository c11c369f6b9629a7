package projections

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
)

// The embedded store's files are sequences of frames:
//
//	[4 bytes big-endian payload length][4 bytes CRC-32C of the payload][payload]
//
// A payload is one JSON document. A row is a JSON array in column order:
// text and decimals as strings (exact), integers as numbers, booleans,
// times as RFC 3339 strings in UTC with microseconds, lists as arrays of
// strings, NULL as null.

const maxFrame = 64 << 20 // a frame larger than this is corruption, not data

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errTorn: a frame cut short or failing its checksum: the tail of a write
// interrupted by a crash.
var errTorn = errors.New("torn frame")

func appendFrame(buf []byte, payload []byte) []byte {
	var h [8]byte
	binary.BigEndian.PutUint32(h[:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(h[4:], crc32.Checksum(payload, crcTable))
	return append(append(buf, h[:]...), payload...)
}

// frameReader reads frames and counts the bytes of the good ones.
type frameReader struct {
	r   *bufio.Reader
	off int64 // end of the last good frame
}

// next returns the next payload, io.EOF at a clean end, errTorn for a
// partial or corrupt frame.
func (f *frameReader) next() ([]byte, error) {
	var h [8]byte
	n, err := io.ReadFull(f.r, h[:])
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil || n < 8 {
		return nil, errTorn
	}
	size := binary.BigEndian.Uint32(h[:4])
	if size > maxFrame {
		return nil, errTorn
	}
	p := make([]byte, size)
	if _, err := io.ReadFull(f.r, p); err != nil {
		return nil, errTorn
	}
	if crc32.Checksum(p, crcTable) != binary.BigEndian.Uint32(h[4:]) {
		return nil, errTorn
	}
	f.off += 8 + int64(size)
	return p, nil
}

func encodeRow(t *Table, r Row) (json.RawMessage, error) {
	b := make([]byte, 0, 32*len(r))
	b = append(b, '[')
	for i, c := range t.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		v := r[i]
		if v == nil {
			b = append(b, "null"...)
			continue
		}
		switch c.Type {
		case Text:
			b = strconv.AppendQuote(b, v.(string))
		case Int:
			b = strconv.AppendInt(b, v.(int64), 10)
		case Decimal:
			b = strconv.AppendQuote(b, v.(decimal.Decimal).String())
		case Bool:
			b = strconv.AppendBool(b, v.(bool))
		case Time:
			b = strconv.AppendQuote(b, v.(time.Time).UTC().Format(time.RFC3339Nano))
		case TextList:
			lb, err := json.Marshal(v.([]string))
			if err != nil {
				return nil, err
			}
			b = append(b, lb...)
		default:
			return nil, fmt.Errorf("column %s: type %s", c.Name, c.Type)
		}
	}
	return append(b, ']'), nil
}

func encodeKey(t *Table, k Key) (json.RawMessage, error) {
	idx := t.KeyColumns()
	kt := &Table{Name: t.Name, Columns: make([]Column, len(idx))}
	for i, j := range idx {
		kt.Columns[i] = t.Columns[j]
	}
	return encodeRow(kt, Row(k))
}

func decodeRow(t *Table, raw json.RawMessage) (Row, error) {
	var vals []json.RawMessage
	if err := json.Unmarshal(raw, &vals); err != nil {
		return nil, err
	}
	if len(vals) != len(t.Columns) {
		return nil, fmt.Errorf("%s: %d values for %d columns", t.Name, len(vals), len(t.Columns))
	}
	r := make(Row, len(vals))
	for i, c := range t.Columns {
		v, err := decodeValue(c, vals[i])
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t.Name, c.Name, err)
		}
		r[i] = v
	}
	return r, nil
}

func decodeKey(t *Table, raw json.RawMessage) (Key, error) {
	idx := t.KeyColumns()
	kt := &Table{Name: t.Name, Columns: make([]Column, len(idx))}
	for i, j := range idx {
		kt.Columns[i] = t.Columns[j]
	}
	r, err := decodeRow(kt, raw)
	return Key(r), err
}

func decodeValue(c Column, raw json.RawMessage) (any, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	switch c.Type {
	case Text:
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case Int:
		return strconv.ParseInt(string(raw), 10, 64)
	case Decimal:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return decimal.NewFromString(s)
	case Bool:
		var b bool
		err := json.Unmarshal(raw, &b)
		return b, err
	case Time:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return t.UTC(), err
	case TextList:
		l := []string{}
		err := json.Unmarshal(raw, &l)
		if l == nil {
			l = []string{}
		}
		return l, err
	}
	return nil, fmt.Errorf("type %s", c.Type)
}
