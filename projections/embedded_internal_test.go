package projections

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

func kvSchema() *Schema {
	return &Schema{Projection: "kv", Version: 1, Tables: []Table{{Name: "kv_rows", Key: []string{"k"},
		Columns: []Column{{Name: "k", Type: Text}, {Name: "v", Type: Decimal}}}}}
}

func kvCommit(t *testing.T, s ReadModelStore, from, to uint64, kv ...string) {
	t.Helper()
	var rows []Row
	for i := 0; i+1 < len(kv); i += 2 {
		rows = append(rows, Row{kv[i], decimal.RequireFromString(kv[i+1])})
	}
	require.NoError(t, s.Commit(context.Background(), Batch{Schema: kvSchema(), From: from, To: to,
		Changes: []TableChanges{{Table: "kv_rows", Upserts: rows}}}))
}

func kvLoad(t *testing.T, s ReadModelStore) (map[string]string, uint64) {
	t.Helper()
	out := map[string]string{}
	cp, err := s.Load(context.Background(), kvSchema(), func(_ string, r Row) error {
		out[r[0].(string)] = r[1].(decimal.Decimal).String()
		return nil
	})
	require.NoError(t, err)
	return out, cp
}

func openEmb(t *testing.T, dir string, compactAt int64) *EmbeddedStore {
	t.Helper()
	s, err := OpenEmbeddedConfig(dir, EmbeddedConfig{CompactAt: compactAt})
	require.NoError(t, err)
	return s
}

// A crash inside a commit's write leaves half a frame at the end of the
// log: the reopened store is at the previous commit, drops the torn tail,
// and appends after it.
func TestEmbeddedTornTailIsDropped(t *testing.T) {
	dir := t.TempDir()
	s := openEmb(t, dir, 0)
	kvLoad(t, s)
	kvCommit(t, s, 0, 1, "a", "1")
	kvCommit(t, s, 1, 2, "b", "2")
	require.NoError(t, s.Close())
	log := filepath.Join(dir, "kv.v1.log")
	good, err := os.Stat(log)
	require.NoError(t, err)
	frame := appendFrame(nil, []byte(`{"from":2,"to":3,"c":[{"t":"kv_rows","u":[["c","3"]]}]}`))
	for _, cut := range []int{3, 8, len(frame) - 1} { // in the header, at the payload, one byte short
		f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.Write(frame[:cut])
		require.NoError(t, err)
		require.NoError(t, f.Close())
		s = openEmb(t, dir, 0)
		rows, cp := kvLoad(t, s)
		require.Equal(t, uint64(2), cp, "cut at %d", cut)
		require.Equal(t, map[string]string{"a": "1", "b": "2"}, rows)
		fi, err := os.Stat(log)
		require.NoError(t, err)
		require.Equal(t, good.Size(), fi.Size(), "the torn tail was cut off")
		require.NoError(t, s.Close())
	}
	// A frame whose checksum fails is a torn tail too.
	bad := append([]byte{}, frame...)
	bad[len(bad)-2] ^= 0xff
	f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write(bad)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	s = openEmb(t, dir, 0)
	_, cp := kvLoad(t, s)
	require.Equal(t, uint64(2), cp)
	kvCommit(t, s, 2, 3, "c", "3")
	require.NoError(t, s.Close())
	s = openEmb(t, dir, 0)
	defer s.Close()
	rows, cp := kvLoad(t, s)
	require.Equal(t, uint64(3), cp)
	require.Equal(t, map[string]string{"a": "1", "b": "2", "c": "3"}, rows)
}

// The log is folded into a snapshot once it grows.
func TestEmbeddedCompaction(t *testing.T) {
	dir := t.TempDir()
	s := openEmb(t, dir, 2048)
	kvLoad(t, s)
	want := map[string]string{}
	var cp uint64
	for i := 0; i < 200; i++ {
		k, v := fmt.Sprintf("k%02d", i%40), fmt.Sprint(i)
		kvCommit(t, s, cp, cp+1, k, v)
		want[k] = v
		cp++
	}
	snap, err := os.Stat(filepath.Join(dir, "kv.v1.snap"))
	require.NoError(t, err, "a snapshot was written")
	log, err := os.Stat(filepath.Join(dir, "kv.v1.log"))
	require.NoError(t, err)
	require.Less(t, log.Size(), int64(4096), "the log was reset")
	require.Positive(t, snap.Size())
	require.NoError(t, s.Close())
	s = openEmb(t, dir, 2048)
	rows, got := kvLoad(t, s)
	require.Equal(t, cp, got)
	require.Equal(t, want, rows)
	require.NoError(t, s.Close())
}

