package tailguard

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/payoutledger/ledger/eventstore"
)

// FileFormat is the value of the "format" field of a head file. A file of
// another format is refused, never guessed at.
const FileFormat = "payoutledger.tailguard.heads/v1"

// MaxFileBytes bounds the head file Load reads (a head takes about 130
// bytes: a million streams fit in a quarter of it).
const MaxFileBytes = 512 << 20

// ErrMalformed: a head file that is not what Save writes (not JSON, another
// format, a field missing or unknown, a bad hash, a stream twice, trailing
// data, too large). Load refuses it whole: a guard that silently dropped
// heads would stop guarding.
var ErrMalformed = errors.New("tailguard: malformed head file")

// FileStore is the HeadStore of one JSON file. Keep it off the disk that
// holds the event store's data directory (another volume, or a directory
// that is backed up separately): a head file lost or restored together
// with the log it guards proves nothing.
//
// The file is
//
//	{"format": "payoutledger.tailguard.heads/v1",
//	 "heads": [{"stream": "jd.s1", "version": 12, "hash": "<64 hex>"}, ...]}
//
// with heads sorted by stream.
type FileStore struct {
	Path string
}

var _ HeadStore = FileStore{}

type fileHeads struct {
	Format string     `json:"format"`
	Heads  []fileHead `json:"heads"`
}

type fileHead struct {
	Stream  string `json:"stream"`
	Version uint64 `json:"version"`
	Hash    string `json:"hash"`
}

// Load reads the heads saved by Save. A file that does not exist yet is no
// heads and no error (the first start); ErrMalformed (wrapped, with the
// path and the reason) for a file Save did not write; other errors are
// the file system's.
func (f FileStore) Load(ctx context.Context) (map[string]Head, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	file, err := os.Open(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]Head{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tailguard: load heads: %w", err)
	}
	defer file.Close()
	raw, err := io.ReadAll(io.LimitReader(file, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("tailguard: load heads: %w", err)
	}
	heads, err := parseHeads(raw)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrMalformed, f.Path, err)
	}
	return heads, nil
}

// parseHeads is Load's parser. Every refusal is an error, never a panic.
func parseHeads(raw []byte) (map[string]Head, error) {
	if len(raw) > MaxFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", MaxFileBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var doc struct {
		Format *string     `json:"format"`
		Heads  *[]fileHead `json:"heads"`
	}
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	switch {
	case doc.Format == nil:
		return nil, errors.New(`no "format"`)
	case *doc.Format != FileFormat:
		return nil, fmt.Errorf("format %q, want %q", *doc.Format, FileFormat)
	case doc.Heads == nil:
		return nil, errors.New(`no "heads"`)
	}
	heads := make(map[string]Head, len(*doc.Heads))
	for i, fh := range *doc.Heads {
		if fh.Stream == "" {
			return nil, fmt.Errorf("head %d: empty stream name", i)
		}
		if fh.Version == 0 {
			return nil, fmt.Errorf("head %d (%q): version 0", i, fh.Stream)
		}
		h, err := parseHash(fh.Hash)
		if err != nil {
			return nil, fmt.Errorf("head %d (%q): %v", i, fh.Stream, err)
		}
		if _, dup := heads[fh.Stream]; dup {
			return nil, fmt.Errorf("head %d: stream %q twice", i, fh.Stream)
		}
		heads[fh.Stream] = Head{Version: fh.Version, Hash: h}
	}
	return heads, nil
}

// parseHash reads a hash as Hash.String writes it: 64 lower-case hex digits.
func parseHash(s string) (h eventstore.Hash, err error) {
	if len(s) != 2*len(h) || strings.ToLower(s) != s {
		return h, fmt.Errorf("hash %.80q: want %d lower-case hex digits", s, 2*len(h))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("hash %.80q: %v", s, err)
	}
	return h, nil
}

// Save replaces the file with heads, atomically: it writes a temporary
// file in the same directory, fsyncs it, renames it over Path and fsyncs
// the directory, so that after a crash the file holds either the old heads
// or the new ones, whole. Errors are the file system's (or ctx's); the
// temporary file is removed on failure.
func (f FileStore) Save(ctx context.Context, heads map[string]Head) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	doc := fileHeads{Format: FileFormat, Heads: make([]fileHead, 0, len(heads))}
	for stream, h := range heads {
		doc.Heads = append(doc.Heads, fileHead{Stream: stream, Version: h.Version, Hash: h.Hash.String()})
	}
	slices.SortFunc(doc.Heads, func(a, b fileHead) int { return strings.Compare(a.Stream, b.Stream) })
	raw, err := json.MarshalIndent(doc, "", " ")
	if err != nil {
		return fmt.Errorf("tailguard: save heads: %w", err)
	}
	raw = append(raw, '\n')

	dir, base := filepath.Split(f.Path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("tailguard: save heads: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(raw); err != nil {
		return fmt.Errorf("tailguard: save heads: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("tailguard: save heads: fsync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tailguard: save heads: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("tailguard: save heads: %w", err)
	}
	ok = true
	// The rename is durable only once the directory entry is.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("tailguard: save heads: fsync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("tailguard: save heads: fsync directory: %w", err)
	}
	return nil
}
