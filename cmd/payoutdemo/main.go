// Command payoutdemo (`make demo`) plays a realistic day across the five
// platforms against a real payoutd, the way a new user would meet it: it
// starts the service in process (HTTP API, embedded NATS with JetStream,
// read models, timers) on free loopback ports and a fresh data directory,
// issues bearer tokens, and drives the day over HTTP. Each step prints who
// sent it, the method and path, the status and the events appended or
// the rule that rejected it. A virtual clock then moves over the following
// days to show the timers firing (read back from NATS as a downstream
// consumer reads them), and the read models are printed through the API.
//
// The demo doubles as a smoke test: every step declares the answer it
// expects, and the command exits 1 if any answer differs.
//
//	go run ./cmd/payoutdemo                    # a temporary data directory, removed at exit
//	go run ./cmd/payoutdemo -data DIR          # keep the data (DIR must be new or empty)
//	go run ./cmd/payoutdemo -sync interval     # acknowledge before fsync (see README)
//	go run ./cmd/payoutdemo -quiet             # only the read models and the summary
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	_ "time/tzdata" // shops' time zones without relying on the host's zoneinfo

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/adapters/payoutd"
	"github.com/payoutledger/ledger/domain"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed flags.
type options struct {
	dataDir string
	sync    jetstream.Sync
	quiet   bool
}

// Main runs the demo and returns the exit status: 0 when every step was
// answered as the scenario expects, 1 otherwise (or on a failure to run),
// 2 on a usage error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("payoutdemo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var syncFlag string
	fs.StringVar(&o.dataDir, "data", "", "keep the service's data in `DIR` (new or empty); default a temporary directory removed at exit")
	fs.StringVar(&syncFlag, "sync", string(jetstream.SyncAlways), "fsync policy: always (fsync before every acknowledgement) or interval (acknowledge once written, fsync in the background)")
	fs.BoolVar(&o.quiet, "quiet", false, "print only the read models and the summary")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "payoutdemo: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	switch o.sync = jetstream.Sync(syncFlag); o.sync {
	case jetstream.SyncAlways, jetstream.SyncInterval:
	default:
		fmt.Fprintf(stderr, "payoutdemo: -sync %q: want always or interval\n", syncFlag)
		return 2
	}
	if err := run(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "payoutdemo:", err)
		return 1
	}
	return 0
}

// demoStart is when the day begins: Monday 10:00 in Asia/Shanghai.
func demoStart() (time.Time, error) {
	loc, err := time.LoadLocation(domain.DefaultTimeZone)
	if err != nil {
		return time.Time{}, err
	}
	return time.Date(2026, 11, 23, 10, 0, 0, 0, loc), nil
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) (err error) {
	dir, cleanup, err := dataDir(o.dataDir)
	if err != nil {
		return err
	}
	defer cleanup()
	start, err := demoStart()
	if err != nil {
		return err
	}
	clk := newClock(start)

	// The tokens exist before the service starts: it reads the file once
	// at start and follows it afterwards.
	tok, err := issueTokens(ctx, dir)
	if err != nil {
		return err
	}
	svc, err := payoutd.Start(ctx, payoutd.Config{
		DataDir:    dir,
		HTTPAddr:   "127.0.0.1:0",
		NATSListen: "127.0.0.1:-1",
		Sync:       string(o.sync),
		Clock:      clk.Now,
		// The virtual clock jumps; a short tick fires what fell due at
		// once instead of up to a second later.
		TimerTick: 10 * time.Millisecond,
		// Only problems: the demo prints what happens itself.
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return fmt.Errorf("start payoutd: %w", err)
	}
	defer func() {
		if serr := svc.Shutdown(context.Background()); serr != nil && err == nil {
			err = fmt.Errorf("stop payoutd: %w", serr)
		}
	}()
	fol, err := follow(ctx, svc.NATSURL())
	if err != nil {
		return err
	}
	defer fol.Close()

	out := stdout
	if o.quiet {
		out = io.Discard
	}
	d := newDemo(ctx, "http://"+svc.HTTPAddr(), clk, tok, fol, out, stdout, stderr)
	defer d.client.CloseIdleConnections()
	mode := "fsync before every acknowledgement"
	if o.sync == jetstream.SyncInterval {
		mode = "acknowledged once written, fsynced in the background"
	}
	kept := "removed at exit; keep it with -data DIR"
	if o.dataDir != "" {
		kept = "kept"
	}
	fmt.Fprintf(out, "payout ledger demo: payoutd running in this process\n")
	fmt.Fprintf(out, "  API     %s   (every route: docs/openapi.yaml)\n", d.base)
	fmt.Fprintf(out, "  events  %s   subjects ledger.<platform>.<shop>.<EventType>; this demo follows them as a consumer\n", svc.NATSURL())
	fmt.Fprintf(out, "  data    %s (%s), %s\n", dir, kept, mode)
	fmt.Fprintf(out, "  clock   virtual, starts %s (Asia/Shanghai); the demo moves it to show the timers\n", start.Format("Mon 2006-01-02 15:04"))
	fmt.Fprintf(out, "  tokens  %d issued: an operator per platform, a main account (admin) and a sub-account (cs-lin) per shop\n", tok.count())
	fmt.Fprintf(out, "  each step: who (token role and account), METHOD path, HTTP status, then the events appended or REJECTED code: message\n")

	d.play()
	head, events, streams, err := d.audit(svc.Store())
	if err != nil {
		return err
	}
	if err := d.settle(svc.Views(), head); err != nil {
		return err
	}
	fmt.Fprintf(out, "\naudit: read %d events back from the start of the log, %d shop streams, every hash chain verified\n", events, streams)
	d.printViews()
	d.summary()
	d.explore(o.dataDir != "", dir)
	if n := len(d.mismatches); n > 0 {
		return fmt.Errorf("%d of %d answers differ from what the scenario expects (listed above)", n, d.checked)
	}
	return nil
}

// dataDir returns the data directory to use and what to do at exit. A
// directory given by the user must be new or empty: the scenario's IDs
// (shops, payouts) would collide with a previous run's.
func dataDir(flagDir string) (string, func(), error) {
	if flagDir == "" {
		tmp, err := os.MkdirTemp("", "payoutdemo-")
		if err != nil {
			return "", nil, err
		}
		return tmp, func() { _ = os.RemoveAll(tmp) }, nil
	}
	entries, err := os.ReadDir(flagDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return "", nil, err
	case len(entries) > 0:
		return "", nil, fmt.Errorf("-data %s is not empty: the demo needs a new directory (explore a kept one with `go run ./cmd/payoutd -data %s`)", flagDir, flagDir)
	}
	if err := os.MkdirAll(flagDir, 0o750); err != nil {
		return "", nil, err
	}
	return flagDir, func() {}, nil
}
