package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/projections"
)

const replayUsage = `usage: payoutctl replay --data DIR --views DIR [--until TIME] [--progress auto|always|never]

Rebuild every projection (quota usage, daily shop totals, duplicate
warnings, payout records, approvals queue, funding balances) from position
0 of the event log into a fresh embedded read-model store.

--data is the data directory of the embedded event store (the one
payoutdemo -data and payoutd use); it must not be open in another process.
--views is the directory of the new read-model store: it must not exist yet
or hold no read model. Point payoutd (or payoutctl verify) at it afterwards.

--until rebuilds the read models as they stood at an instant: the log in
commit order up to the last event RECORDED at or before TIME (the store's
recorded-at, stamped at commit; not the events' occurred-at, which is the
decision's clock and need not follow commit order). The rebuild is a prefix
of the log, so it is consistent: it is what the ledger had seen at TIME.

Progress: on a terminal, a progress line on stderr (events, events/s,
ETA); otherwise (or with --progress never) a plain summary at the end.

Exit status: 0 when every projection was rebuilt, 1 when one failed (its
position and error are printed) or the replay was interrupted, 2 on bad
flags or a directory that cannot be opened.

Flags:
`

func runReplay(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("payoutctl replay", flag.ContinueOnError)
	data := fs.String("data", "", "data directory of the embedded event store (required)")
	views := fs.String("views", "", "directory of the new read-model store (required; must be new or empty)")
	until := fs.String("until", "", "rebuild as of this instant (RFC 3339): events recorded at or before it")
	progress := fs.String("progress", "auto", "progress line on stderr: auto (when stderr is a terminal), always, never")
	if done, code := parseFlags(fs, args, replayUsage, stdout, stderr); done {
		return code
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "payoutctl replay: "+format+"\n", a...)
		return exitUsage
	}
	if *data == "" || *views == "" {
		return bad("--data and --views are required (run `payoutctl replay --help`)")
	}
	var cutoff time.Time
	if *until != "" {
		t, err := time.Parse(time.RFC3339Nano, *until)
		if err != nil {
			return bad("--until %q is not an RFC 3339 time (2026-11-23T18:00:00+08:00)", *until)
		}
		cutoff = t
	}
	var showProgress bool
	switch *progress {
	case "auto":
		showProgress = isTerminal(stderr)
	case "always":
		showProgress = true
	case "never":
	default:
		return bad("--progress must be auto, always or never")
	}
	if err := isFreshViews(*views); err != nil {
		return bad("%v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	es, err := openLedger(ctx, *data)
	if err != nil {
		return bad("%v", err)
	}
	defer es.Close()
	rm, err := projections.OpenEmbedded(*views)
	if err != nil {
		return bad("%v", err)
	}
	defer rm.Close()

	head, err := projections.HeadPosition(ctx, es, 0)
	if err != nil {
		return bad("find the end of the log: %v", err)
	}
	cfg := projections.Config{Source: es, Store: rm, DensePositions: true, StopAtHead: true,
		BatchEvents: 10_000, PageSize: 10_000, BatchInterval: time.Second}
	if !cutoff.IsZero() {
		cfg.StopBefore = func(r eventstore.RecordedEvent) bool { return r.RecordedAt.After(cutoff) }
	}
	rt, err := projections.New(cfg, projections.All()...)
	if err != nil {
		return bad("%v", err)
	}

	began := time.Now()
	done := make(chan struct{})
	if showProgress {
		go func() {
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					fmt.Fprintf(stderr, "\r%s", progressLine(rt.Status(), head, time.Since(began)))
				}
			}
		}()
	}
	runErr := rt.Run(ctx)
	close(done)
	elapsed := time.Since(began)
	if showProgress {
		fmt.Fprintf(stderr, "\r%s\n", progressLine(rt.Status(), head, elapsed))
	}

	sts := rt.Status()
	last := minApplied(sts)
	rate := float64(last) / max(elapsed.Seconds(), 1e-9)
	fmt.Fprintf(stdout, "replay: %s events (positions 1 to %d of %d) into %d projections in %s: %s events/s\n",
		thousands(last), last, head, len(sts), elapsed.Round(time.Millisecond), thousands(uint64(rate)))
	if !cutoff.IsZero() {
		fmt.Fprintf(stdout, "as of %s (recorded-at): the log up to position %d\n", cutoff.Format(time.RFC3339Nano), last)
	}
	for _, s := range sts {
		state := "ok"
		if s.Err != nil {
			state = "FAILED: " + s.Err.Error()
		}
		fmt.Fprintf(stdout, "  %-20s v%d  checkpoint %-10d %s\n", s.Projection, s.Version, s.Checkpoint, state)
	}
	fmt.Fprintf(stdout, "read models in %s\n", *views)
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "payoutctl replay: interrupted; the read models stop at the checkpoints above (run again into a fresh --views)")
		return exitProblems
	case runErr != nil:
		fmt.Fprintf(stderr, "payoutctl replay: %v\n", runErr)
		return exitProblems
	}
	return exitOK
}

func minApplied(sts []projections.Status) uint64 {
	var m uint64
	for i, s := range sts {
		if i == 0 || s.Applied < m {
			m = s.Applied
		}
	}
	return m
}

// progressLine: events applied (by the slowest projection) of the log's
// length when the replay started, events/s and the estimated time left.
func progressLine(sts []projections.Status, head uint64, elapsed time.Duration) string {
	done := minApplied(sts)
	pct := 100.0
	if head > 0 {
		pct = 100 * float64(done) / float64(head)
	}
	rate := float64(done) / max(elapsed.Seconds(), 1e-9)
	eta := "-"
	if rate > 0 && head > done {
		eta = time.Duration(float64(head-done) / rate * float64(time.Second)).Round(time.Second).String()
	} else if head <= done {
		eta = "0s"
	}
	return fmt.Sprintf("replay %s / %s events %5.1f%%  %s events/s  ETA %s   ",
		thousands(done), thousands(head), pct, thousands(uint64(rate)), eta)
}
