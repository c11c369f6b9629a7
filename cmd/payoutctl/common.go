package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/projections"
)

// Exit statuses of replay and verify.
const (
	exitOK       = 0 // done; verify: no difference, every chain intact
	exitProblems = 1 // replay: a projection failed or was interrupted; verify: differences or a broken chain
	exitUsage    = 2 // bad flags, a directory that cannot be opened
)

// parseFlags parses a subcommand's flags; --help prints the usage text and
// the flags to stdout. It returns (done, status): done when the caller
// must return status at once.
func parseFlags(fs *flag.FlagSet, args []string, text string, stdout, stderr io.Writer) (bool, int) {
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, text)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return true, exitOK
		}
		fmt.Fprintf(stderr, "run `%s --help` for usage\n", fs.Name())
		return true, exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q (run `%s --help`)\n", fs.Name(), fs.Arg(0), fs.Name())
		return true, exitUsage
	}
	return false, exitOK
}

// openLedger opens the embedded event store in dir (read side only: the
// tools never append). It refuses a directory that holds no event store,
// because opening one would create an empty store and "verify" nothing.
func openLedger(ctx context.Context, dir string) (eventstore.Store, error) {
	if dir == "" {
		return nil, errors.New("--data is required")
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("--data %s is not a directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
		return nil, fmt.Errorf("--data %s holds no event store (no jetstream/ directory): is it the directory payoutdemo -data or payoutd uses?", dir)
	}
	s, err := jetstream.Open(ctx, jetstream.Config{DataDir: dir})
	if err != nil {
		return nil, fmt.Errorf("open the event store in %s (is another process using it?): %w", dir, err)
	}
	return s, nil
}

// isFreshViews reports whether dir can receive a rebuild: missing, or a
// directory holding no read model yet.
func isFreshViews(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		if n == "active.json" || strings.HasSuffix(n, ".snap") || strings.HasSuffix(n, ".log") {
			return fmt.Errorf("--views %s already holds read models (%s): replay builds into a fresh directory", dir, n)
		}
	}
	return nil
}

// openViews opens an existing embedded read-model store (verify): a
// directory without active.json holds none.
func openViews(dir string) (*projections.EmbeddedStore, error) {
	if _, err := os.Stat(filepath.Join(dir, "active.json")); err != nil {
		return nil, fmt.Errorf("--views %s holds no read-model store (no active.json): %w", dir, err)
	}
	s, err := projections.OpenEmbedded(dir)
	if err != nil {
		return nil, fmt.Errorf("open the read-model store in %s (is payoutd running on it?): %w", dir, err)
	}
	return s, nil
}

// isTerminal: w is a character device (a terminal), not a file or pipe.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// thousands renders n with thousands separators.
func thousands(n uint64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
