package projections

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// EmbeddedStore is the default ReadModelStore: files in one directory, no
// server. Each projection instance is a snapshot file and an append-only
// log:
//
//	<dir>/<projection>.v<version>.snap   all rows at one checkpoint (written whole: temp, fsync, rename)
//	<dir>/<projection>.v<version>.log    the commits after it, one framed record each (append, fsync)
//	<dir>/active.json                    the active version of each projection (temp, fsync, rename)
//	<dir>/views.lock                     one process per directory (flock)
//
// Why a log and not one file rewritten per commit: a commit then costs
// what changed (a few rows and the checkpoint, one write and one fsync),
// not the size of the read model; the snapshot is rewritten only when the
// log has grown past twice its size (CompactAt at least), so the cost of
// rewriting is amortised to a constant per byte committed.
//
// Atomicity: one commit is one frame (length, CRC-32C, JSON), written with
// one write call and fsynced before Commit returns. A crash in the middle
// leaves a frame that is short or fails its checksum at the end of the
// log; Load drops it (and anything after it), so the instance is at the
// previous commit with exactly that commit's rows. Rows and checkpoint
// travel in the same frame: they cannot disagree.
type EmbeddedStore struct {
	dir    string
	cfg    EmbeddedConfig
	unlock func()

	mu     sync.Mutex
	closed bool
	insts  map[instanceKey]*fileInstance
	active map[string]int
}

// EmbeddedConfig tunes an EmbeddedStore. Zero values take the defaults.
type EmbeddedConfig struct {
	// CompactAt: the log is folded into a new snapshot once it is larger
	// than this and than twice the snapshot (default 8 MiB).
	CompactAt int64
	// NoSync skips fsync. A killed process still loses nothing it
	// committed (the writes reached the operating system); an OS crash or
	// power loss may lose the last commits (then replayed from the event
	// log, so the read model stays correct). For tests and throwaway
	// rebuilds.
	NoSync bool
}

type fileInstance struct {
	mu          sync.Mutex
	schema      *Schema
	fingerprint string
	base        string // path without extension
	checkpoint  uint64
	log         *os.File // nil when broken (a failed write): Load again
	logSize     int64
	snapSize    int64
	compactAt   int64
	frameBuf    []byte // Commit's frame, reused under mu
}

// maxKeptFrameBuf: a commit's frame buffer larger than this (a replay's
// big batch) is not kept for the next commit.
const maxKeptFrameBuf = 1 << 20

// logHeader opens every log file.
type logHeader struct {
	Format      int    `json:"format"`
	Fingerprint string `json:"fingerprint"`
	Base        uint64 `json:"base"` // the checkpoint of the snapshot the log continues
}

// logRecord is one commit.
type logRecord struct {
	From    uint64      `json:"from"`
	To      uint64      `json:"to"`
	Changes []logChange `json:"c,omitempty"`
}

type logChange struct {
	Table   string            `json:"t"`
	Upserts []json.RawMessage `json:"u,omitempty"`
	Deletes []json.RawMessage `json:"d,omitempty"`
}

// snapFrame is one frame of a snapshot: the header, a chunk of rows, or
// the end marker.
type snapFrame struct {
	Format      int               `json:"format,omitempty"`
	Projection  string            `json:"projection,omitempty"`
	Version     int               `json:"version,omitempty"`
	Fingerprint string            `json:"fingerprint,omitempty"`
	Checkpoint  uint64            `json:"checkpoint,omitempty"`
	Table       string            `json:"t,omitempty"`
	Rows        []json.RawMessage `json:"rows,omitempty"`
	End         bool              `json:"end,omitempty"`
	Count       int               `json:"count,omitempty"`
}

const embeddedFormat = 1

// ErrCorrupt: a snapshot or log of the embedded store is damaged in a way a
// crash cannot produce (a broken snapshot, a log that does not follow its
// snapshot). The read model is derived data: deleting the instance's
// files makes the runtime rebuild it from the event log.
var ErrCorrupt = errors.New("projections: embedded store file damaged")

