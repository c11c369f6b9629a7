package tokens

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// payoutd's view of payoutctl's changes: one FileStore writes (payoutctl),
// another one only verifies (payoutd).
func TestAnotherInstanceSeesCreatesAndRevocations(t *testing.T) {
	t.Run("a token just created works at once", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tokens.json")
		daemon := openAt(t, path, Config{CheckInterval: noReload, RecheckInterval: noReload})
		ctl := openAt(t, path, Config{})
		tok, p := create(t, ctl, alice)
		got, err := daemon.Verify(tok)
		require.NoError(t, err, "an unknown token makes the daemon look at the file")
		require.Equal(t, p, got)
	})

	t.Run("unknown tokens look at the file at most once per RecheckInterval", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tokens.json")
		daemon := openAt(t, path, Config{CheckInterval: noReload, RecheckInterval: noReload})
		ctl := openAt(t, path, Config{})
		_, err := daemon.Verify("plt_0123456789abcdef_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
		require.ErrorIs(t, err, ErrUnknown) // spends this interval's recheck
		tok, _ := create(t, ctl, alice)
		_, err = daemon.Verify(tok)
		require.ErrorIs(t, err, ErrUnknown, "no second look within the interval: a flood of bad tokens costs no I/O")
	})

	t.Run("a revocation is seen within CheckInterval, not before", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tokens.json")
		ctl := openAt(t, path, Config{})
		tok, p := create(t, ctl, alice)
		cached := openAt(t, path, Config{CheckInterval: noReload})
		polling := openAt(t, path, Config{CheckInterval: 10 * time.Millisecond})
		_, err := ctl.Revoke(ctx, p.TokenID)
		require.NoError(t, err)

		_, err = cached.Verify(tok)
		require.NoError(t, err, "the file is not read on every request")
		require.Eventually(t, func() bool {
			_, err := polling.Verify(tok)
			return err == ErrUnknown
		}, 5*time.Second, 5*time.Millisecond)
	})

	t.Run("a broken file keeps the last good tokens and is reported", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tokens.json")
		ctl := openAt(t, path, Config{})
		tok, _ := create(t, ctl, alice)
		var mu sync.Mutex
		var reported []error
		daemon := openAt(t, path, Config{CheckInterval: time.Millisecond, OnReloadError: func(err error) {
			mu.Lock()
			defer mu.Unlock()
			reported = append(reported, err)
		}})
		require.NoError(t, os.WriteFile(path+".new", []byte(`{"version":1,"tokens":[{"id":"x"}]}`), 0o600))
		require.NoError(t, os.Rename(path+".new", path))
		time.Sleep(2 * time.Millisecond)
		_, err := daemon.Verify(tok)
		require.NoError(t, err)
		mu.Lock()
		defer mu.Unlock()
		require.NotEmpty(t, reported)
		require.ErrorContains(t, reported[0], "not 16 lower-case hex digits")
	})

	t.Run("a deleted file takes its tokens with it", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tokens.json")
		ctl := openAt(t, path, Config{})
		tok, _ := create(t, ctl, alice)
		daemon := openAt(t, path, Config{CheckInterval: time.Millisecond})
		_, err := daemon.Verify(tok)
		require.NoError(t, err)
		require.NoError(t, os.Remove(path))
		require.Eventually(t, func() bool {
			_, err := daemon.Verify(tok)
			return err == ErrUnknown
		}, 5*time.Second, 2*time.Millisecond)
	})
}

// Two writers in one process (two instances: separate lock descriptors,
// as two processes would have) and several goroutines on each.
func TestConcurrentCreatesLoseNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	stores := []*FileStore{openAt(t, path, Config{}), openAt(t, path, Config{})}
	const perGoroutine, goroutines = 5, 4
	var mu sync.Mutex
	var toks []string
	var wg sync.WaitGroup
	for _, s := range stores {
		for range goroutines {
			wg.Go(func() {
				for range perGoroutine {
					tok, _, err := s.Create(ctx, alice)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					toks = append(toks, tok)
					mu.Unlock()
				}
			})
		}
	}
	// Verifying while writing is part of the contract (-race checks it).
	wg.Go(func() {
		for range 200 {
			_, _ = stores[0].Verify("plt_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
		}
	})
	wg.Wait()
	require.Len(t, toks, len(stores)*goroutines*perGoroutine)
	requireAllValid(t, path, toks)
}

// helperEnv makes the test binary a `payoutctl token create` stand-in.
const helperEnv = "TOKENS_TEST_CREATE"

func TestConcurrentCreatesFromTwoProcessesLoseNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	const n = 15
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range 2 {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), helperEnv+"="+path+"|"+strconv.Itoa(n))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	var toks []string
	for i, cmd := range cmds {
		require.NoError(t, cmd.Wait(), outs[i].String())
		sc := bufio.NewScanner(outs[i])
		for sc.Scan() {
			if line := sc.Text(); len(line) == TokenLen && line[:4] == "plt_" {
				toks = append(toks, line)
			}
		}
	}
	require.Len(t, toks, 2*n)
	requireAllValid(t, path, toks)
}

// TestMain makes the test binary a `payoutctl token create` stand-in when
// helperEnv is set: "<path>|<n>" creates n tokens and prints them.
func TestMain(m *testing.M) {
	if arg := os.Getenv(helperEnv); arg != "" {
		os.Exit(helperCreate(arg))
	}
	os.Exit(m.Run())
}

func helperCreate(arg string) int {
	path, count, _ := strings.Cut(arg, "|")
	n, err := strconv.Atoi(count)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s, err := Open(Config{Path: path})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for range n {
		tok, _, err := s.Create(context.Background(), bob)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(tok)
	}
	return 0
}

// requireAllValid: a fresh reader (payoutd starting) finds every token.
func requireAllValid(t *testing.T, path string, toks []string) {
	t.Helper()
	fresh := openAt(t, path, Config{})
	list, err := fresh.List(ctx)
	require.NoError(t, err)
	require.Equal(t, len(toks), len(list), "tokens in the file")
	seen := map[string]bool{}
	for _, tok := range toks {
		p, err := fresh.Verify(tok)
		require.NoError(t, err)
		require.False(t, seen[p.TokenID], "IDs are unique")
		seen[p.TokenID] = true
	}
}
