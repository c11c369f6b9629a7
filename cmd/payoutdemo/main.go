// Command payoutdemo plays a realistic day across the five platforms
// through the real command path (handler -> domain -> embedded JetStream
// store with fsync before every acknowledgement) and prints what the ledger
// decided: accepted events and rejections with their rule codes. Then it
// reads the whole log back as an auditor would and verifies every stream's
// hash chain.
//
//	go run ./cmd/payoutdemo              # a fresh temporary data directory
//	go run ./cmd/payoutdemo -data DIR    # keep the events in DIR (must be new)
//	go run ./cmd/payoutdemo -sync interval  # acknowledge before fsync (see README)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "time/tzdata" // shops' time zones without relying on the host's zoneinfo

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/eventstore/tailguard"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "payoutdemo:", err)
		os.Exit(1)
	}
}

func run() error {
	dataDir := flag.String("data", "", "data directory for the embedded NATS server (default: a new temporary directory, removed at exit)")
	sync := flag.String("sync", string(jetstream.SyncAlways), "fsync policy: always (fsync before every acknowledgement) or interval (acknowledge once written, fsync in the background)")
	flag.Parse()
	dir := *dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "payoutdemo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	ctx := context.Background()
	store, err := jetstream.Open(ctx, jetstream.Config{DataDir: dir, Sync: jetstream.Sync(*sync)})
	if err != nil {
		return fmt.Errorf("open the embedded event store: %w", err)
	}
	defer store.Close()

	// The heads of the streams are also kept outside them: a log that lost
	// its last events (a disk that dropped its tail, an old backup put
	// back) is refused here instead of served.
	heads := tailguard.FileStore{Path: filepath.Join(dir, "ledger-heads.json")}
	recorded, err := heads.Load(ctx)
	if err != nil {
		return err
	}
	findings, err := tailguard.Verify(ctx, store, recorded)
	if err != nil {
		return err
	}
	if len(findings) > 0 {
		for _, f := range findings {
			fmt.Fprintln(os.Stderr, "payoutdemo:", f)
		}
		return fmt.Errorf("the event log in %s is shorter or other than the one recorded: refusing to serve it", dir)
	}
	guard := tailguard.New(heads, recorded)
	defer guard.Close()
	if existing, err := store.ReadAll(ctx, 0, 1); err != nil {
		return err
	} else if len(existing) > 0 {
		// The scenario's commands carry fixed idempotency keys: played
		// again they would only return their first outcomes.
		fmt.Printf("the log in %s already holds the demo's events: auditing it only\n", dir)
		return audit(ctx, store)
	}

	shanghai, err := time.LoadLocation(domain.DefaultTimeZone)
	if err != nil {
		return err
	}
	clk := &clock{now: time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)}
	h := handler.New(store, handler.Config{Clock: clk.Now, OnAppend: guard.Record})
	mode := "fsync before every acknowledgement"
	if jetstream.Sync(*sync) == jetstream.SyncInterval {
		mode = "acknowledged once written, fsynced in the background"
	}
	fmt.Printf("payout ledger demo: embedded JetStream in %s, %s\n", dir, mode)
	fmt.Printf("virtual clock starts %s (Asia/Shanghai); +duration shows timers firing\n", clk.now.Format("Mon 2006-01-02 15:04"))
	r := &runner{ctx: ctx, h: h, clk: clk, out: os.Stdout, rejected: map[string]int{}}
	r.run()
	return audit(ctx, store)
}

// audit reads the log from position 0 and verifies every stream's chain.
func audit(ctx context.Context, store eventstore.Store) error {
	verifiers := map[string]*eventstore.ChainVerifier{}
	var n int
	var from uint64
	for {
		recs, err := store.ReadAll(ctx, from, 1000)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			v := verifiers[r.Stream]
			if v == nil {
				v = &eventstore.ChainVerifier{Stream: r.Stream}
				verifiers[r.Stream] = v
			}
			if err := v.Check(r); err != nil {
				return fmt.Errorf("audit: %w", err)
			}
			if _, err := handler.Decode(r); err != nil {
				return fmt.Errorf("audit: %s v%d: %w", r.Stream, r.Version, err)
			}
			n++
			from = r.Position + 1
		}
	}
	fmt.Printf("\naudit: read %d events from position 0; %d streams, every hash chain verified\n", n, len(verifiers))
	return nil
}