// OpenEmbedded opens (creating it if needed) an embedded store in dir,
// locking the directory for this process. Errors: the directory is locked
// by another process, unreadable, or active.json is damaged.
func OpenEmbedded(dir string) (*EmbeddedStore, error) {
	return OpenEmbeddedConfig(dir, EmbeddedConfig{})
}

// OpenEmbeddedConfig is OpenEmbedded with a configuration.
func OpenEmbeddedConfig(dir string, cfg EmbeddedConfig) (*EmbeddedStore, error) {
	if cfg.CompactAt <= 0 {
		cfg.CompactAt = 8 << 20
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &EmbeddedStore{dir: dir, cfg: cfg, unlock: unlock, insts: map[instanceKey]*fileInstance{}, active: map[string]int{}}
	b, err := os.ReadFile(filepath.Join(dir, "active.json"))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		unlock()
		return nil, err
	default:
		if err := json.Unmarshal(b, &s.active); err != nil {
			unlock()
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, filepath.Join(dir, "active.json"), err)
		}
	}
	return s, nil
}

// Dir is the store's directory.
func (s *EmbeddedStore) Dir() string { return s.dir }

func (s *EmbeddedStore) instance(k instanceKey) (*fileInstance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	return s.insts[k], nil
}

// Load implements ReadModelStore: it reads the snapshot and the log,
// drops a torn tail, creates the files of a new instance, and compacts a
// log that has grown large.
func (s *EmbeddedStore) Load(ctx context.Context, sc *Schema, fn func(string, Row) error) (uint64, error) {
	if err := sc.Validate(); err != nil {
		return 0, err
	}
	k := instanceKey{sc.Projection, sc.Version}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	in := s.insts[k]
	if in == nil {
		in = &fileInstance{base: filepath.Join(s.dir, fmt.Sprintf("%s.v%d", sc.Projection, sc.Version))}
		s.insts[k] = in
	}
	s.mu.Unlock()

	in.mu.Lock()
	defer in.mu.Unlock()
	if in.log != nil {
		_ = in.log.Close()
		in.log = nil
	}
	in.schema, in.fingerprint, in.compactAt = sc, sc.Fingerprint(), s.cfg.CompactAt
	state, err := s.readState(in)
	if err != nil {
		return 0, err
	}
	if in.logSize > max(in.compactAt, 2*in.snapSize) {
		if err := s.compact(in, state); err != nil {
			return 0, err
		}
	}
	for _, t := range sc.Tables {
		rows := state[t.Name]
		keys := make([]string, 0, len(rows))
		for ks := range rows {
			keys = append(keys, ks)
		}
		sort.Strings(keys)
		for _, ks := range keys {
			if err := fn(t.Name, rows[ks]); err != nil {
				return 0, err
			}
		}
	}
	return in.checkpoint, nil
}

