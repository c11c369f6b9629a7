package tailguard_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/eventstore/tailguard"
)

func TestFileStoreMissingFileIsNoHeads(t *testing.T) {
	heads, err := tailguard.FileStore{Path: filepath.Join(t.TempDir(), "heads.json")}.Load(context.Background())
	require.NoError(t, err)
	require.NotNil(t, heads)
	require.Empty(t, heads)
}

func TestFileStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fs := tailguard.FileStore{Path: filepath.Join(dir, "heads.json")}
	heads := map[string]tailguard.Head{
		"jd.b":    {Version: 1, Hash: hash(1)},
		"jd.a":    {Version: 1 << 40, Hash: hash(0xab)},
		"tb.shop": {Version: 3, Hash: hash(3)},
	}
	require.NoError(t, fs.Save(ctx, heads))
	got, err := fs.Load(ctx)
	require.NoError(t, err)
	require.Equal(t, heads, got)

	raw, err := os.ReadFile(fs.Path)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(raw), `{
 "format": "payoutledger.tailguard.heads/v1",
 "heads": [
  {
   "stream": "jd.a",
   "version": 1099511627776,
   "hash": "ab000000000000000000000000000000000000000000000000000000000000ab"
  },
  {
   "stream": "jd.b",`), "heads sorted by stream, hashes in hex:\n%s", raw)

	// A second save replaces the first whole, and leaves no temporary file.
	require.NoError(t, fs.Save(ctx, map[string]tailguard.Head{"jd.c": {Version: 9, Hash: hash(9)}}))
	got, err = fs.Load(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]tailguard.Head{"jd.c": {Version: 9, Hash: hash(9)}}, got)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "heads.json", entries[0].Name())

	// No heads is a valid file too.
	require.NoError(t, fs.Save(ctx, nil))
	got, err = fs.Load(ctx)
	require.NoError(t, err)
	require.Empty(t, got)
}

// TestFileStoreFailedSaveKeepsTheOldFile: a save that cannot complete
// leaves the previous heads readable and no temporary file behind.
func TestFileStoreFailedSaveKeepsTheOldFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fs := tailguard.FileStore{Path: filepath.Join(dir, "heads.json")}
	old := map[string]tailguard.Head{"jd.a": {Version: 2, Hash: hash(2)}}
	require.NoError(t, fs.Save(ctx, old))

	// The rename fails: Path became a non-empty directory.
	blocked := tailguard.FileStore{Path: filepath.Join(dir, "blocked")}
	require.NoError(t, os.MkdirAll(filepath.Join(blocked.Path, "x"), 0o700))
	require.Error(t, blocked.Save(ctx, old))

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, fs.Save(cancelled, map[string]tailguard.Head{}), context.Canceled)
	_, err := fs.Load(cancelled)
	require.ErrorIs(t, err, context.Canceled)

	require.Error(t, tailguard.FileStore{Path: filepath.Join(dir, "no", "such", "dir", "heads.json")}.Save(ctx, old))

	got, err := fs.Load(ctx)
	require.NoError(t, err)
	require.Equal(t, old, got)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, []string{"heads.json", "blocked"}, names)
}

// TestFileStoreReadersNeverSeeATornFile: while one goroutine saves, another
// loads: every load sees a whole file, the old heads or the new ones (a
// save that wrote in place would show it empty or half written).
func TestFileStoreReadersNeverSeeATornFile(t *testing.T) {
	ctx := context.Background()
	fs := tailguard.FileStore{Path: filepath.Join(t.TempDir(), "heads.json")}
	const streams, saves = 2000, 20
	heads := make(map[string]tailguard.Head, streams)
	for i := 0; i < streams; i++ {
		heads[fmt.Sprintf("jd.shop%d", i)] = tailguard.Head{Version: 1, Hash: hash(byte(i))}
	}
	require.NoError(t, fs.Save(ctx, heads))

	done := make(chan error, 1)
	go func() {
		defer close(done)
		for v := uint64(2); v <= saves; v++ {
			for k := range heads {
				heads[k] = tailguard.Head{Version: v, Hash: heads[k].Hash}
			}
			if err := fs.Save(ctx, heads); err != nil {
				done <- err
				return
			}
		}
	}()
	loads := 0
	for running := true; running; loads++ {
		select {
		case err := <-done:
			require.NoError(t, err)
			running = false
		default:
		}
		got, err := fs.Load(ctx)
		require.NoError(t, err, "load %d", loads)
		require.Len(t, got, streams, "load %d", loads)
		v := got["jd.shop0"].Version
		for k, h := range got {
			require.Equal(t, v, h.Version, "load %d: %s from another save", loads, k)
		}
	}
	t.Logf("%d loads during %d saves", loads, saves)
}

