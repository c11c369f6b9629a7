package handler

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
)

// Snapshot is a shop's decision state at a stream version, with the head
// hash at that version (so a snapshot is only used on the log it was taken
// from) and the idempotency records the state does not hold.
type Snapshot struct {
	Stream  string
	Version uint64
	Head    eventstore.Hash
	Format  string // SnapshotFormat when written; others are ignored
	State   []byte // domain.EncodeState
	Idem    map[string]IdemRecord
}

// SnapshotFormat changes with domain.StateVersion: a snapshot of another
// format is ignored and the stream replayed.
var SnapshotFormat = "shop-gob/" + strconv.Itoa(domain.StateVersion)

// SnapshotStore keeps one snapshot per stream. A snapshot is an
// optimisation: losing one costs a replay, never correctness.
type SnapshotStore interface {
	// Load returns the stream's snapshot; ok is false when there is none.
	Load(ctx context.Context, stream string) (snap Snapshot, ok bool, err error)
	// Save replaces the stream's snapshot.
	Save(ctx context.Context, snap Snapshot) error
}

// load builds a shop's state on first use (lock held): from its snapshot
// if one fits, then the events after it.
func (h *Handler) load(ctx context.Context, e *shopEntry) error {
	if h.cfg.Snapshots != nil {
		h.restore(ctx, e)
	}
	if err := h.catchUp(ctx, e); err != nil {
		return err
	}
	e.ready = true
	h.maybeSnapshot(e)
	return nil
}

// restore applies a usable snapshot: right format, and the stream's event
// at the snapshot's version carries the snapshot's head hash. Anything
// else (no snapshot, unreadable, another log) falls back to a replay.
func (h *Handler) restore(ctx context.Context, e *shopEntry) {
	stream := e.stream
	snap, ok, err := h.cfg.Snapshots.Load(ctx, stream)
	if err != nil || !ok || snap.Format != SnapshotFormat || snap.Stream != stream || snap.Version == 0 {
		return
	}
	recs, err := h.store.ReadStream(ctx, stream, snap.Version, 1)
	if err != nil || len(recs) != 1 || recs[0].Version != snap.Version || recs[0].Hash != snap.Head {
		return
	}
	committed, err := domain.DecodeState(snap.State)
	if err != nil || committed.Ref != e.ref || committed.Version != snap.Version {
		return
	}
	pending, err := domain.DecodeState(snap.State) // a second, independent copy
	if err != nil {
		return
	}
	e.committed, e.pending, e.head, e.snapshot = committed, pending, snap.Head, snap.Version
	e.idem = snap.Idem
	if e.idem == nil {
		e.idem = map[string]IdemRecord{}
	}
}

// maybeSnapshot writes a snapshot once enough events were applied since
// the last one. The committed state is encoded under the shop's lock (it
// changes under it); the write happens in the background, off the command
// path.
func (h *Handler) maybeSnapshot(e *shopEntry) {
	if h.cfg.Snapshots == nil || e.committed.Version < e.snapshot+h.cfg.SnapshotEvery {
		return
	}
	state, err := domain.EncodeState(e.committed)
	if err != nil {
		return
	}
	idem := make(map[string]IdemRecord, len(e.idem))
	for k, v := range e.idem {
		idem[k] = v
	}
	snap := Snapshot{Stream: e.stream, Version: e.committed.Version, Head: e.head, Format: SnapshotFormat, State: state, Idem: idem}
	e.snapshot = snap.Version
	h.snapWG.Add(1)
	go func() {
		defer h.snapWG.Done()
		_ = h.cfg.Snapshots.Save(context.Background(), snap) // a lost snapshot costs a replay, nothing else
	}()
}

// WaitSnapshots waits for snapshot writes in flight (shutdown, tests).
func (h *Handler) WaitSnapshots() { h.snapWG.Wait() }

// readEvents reads versions first..last of a stream (an idempotent replay).
func (h *Handler) readEvents(ctx context.Context, stream string, first, last uint64) ([]domain.Event, error) {
	out := make([]domain.Event, 0, last-first+1)
	for v := first; v <= last; {
		recs, err := h.store.ReadStream(ctx, stream, v, int(last-v+1))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		if len(recs) == 0 {
			return nil, fmt.Errorf("%w: %s v%d is gone", ErrCorruptStream, stream, v)
		}
		for _, r := range recs {
			ev, err := Decode(r)
			if err != nil {
				return nil, fmt.Errorf("%w: %s v%d: %v", ErrCorruptStream, stream, r.Version, err)
			}
			out = append(out, ev)
			v = r.Version + 1
		}
	}
	return out, nil
}

// FileSnapshots keeps snapshots as files in a directory, one per stream,
// written atomically (temp file, fsync, rename).
type FileSnapshots struct{ Dir string }

func (f FileSnapshots) path(stream string) string {
	return filepath.Join(f.Dir, stream+".snap") // stream names are [A-Za-z0-9_-.]
}

// Load reads a stream's snapshot file; a missing file is ok=false.
func (f FileSnapshots) Load(_ context.Context, stream string) (Snapshot, bool, error) {
	b, err := os.ReadFile(f.path(stream))
	if errors.Is(err, os.ErrNotExist) {
		return Snapshot{}, false, nil
	}
	if err != nil {
		return Snapshot{}, false, err
	}
	var s Snapshot
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&s); err != nil {
		return Snapshot{}, false, fmt.Errorf("snapshot %s: %w", stream, err)
	}
	return s, true, nil
}

// Save writes a stream's snapshot file atomically.
func (f FileSnapshots) Save(_ context.Context, s Snapshot) error {
	if err := os.MkdirAll(f.Dir, 0o750); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(s); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(f.Dir, ".snap-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), f.path(s.Stream))
}