// A crash between the new snapshot's rename and the new log's leaves the
// new snapshot beside the old log: the old log's records, all at or below
// the snapshot's checkpoint, are skipped.
func TestEmbeddedCrashInsideCompaction(t *testing.T) {
	dir := t.TempDir()
	s := openEmb(t, dir, 1<<30) // no compaction unless forced
	kvLoad(t, s)
	want := map[string]string{}
	for i := uint64(0); i < 100; i++ {
		k, v := fmt.Sprintf("k%02d", i%30), fmt.Sprint(i)
		kvCommit(t, s, i, i+1, k, v)
		want[k] = v
	}
	logPath := filepath.Join(dir, "kv.v1.log")
	oldLog, err := os.ReadFile(logPath)
	require.NoError(t, err)
	in, _ := s.instance(instanceKey{"kv", 1})
	in.mu.Lock()
	state, err := s.reread(in)
	require.NoError(t, err)
	require.NoError(t, s.compact(in, state))
	in.mu.Unlock()
	require.NoError(t, s.Close())
	require.NoError(t, os.WriteFile(logPath, oldLog, 0o640)) // the log rename never happened

	s = openEmb(t, dir, 1<<30)
	rows, cp := kvLoad(t, s)
	require.Equal(t, uint64(100), cp)
	require.Equal(t, want, rows)
	kvCommit(t, s, 100, 101, "new", "1")
	require.NoError(t, s.Close())
	s = openEmb(t, dir, 1<<30)
	defer s.Close()
	rows, cp = kvLoad(t, s)
	require.Equal(t, uint64(101), cp)
	require.Equal(t, "1", rows["new"])
	require.Len(t, rows, 31)
}

// Damage a crash cannot produce is reported, not repaired silently.
func TestEmbeddedDamageIsReported(t *testing.T) {
	dir := t.TempDir()
	s := openEmb(t, dir, 512)
	kvLoad(t, s)
	for i := uint64(0); i < 60; i++ {
		kvCommit(t, s, i, i+1, fmt.Sprintf("k%d", i), "1")
	}
	require.NoError(t, s.Close())
	path := filepath.Join(dir, "kv.v1.snap")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[len(b)/2] ^= 0xff
	require.NoError(t, os.WriteFile(path, b, 0o640))
	s = openEmb(t, dir, 512)
	_, err = s.Load(context.Background(), kvSchema(), func(string, Row) error { return nil })
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), "delete")
	require.NoError(t, s.Close())

	// A log that does not follow its snapshot (the snapshot was lost).
	require.NoError(t, os.Remove(path))
	s = openEmb(t, dir, 512)
	_, err = s.Load(context.Background(), kvSchema(), func(string, Row) error { return nil })
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), "continues checkpoint")
	require.NoError(t, s.Close())
}

func TestEmbeddedOneProcessPerDirectory(t *testing.T) {
	dir := t.TempDir()
	s := openEmb(t, dir, 0)
	_, err := OpenEmbedded(dir)
	require.ErrorContains(t, err, "in use")
	require.NoError(t, s.Close())
	s2, err := OpenEmbedded(dir)
	require.NoError(t, err)
	require.NoError(t, s2.Close())
}

// A write that fails half-way leaves the instance refusing commits until
// it is loaded again; the reload drops the partial frame.
func TestEmbeddedFailedWriteNeedsAReload(t *testing.T) {
	dir := t.TempDir()
	s := openEmb(t, dir, 0)
	defer s.Close()
	kvLoad(t, s)
	kvCommit(t, s, 0, 1, "a", "1")
	in, _ := s.instance(instanceKey{"kv", 1})
	require.NoError(t, in.log.Close()) // the next write fails
	err := s.Commit(context.Background(), Batch{Schema: kvSchema(), From: 1, To: 2})
	require.Error(t, err)
	err = s.Commit(context.Background(), Batch{Schema: kvSchema(), From: 1, To: 2})
	require.ErrorIs(t, err, ErrUnknownInstance)
	rows, cp := kvLoad(t, s)
	require.Equal(t, uint64(1), cp)
	require.Equal(t, map[string]string{"a": "1"}, rows)
	kvCommit(t, s, 1, 2, "b", "2")
}
