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
	"unicode/utf8"

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

// putFrameHeader fills the first 8 bytes of frame, reserved by its
// builder, with the header of the payload after them.
func putFrameHeader(frame []byte) {
	p := frame[8:]
	binary.BigEndian.PutUint32(frame[:4], uint32(len(p)))
	binary.BigEndian.PutUint32(frame[4:8], crc32.Checksum(p, crcTable))
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
	return appendRow(make([]byte, 0, 32*len(r)), t, r)
}

// appendRow appends r as a JSON array in t's column order.
func appendRow(b []byte, t *Table, r Row) ([]byte, error) {
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
			b = appendString(b, v.(string))
		case Int:
			b = strconv.AppendInt(b, v.(int64), 10)
		case Decimal:
			b = append(b, '"')
			b = append(b, v.(decimal.Decimal).String()...)
			b = append(b, '"')
		case Bool:
			b = strconv.AppendBool(b, v.(bool))
		case Time:
			b = append(b, '"')
			b = v.(time.Time).UTC().AppendFormat(b, time.RFC3339Nano)
			b = append(b, '"')
		case TextList:
			b = append(b, '[')
			for j, s := range v.([]string) {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendString(b, s)
			}
			b = append(b, ']')
		default:
			return nil, fmt.Errorf("column %s: type %s", c.Name, c.Type)
		}
	}
	return append(b, ']'), nil
}

// appendString appends s as a JSON string. strconv.AppendQuote, used here
// before, writes Go escapes JSON does not have (\x01, \a, \v,
// \U000e0001): a merchant's message with such a character made that commit,
// and so the projection, fail for good. Invalid UTF-8 becomes U+FFFD, as
// encoding/json writes it (events decode to valid UTF-8 anyway).
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				start = i + 1
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func encodeKey(t *Table, k Key) (json.RawMessage, error) {
	return appendKey(nil, t, k)
}

// appendKey appends k as a JSON array of t's key columns.
func appendKey(b []byte, t *Table, k Key) ([]byte, error) {
	idx := t.KeyColumns()
	kt := Table{Name: t.Name, Columns: make([]Column, len(idx))}
	for i, j := range idx {
		kt.Columns[i] = t.Columns[j]
	}
	return appendRow(b, &kt, Row(k))
}

// appendRecord appends the log record of b, as json.Marshal(logRecord)
// writes it but without building each row as a json.RawMessage first
// (which encoding/json then scans again to check and compact it).
func appendRecord(buf []byte, b Batch) ([]byte, error) {
	buf = append(buf, `{"from":`...)
	buf = strconv.AppendUint(buf, b.From, 10)
	buf = append(buf, `,"to":`...)
	buf = strconv.AppendUint(buf, b.To, 10)
	if len(b.Changes) > 0 {
		buf = append(buf, `,"c":[`...)
		for i, c := range b.Changes {
			if i > 0 {
				buf = append(buf, ',')
			}
			t := b.Schema.Table(c.Table)
			buf = append(buf, `{"t":`...)
			buf = appendString(buf, c.Table)
			var err error
			if len(c.Upserts) > 0 {
				buf = append(buf, `,"u":[`...)
				for j, r := range c.Upserts {
					if j > 0 {
						buf = append(buf, ',')
					}
					if buf, err = appendRow(buf, t, r); err != nil {
						return nil, err
					}
				}
				buf = append(buf, ']')
			}
			if len(c.Deletes) > 0 {
				buf = append(buf, `,"d":[`...)
				for j, k := range c.Deletes {
					if j > 0 {
						buf = append(buf, ',')
					}
					if buf, err = appendKey(buf, t, k); err != nil {
						return nil, err
					}
				}
				buf = append(buf, ']')
			}
			buf = append(buf, '}')
		}
		buf = append(buf, ']')
	}
	return append(buf, '}'), nil
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
