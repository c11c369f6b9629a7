package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"

	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/projections"
)

const verifyUsage = `usage: payoutctl verify --data DIR [--views DIR] [--max-diffs N]

Audit the ledger in one pass over the event log:

1. Every stream's hash chain (eventstore.ChainVerifier): an altered event
   (its content no longer matches its hash), a removed event (a version
   missing), a reordered event (versions out of order) or a wrong previous
   hash is reported with its stream and version; every event is decoded.
   The chain cannot show an event removed from the END of a stream (the
   last event's successor is what would vouch for it): keep the heads
   elsewhere for that.

2. With --views: every projection in that read-model store (the active
   version of each, at its checkpoint) is compared with a fresh rebuild of
   the same projection from position 0 up to the same checkpoint, row by
   row and column by column; every difference is printed (0 expected).

--data is the data directory of the embedded event store, --views the
directory of an embedded read-model store (payoutctl replay's, or the one
payoutd keeps); neither may be open in another process: stop payoutd or
verify a copy.

Exit status: 0 when every chain is intact and there is no difference, 1
when a chain is broken, an event cannot be read or a difference is found,
2 on bad flags or a directory that cannot be opened.

Flags:
`

func runVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("payoutctl verify", flag.ContinueOnError)
	data := fs.String("data", "", "data directory of the embedded event store (required)")
	views := fs.String("views", "", "directory of the embedded read-model store to compare with a rebuild (optional)")
	maxDiffs := fs.Int("max-diffs", 0, "print at most this many differences per projection (0: all)")
	if done, code := parseFlags(fs, args, verifyUsage, stdout, stderr); done {
		return code
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "payoutctl verify: "+format+"\n", a...)
		return exitUsage
	}
	if *data == "" {
		return bad("--data is required (run `payoutctl verify --help`)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	es, err := openLedger(ctx, *data)
	if err != nil {
		return bad("%v", err)
	}
	defer es.Close()

	// The live read models, and a rebuild target for each.
	var live []*projections.Snapshot
	var targets []rebuild
	problems := 0
	if *views != "" {
		rm, err := openViews(*views)
		if err != nil {
			return bad("%v", err)
		}
		defer rm.Close()
		for _, f := range projections.All() {
			sc := f().Schema()
			v, err := rm.Active(ctx, sc.Projection)
			if err != nil {
				return bad("%v", err)
			}
			if v != sc.Version {
				fmt.Fprintf(stdout, "projection %s: the store's active version is v%d; this payoutctl rebuilds v%d: not compared\n", sc.Projection, v, sc.Version)
				problems++
				continue
			}
			sn, err := projections.ReadSnapshot(ctx, rm, sc)
			if err != nil {
				return bad("read %s from %s: %v", sc.Projection, *views, err)
			}
			live = append(live, sn)
			targets = append(targets, rebuild{proj: f(), upTo: sn.Checkpoint})
		}
	}

	res, err := verifyLog(ctx, es, targets)
	if err != nil {
		fmt.Fprintf(stderr, "payoutctl verify: reading the log: %v\n", err)
		return exitProblems
	}
	fmt.Fprintf(stdout, "event log: %d events in %d streams\n", res.Events, res.Streams)
	for _, p := range res.Problems {
		fmt.Fprintf(stdout, "BROKEN stream %s at version %d (position %d): %s\n", p.Stream, p.Version, p.Position, p.Reason)
		problems++
	}
	if len(res.Problems) == 0 {
		fmt.Fprintln(stdout, "hash chains: every stream intact")
	}

	for i, sn := range live {
		rebuilt := projections.SnapshotOf(targets[i].proj, sn.Checkpoint)
		if targets[i].err != nil {
			fmt.Fprintf(stdout, "projection %s v%d: the rebuild failed: %v\n", sn.Schema.Projection, sn.Schema.Version, targets[i].err)
			problems++
			continue
		}
		if res.Last < sn.Checkpoint {
			fmt.Fprintf(stdout, "projection %s v%d: checkpoint %d is beyond the end of the log (%d): the read model has events the log does not\n",
				sn.Schema.Projection, sn.Schema.Version, sn.Checkpoint, res.Last)
			problems++
		}
		diffs := projections.Diff(sn, rebuilt)
		fmt.Fprintf(stdout, "projection %s v%d at position %d: %d rows, %d differences\n",
			sn.Schema.Projection, sn.Schema.Version, sn.Checkpoint, sn.Count(), len(diffs))
		for j, d := range diffs {
			if *maxDiffs > 0 && j >= *maxDiffs {
				fmt.Fprintf(stdout, "  ... %d more\n", len(diffs)-j)
				break
			}
			fmt.Fprintf(stdout, "  %s\n", describeDiff(d))
		}
		problems += len(diffs)
	}
	if problems > 0 {
		fmt.Fprintf(stdout, "verify: %d problems\n", problems)
		return exitProblems
	}
	if *views != "" {
		fmt.Fprintln(stdout, "verify: 0 differences, every hash chain intact")
	} else {
		fmt.Fprintln(stdout, "verify: every hash chain intact")
	}
	return exitOK
}

// describeDiff says which side holds what: the live store (first) or the
// rebuild (second).
func describeDiff(d projections.Difference) string {
	where := fmt.Sprintf("%s.%s [%s]", d.Projection, d.Table, d.Key)
	switch d.Kind {
	case "missing":
		return where + ": only in the live store: " + d.A
	case "extra":
		return where + ": only in the rebuild: " + d.B
	case "checkpoint":
		return fmt.Sprintf("%s: checkpoint %s live, %s rebuilt", d.Projection, d.A, d.B)
	}
	return fmt.Sprintf("%s %s: %s live, %s rebuilt", where, d.Column, d.A, d.B)
}

// rebuild is a projection rebuilt from nothing up to position upTo.
type rebuild struct {
	proj projections.Projector
	upTo uint64
	err  error // the projector's error, with its position
}

// chainProblem is where a stream cannot be trusted.
type chainProblem struct {
	Stream   string
	Version  uint64
	Position uint64
	Reason   string
}

type logResult struct {
	Events, Streams int
	Last            uint64 // last position read
	Problems        []chainProblem
}

// verifyLog reads the whole log once, in global order: it checks each
// stream's hash chain (the first break of a stream is reported and the
// rest of that stream is not checked again), decodes every event, and
// feeds each rebuild the decoded events up to its position.
func verifyLog(ctx context.Context, src projections.Source, targets []rebuild) (logResult, error) {
	var res logResult
	verifiers := map[string]*eventstore.ChainVerifier{}
	broken := map[string]bool{}
	for from := uint64(1); ; {
		recs, err := src.ReadAll(ctx, from, 10_000)
		if err != nil {
			return res, err
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			res.Events++
			res.Last, from = r.Position, r.Position+1
			v := verifiers[r.Stream]
			if v == nil {
				v = &eventstore.ChainVerifier{Stream: r.Stream}
				verifiers[r.Stream] = v
			}
			if !broken[r.Stream] {
				if err := v.Check(r); err != nil {
					var ce *eventstore.ChainError
					reason := err.Error()
					ver := r.Version
					if errors.As(err, &ce) {
						reason, ver = ce.Reason, ce.Version
					}
					res.Problems = append(res.Problems, chainProblem{Stream: r.Stream, Version: ver, Position: r.Position, Reason: reason})
					broken[r.Stream] = true
				}
			}
			ev, err := handler.Decode(r)
			if err != nil {
				res.Problems = append(res.Problems, chainProblem{Stream: r.Stream, Version: r.Version, Position: r.Position,
					Reason: "cannot be decoded: " + err.Error()})
				continue
			}
			for i := range targets {
				t := &targets[i]
				if t.err != nil || r.Position > t.upTo {
					continue
				}
				if err := t.proj.Apply(ev); err != nil {
					t.err = fmt.Errorf("position %d (%s v%d %s): %w", r.Position, r.Stream, r.Version, r.Type, err)
				}
			}
		}
	}
	res.Streams = len(verifiers)
	sort.SliceStable(res.Problems, func(i, j int) bool { return res.Problems[i].Position < res.Problems[j].Position })
	return res, nil
}