// readState reads the instance's files into rows and opens its log for
// appending (creating an empty one for a new instance).
func (s *EmbeddedStore) readState(in *fileInstance) (map[string]map[string]Row, error) {
	state := map[string]map[string]Row{}
	for _, t := range in.schema.Tables {
		state[t.Name] = map[string]Row{}
	}
	in.checkpoint, in.snapSize, in.logSize = 0, 0, 0
	if err := s.readSnapshot(in, state); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(in.base+".log", os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		if err := s.writeLog(in, in.checkpoint); err != nil {
			return nil, err
		}
		return state, nil
	}
	if err != nil {
		return nil, err
	}
	fr := &frameReader{r: bufio.NewReaderSize(f, 1<<20)}
	hp, err := fr.next()
	var h logHeader
	if err == nil {
		err = json.Unmarshal(hp, &h)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s.log header: %v", ErrCorrupt, in.base, err)
	}
	if h.Fingerprint != in.fingerprint {
		f.Close()
		return nil, fmt.Errorf("%w: %s v%d stored with another schema (%s.log)", ErrSchemaMismatch, in.schema.Projection, in.schema.Version, in.base)
	}
	if h.Base > in.checkpoint {
		f.Close()
		return nil, fmt.Errorf("%w: %s.log continues checkpoint %d but the snapshot is at %d (delete the instance's files to rebuild)", ErrCorrupt, in.base, h.Base, in.checkpoint)
	}
	for {
		p, err := fr.next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, errTorn) {
			// The tail of a commit a crash interrupted: it was never
			// acknowledged. Cut it off so the next append follows the
			// last good record.
			if err := f.Truncate(fr.off); err != nil {
				f.Close()
				return nil, err
			}
			break
		}
		var rec logRecord
		if err := json.Unmarshal(p, &rec); err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: %s.log record: %v", ErrCorrupt, in.base, err)
		}
		if rec.To <= in.checkpoint {
			continue // already in the snapshot (a compaction stopped before replacing the log)
		}
		if rec.From != in.checkpoint {
			f.Close()
			return nil, fmt.Errorf("%w: %s.log: a commit from %d follows checkpoint %d", ErrCorrupt, in.base, rec.From, in.checkpoint)
		}
		if err := applyRecord(in.schema, state, rec); err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: %s.log: %v", ErrCorrupt, in.base, err)
		}
		in.checkpoint = rec.To
	}
	if _, err := f.Seek(fr.off, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	in.log, in.logSize = f, fr.off
	return state, nil
}

func applyRecord(sc *Schema, state map[string]map[string]Row, rec logRecord) error {
	for _, c := range rec.Changes {
		t := sc.Table(c.Table)
		if t == nil {
			return fmt.Errorf("unknown table %q", c.Table)
		}
		for _, raw := range c.Deletes {
			k, err := decodeKey(t, raw)
			if err != nil {
				return err
			}
			delete(state[t.Name], KeyString(k))
		}
		for _, raw := range c.Upserts {
			r, err := decodeRow(t, raw)
			if err != nil {
				return err
			}
			state[t.Name][KeyString(t.KeyOf(r))] = r
		}
	}
	return nil
}

func (s *EmbeddedStore) readSnapshot(in *fileInstance, state map[string]map[string]Row) error {
	f, err := os.Open(in.base + ".snap")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	damaged := func(why any) error {
		return fmt.Errorf("%w: %s.snap: %v (delete %[2]s.snap and %[2]s.log to rebuild from the event log)", ErrCorrupt, in.base, why)
	}
	fr := &frameReader{r: bufio.NewReaderSize(f, 1<<20)}
	var hdr snapFrame
	p, err := fr.next()
	if err == nil {
		err = json.Unmarshal(p, &hdr)
	}
	if err != nil {
		return damaged(err)
	}
	if hdr.Fingerprint != in.fingerprint {
		return fmt.Errorf("%w: %s v%d stored with another schema (%s.snap)", ErrSchemaMismatch, in.schema.Projection, in.schema.Version, in.base)
	}
	n := 0
	for {
		p, err := fr.next()
		if err != nil {
			return damaged(err) // io.EOF included: no end marker
		}
		var fm snapFrame
		if err := json.Unmarshal(p, &fm); err != nil {
			return damaged(err)
		}
		if fm.End {
			if fm.Count != n {
				return damaged(fmt.Sprintf("%d rows, end marker says %d", n, fm.Count))
			}
			break
		}
		t := in.schema.Table(fm.Table)
		if t == nil {
			return damaged("unknown table " + fm.Table)
		}
		for _, raw := range fm.Rows {
			r, err := decodeRow(t, raw)
			if err != nil {
				return damaged(err)
			}
			state[t.Name][KeyString(t.KeyOf(r))] = r
			n++
		}
	}
	in.checkpoint, in.snapSize = hdr.Checkpoint, fr.off
	return nil
}