const goodHash = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func TestFileStoreRefusesMalformedFiles(t *testing.T) {
	valid := `{"format":"payoutledger.tailguard.heads/v1","heads":[{"stream":"jd.a","version":1,"hash":"` + goodHash + `"}]}`
	fs := tailguard.FileStore{Path: filepath.Join(t.TempDir(), "heads.json")}
	require.NoError(t, os.WriteFile(fs.Path, []byte(valid), 0o600))
	_, err := fs.Load(context.Background())
	require.NoError(t, err, "the valid file the cases below break")

	head := func(stream, version, hash string) string {
		return `{"format":"payoutledger.tailguard.heads/v1","heads":[{"stream":` + stream + `,"version":` + version + `,"hash":` + hash + `}]}`
	}
	cases := []struct{ name, raw, want string }{
		{"empty", ``, "EOF"},
		{"not JSON", `heads`, "invalid character"},
		{"truncated", valid[:len(valid)-3], "unexpected EOF"},
		{"an array", `[]`, "cannot unmarshal array"},
		{"null", `null`, `no "format"`},
		{"no format", `{"heads":[]}`, `no "format"`},
		{"another format", `{"format":"v0","heads":[]}`, `format "v0"`},
		{"no heads", `{"format":"payoutledger.tailguard.heads/v1"}`, `no "heads"`},
		{"null heads", `{"format":"payoutledger.tailguard.heads/v1","heads":null}`, `no "heads"`},
		{"unknown field", `{"format":"payoutledger.tailguard.heads/v1","heads":[],"extra":1}`, `unknown field "extra"`},
		{"unknown head field", `{"format":"payoutledger.tailguard.heads/v1","heads":[{"stream":"jd.a","version":1,"hash":"` + goodHash + `","at":1}]}`, `unknown field "at"`},
		{"trailing data", valid + `{}`, "data after the JSON object"},
		{"trailing garbage", valid + `x`, "data after the JSON object"},
		{"empty stream", head(`""`, `1`, `"`+goodHash+`"`), "empty stream name"},
		{"no stream", `{"format":"payoutledger.tailguard.heads/v1","heads":[{"version":1,"hash":"` + goodHash + `"}]}`, "empty stream name"},
		{"version 0", head(`"jd.a"`, `0`, `"`+goodHash+`"`), "version 0"},
		{"negative version", head(`"jd.a"`, `-1`, `"`+goodHash+`"`), "cannot unmarshal number -1"},
		{"version as string", head(`"jd.a"`, `"1"`, `"`+goodHash+`"`), "cannot unmarshal string"},
		{"version too large", head(`"jd.a"`, `18446744073709551616`, `"`+goodHash+`"`), "cannot unmarshal number"},
		{"short hash", head(`"jd.a"`, `1`, `"`+goodHash[:62]+`"`), "want 64 lower-case hex digits"},
		{"long hash", head(`"jd.a"`, `1`, `"`+goodHash+`00"`), "want 64 lower-case hex digits"},
		{"upper-case hash", head(`"jd.a"`, `1`, `"`+strings.ToUpper(goodHash)+`"`), "want 64 lower-case hex digits"},
		{"not hex", head(`"jd.a"`, `1`, `"`+goodHash[:63]+`g"`), "invalid byte"},
		{"no hash", `{"format":"payoutledger.tailguard.heads/v1","heads":[{"stream":"jd.a","version":1}]}`, `hash ""`},
		{"stream twice", `{"format":"payoutledger.tailguard.heads/v1","heads":[{"stream":"jd.a","version":1,"hash":"` + goodHash + `"},{"stream":"jd.a","version":2,"hash":"` + goodHash + `"}]}`, `stream "jd.a" twice`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(fs.Path, []byte(c.raw), 0o600))
			heads, err := fs.Load(context.Background())
			require.ErrorIs(t, err, tailguard.ErrMalformed)
			require.ErrorContains(t, err, fs.Path)
			require.ErrorContains(t, err, c.want)
			require.Nil(t, heads)
		})
	}

	t.Run("a directory", func(t *testing.T) {
		_, err := tailguard.FileStore{Path: t.TempDir()}.Load(context.Background())
		require.Error(t, err)
	})
}

// FuzzLoad: Load never panics; it refuses what it does not accept with
// ErrMalformed, and what it accepts saves and loads back the same.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"format":"payoutledger.tailguard.heads/v1","heads":[{"stream":"jd.a","version":1,"hash":"` + goodHash + `"}]}`))
	f.Add([]byte(`{"format":"payoutledger.tailguard.heads/v1","heads":[]}`))
	f.Add([]byte(`{"format":"payoutledger.tailguard.heads/v1","heads":[{"stream":"jd.a","version":1,"hash":"` + goodHash + `"},{"stream":"jd.b","version":18446744073709551615,"hash":"` + goodHash + `"}]}`))
	f.Add([]byte(`{"format":"payoutledger.tailguard.heads/v1","heads":[{"stream":"jd.a","version":0,"hash":""}]}`))
	f.Add([]byte(`{"format":"payoutledger.tailguard.heads/v1","heads":[{"stream":"\u0000\ud800","version":1,"hash":"` + goodHash + `"}]}`))
	f.Add([]byte(`{"format":"payoutledger.tailguard.heads/v1","heads":[]} {}`))
	for _, h := range []string{goodHash[:63], goodHash + "0", goodHash[:62], goodHash + "00"} { // near the hash length
		f.Add([]byte(`{"format":"payoutledger.tailguard.heads/v1","heads":[{"stream":"jd.a","version":1,"hash":"` + h + `"}]}`))
	}
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ctx := context.Background()
		dir := t.TempDir()
		fs := tailguard.FileStore{Path: filepath.Join(dir, "heads.json")}
		if err := os.WriteFile(fs.Path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		heads, err := fs.Load(ctx)
		if err != nil {
			if !errors.Is(err, tailguard.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		for stream, h := range heads {
			if stream == "" || h.Version == 0 {
				t.Fatalf("accepted head %q %+v", stream, h)
			}
		}
		again := tailguard.FileStore{Path: filepath.Join(dir, "again.json")}
		if err := again.Save(ctx, heads); err != nil {
			t.Fatal(err)
		}
		back, err := again.Load(ctx)
		if err != nil {
			t.Fatalf("Load of what Save wrote: %v", err)
		}
		require.Equal(t, heads, back)
	})
}
