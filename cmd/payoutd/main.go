// Command payoutd is the payout ledger service: the HTTP API for merchant
// back-offices, customer-service tools and the platform operator, the
// timers, the read models, and the events on NATS subjects for downstream
// consumers. With no flags (`make run`) it runs on embedded defaults: a
// NATS server with JetStream file storage under ./data (clients on
// 127.0.0.1:4222), fsync before every acknowledgement, the API on
// 127.0.0.1:8080.
//
//	payoutd                                     # embedded everything, data in ./data
//	payoutd -nats-url nats://n1:4222 -replicas 3 # an external JetStream cluster
//	payoutd -esdb-url 'esdb://db:2113?tls=false' -nats-url nats://n1:4222
//	payoutd -pg-dsn postgres://ledger@db/readmodels
//
// Every flag can be given as an environment variable PAYOUTD_<FLAG>
// (PAYOUTD_NATS_URL). SIGINT or SIGTERM stop it gracefully. See
// docs/operations.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	_ "time/tzdata" // shops' time zones without relying on the host's zoneinfo

	"github.com/payoutledger/ledger/adapters/payoutd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// Main runs payoutd until ctx is done or a background part fails, and
// returns the exit status: 0 after a clean stop, 1 on a failure, 2 on a
// usage error.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := payoutd.ParseArgs(args, getenv, func(fs *flag.FlagSet) {
		fmt.Fprintln(stdout, "usage: payoutd [flags]   (each flag also as PAYOUTD_<FLAG>, e.g. PAYOUTD_NATS_URL)")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
	})
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "payoutd:", err)
		return 2
	}
	svc, err := payoutd.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "payoutd:", err)
		return 1
	}
	fmt.Fprintf(stdout, "payoutd: API on http://%s  (health: /healthz, /readyz; metrics: /metrics)\n", svc.HTTPAddr())
	if u := svc.NATSURL(); u != "" {
		fmt.Fprintf(stdout, "payoutd: events on NATS at %s, subjects ledger.<platform>.<shop>.<EventType>\n", u)
	}
	if n := svc.TokenCount(); n == 0 {
		fmt.Fprintf(stdout, "payoutd: no API token yet; create one (shown once) with:\n  go run ./cmd/payoutctl token create --data %s --operator --name ops\n", cfg.DataDir)
	}
	status := 0
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "payoutd: stopping (finishing in-flight commands, flushing checkpoints)")
	case err := <-svc.Failed():
		fmt.Fprintln(stderr, "payoutd:", err)
		status = 1
	}
	if err := svc.Shutdown(context.Background()); err != nil {
		fmt.Fprintln(stderr, "payoutd:", err)
		status = 1
	}
	return status
}