// writeFile writes a file atomically: temp file, fsync, rename, fsync of
// the directory.
func (s *EmbeddedStore) writeFile(path string, data []byte) error {
	return s.writeFileFunc(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeFileFunc is writeFile for content streamed by fill.
func (s *EmbeddedStore) writeFileFunc(path string, fill func(io.Writer) error) error {
	tmp, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := fill(bw); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if !s.cfg.NoSync {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return s.syncDir()
}

func (s *EmbeddedStore) syncDir() error {
	if s.cfg.NoSync {
		return nil
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeLog replaces the instance's log by an empty one continuing base,
// and opens it for appending.
func (s *EmbeddedStore) writeLog(in *fileInstance, base uint64) error {
	hp, err := json.Marshal(logHeader{Format: embeddedFormat, Fingerprint: in.fingerprint, Base: base})
	if err != nil {
		return err
	}
	data := appendFrame(nil, hp)
	if err := s.writeFile(in.base+".log", data); err != nil {
		return err
	}
	f, err := os.OpenFile(in.base+".log", os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if in.log != nil {
		_ = in.log.Close()
	}
	in.log, in.logSize = f, int64(len(data))
	return nil
}

// compact writes state as the new snapshot, then an empty log after it.
// A crash between the two renames leaves the new snapshot with the old
// log, whose records up to the snapshot's checkpoint Load skips.
func (s *EmbeddedStore) compact(in *fileInstance, state map[string]map[string]Row) error {
	var size int64
	frame := func(w io.Writer, v any) error {
		p, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b := appendFrame(nil, p)
		size += int64(len(b))
		_, err = w.Write(b)
		return err
	}
	err := s.writeFileFunc(in.base+".snap", func(w io.Writer) error {
		if err := frame(w, snapFrame{Format: embeddedFormat, Projection: in.schema.Projection, Version: in.schema.Version,
			Fingerprint: in.fingerprint, Checkpoint: in.checkpoint}); err != nil {
			return err
		}
		n := 0
		for _, t := range in.schema.Tables {
			rows := state[t.Name]
			keys := make([]string, 0, len(rows))
			for ks := range rows {
				keys = append(keys, ks)
			}
			sort.Strings(keys)
			for i := 0; i < len(keys); i += 512 {
				fm := snapFrame{Table: t.Name}
				for _, ks := range keys[i:min(i+512, len(keys))] {
					raw, err := encodeRow(&t, rows[ks])
					if err != nil {
						return err
					}
					fm.Rows = append(fm.Rows, raw)
				}
				if err := frame(w, fm); err != nil {
					return err
				}
				n += len(fm.Rows)
			}
		}
		return frame(w, snapFrame{End: true, Count: n})
	})
	if err != nil {
		return err
	}
	in.snapSize = size
	return s.writeLog(in, in.checkpoint)
}

// Commit implements ReadModelStore: one framed record appended to the
// instance's log and fsynced.
func (s *EmbeddedStore) Commit(ctx context.Context, b Batch) error {
	if err := b.Check(); err != nil {
		return err
	}
	in, err := s.instance(instanceKey{b.Schema.Projection, b.Schema.Version})
	if err != nil {
		return err
	}
	if in == nil {
		return fmt.Errorf("%w: %s v%d", ErrUnknownInstance, b.Schema.Projection, b.Schema.Version)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.fingerprint != b.Schema.Fingerprint() {
		return fmt.Errorf("%w: %s v%d", ErrSchemaMismatch, b.Schema.Projection, b.Schema.Version)
	}
	if in.log == nil {
		return fmt.Errorf("%w: %s v%d: a previous write failed; load it again", ErrUnknownInstance, b.Schema.Projection, b.Schema.Version)
	}
	if in.checkpoint != b.From {
		return fmt.Errorf("%w: %s v%d is at %d, batch from %d", ErrCheckpointConflict, b.Schema.Projection, b.Schema.Version, in.checkpoint, b.From)
	}
	// The frame is built in place: 8 bytes for its header, then the record.
	frame, err := appendRecord(append(in.frameBuf[:0], make([]byte, 8)...), b)
	if err != nil {
		return err
	}
	putFrameHeader(frame)
	if cap(frame) <= maxKeptFrameBuf {
		in.frameBuf = frame
	}
	if _, err := in.log.Write(frame); err != nil {
		s.breakLog(in)
		return fmt.Errorf("projections: %s.log: %w", in.base, err)
	}
	if !s.cfg.NoSync {
		if err := in.log.Sync(); err != nil {
			// After a failed fsync the page cache may or may not hold the
			// write: nothing is trusted until the files are read again.
			s.breakLog(in)
			return fmt.Errorf("projections: %s.log: %w", in.base, err)
		}
	}
	in.checkpoint = b.To
	in.logSize += int64(len(frame))
	if in.logSize > max(in.compactAt, 2*in.snapSize) {
		// The commit is durable; a failed compaction is retried at twice
		// the size.
		state, err := s.reread(in)
		if err == nil {
			err = s.compact(in, state)
		}
		if err != nil {
			in.compactAt = 2 * in.logSize
		}
	}
	return nil
}

// reread reads the instance's rows back from its files (for compaction),
// keeping the open log.
func (s *EmbeddedStore) reread(in *fileInstance) (map[string]map[string]Row, error) {
	cp, logSize, snapSize, log := in.checkpoint, in.logSize, in.snapSize, in.log
	in.log = nil
	state, err := s.readState(in)
	if in.log != nil {
		_ = log.Close()
	} else {
		in.log = log
	}
	if err == nil && in.checkpoint != cp {
		err = fmt.Errorf("%w: %s: read back checkpoint %d, expected %d", ErrCorrupt, in.base, in.checkpoint, cp)
	}
	if err != nil {
		in.checkpoint, in.logSize, in.snapSize = cp, logSize, snapSize
		return nil, err
	}
	return state, nil
}

// breakLog: a write failed half-way; the instance refuses commits until it
// is loaded again (Load drops the partial frame).
func (s *EmbeddedStore) breakLog(in *fileInstance) {
	if in.log != nil {
		_ = in.log.Close()
	}
	in.log = nil
}

// Active implements ReadModelStore.
func (s *EmbeddedStore) Active(ctx context.Context, projection string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	return s.active[projection], nil
}

// Activate implements ReadModelStore: active.json is rewritten atomically.
func (s *EmbeddedStore) Activate(ctx context.Context, sc *Schema) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.insts[instanceKey{sc.Projection, sc.Version}] == nil {
		return fmt.Errorf("%w: %s v%d", ErrUnknownInstance, sc.Projection, sc.Version)
	}
	next := map[string]int{}
	for k, v := range s.active {
		next[k] = v
	}
	next[sc.Projection] = sc.Version
	b, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return err
	}
	if err := s.writeFile(filepath.Join(s.dir, "active.json"), b); err != nil {
		return err
	}
	s.active = next
	return nil
}

// Drop implements ReadModelStore: the instance's files are removed.
func (s *EmbeddedStore) Drop(ctx context.Context, projection string, version int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.active[projection] == version {
		return fmt.Errorf("%w: %s v%d is active", ErrInvalidBatch, projection, version)
	}
	k := instanceKey{projection, version}
	if in := s.insts[k]; in != nil {
		in.mu.Lock()
		s.breakLog(in)
		in.mu.Unlock()
		delete(s.insts, k)
	}
	base := filepath.Join(s.dir, fmt.Sprintf("%s.v%d", projection, version))
	for _, ext := range []string{".snap", ".log"} {
		if err := os.Remove(base + ext); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return s.syncDir()
}

// Close implements ReadModelStore: it closes the logs and releases the
// directory.
func (s *EmbeddedStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	for _, in := range s.insts {
		in.mu.Lock()
		s.breakLog(in)
		in.mu.Unlock()
	}
	s.unlock()
	return nil
}
