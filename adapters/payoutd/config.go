// Package payoutd assembles the ledger service from its adapters: the event
// store (embedded JetStream by default, an external NATS cluster or
// EventStoreDB), the command handler, the read models, the timers, the
// NATS relay (EventStoreDB backend), the HTTP API with its tokens, and the
// operational endpoints. cmd/payoutd parses flags and environment into a
// Config and calls Start; tests and benchmarks call Start directly.
package payoutd

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/payoutledger/ledger/adapters/jetstream"
)

// Config is everything payoutd can be told. Zero values take the defaults
// (the embedded single node of `make run`).
type Config struct {
	// DataDir holds the embedded event store, the embedded read models,
	// the token file, the stream heads and the snapshots (default ./data).
	DataDir string
	// HTTPAddr: the API and the operational endpoints (default
	// 127.0.0.1:8080; port 0 picks a free one).
	HTTPAddr string
	// NATSListen, embedded mode: the client port downstream consumers
	// connect to (default 127.0.0.1:4222; "none" for no listener; port -1
	// picks a free one).
	NATSListen string
	// NATSURL: an external NATS cluster instead of the embedded server
	// (the event store, or the relay's target with EventStoreDB).
	NATSURL                            string
	NATSCreds                          string
	NATSTLSCA, NATSTLSCert, NATSTLSKey string
	Replicas                           int    // of the JetStream stream created on an external cluster: 1 or 3
	Sync                               string // embedded: always (default: fsync before acknowledging) or interval
	ESDBURL                            string // EventStoreDB instead of JetStream, e.g. esdb://127.0.0.1:2113?tls=false
	PostgresDSN                        string // read models in PostgreSQL instead of the embedded store
	TokensFile                         string // default <DataDir>/tokens.json
	Verify                             string // at start: quick (default), full, or heads
	Holidays                           []string
	ShutdownTimeout                    time.Duration // default 20 s
	LogFormat                          string        // text (default) or json
	LogLevel                           string        // debug, info (default), warn, error
	GroupCommitOff                     bool          // benchmarks only: one append per command
	MaxBodyBytes                       int64         // per request (default 64 KiB)
	Logger                             *slog.Logger  // overrides LogFormat/LogLevel (tests)
	Clock                              func() time.Time
	TimerTick                          time.Duration // how often due timers are checked (default 1 s)
	HeadsFlushInterval                 time.Duration // tail guard (default 1 s)
}

// Env names: every flag can also be set as PAYOUTD_<FLAG> in upper case
// with dashes as underscores (PAYOUTD_NATS_URL); a flag given on the
// command line wins.
const envPrefix = "PAYOUTD_"

// ParseArgs fills a Config from command-line arguments and the
// environment (getenv). It returns flag.ErrHelp for -h.
func ParseArgs(args []string, getenv func(string) string, usage func(*flag.FlagSet)) (Config, error) {
	var c Config
	var holidays, shutdown, timerTick string
	var replicas, maxBody string
	fs := flag.NewFlagSet("payoutd", flag.ContinueOnError)
	str := func(p *string, name, def, help string) { fs.StringVar(p, name, def, help) }
	str(&c.DataDir, "data", "./data", "data directory: embedded event store, read models, tokens, stream heads, snapshots")
	str(&c.HTTPAddr, "http", "127.0.0.1:8080", "listen address of the HTTP API and /healthz, /readyz, /metrics")
	str(&c.NATSListen, "nats-listen", "127.0.0.1:4222", "embedded NATS: client port for downstream consumers (\"none\": no listener)")
	str(&c.NATSURL, "nats-url", "", "external NATS servers (nats://h1:4222,nats://h2:4222) instead of the embedded server")
	str(&c.NATSCreds, "nats-creds", "", "NATS credentials file (external NATS)")
	str(&c.NATSTLSCA, "nats-tls-ca", "", "CA file verifying the NATS servers")
	str(&c.NATSTLSCert, "nats-tls-cert", "", "client certificate for NATS")
	str(&c.NATSTLSKey, "nats-tls-key", "", "client key for NATS")
	str(&replicas, "replicas", "1", "replicas of the JetStream stream created on an external cluster (1 or 3)")
	str(&c.Sync, "sync", string(jetstream.SyncAlways), "embedded store: always (fsync before every acknowledgement) or interval (acknowledge when written; fsync in the background)")
	str(&c.ESDBURL, "esdb-url", "", "EventStoreDB connection string instead of JetStream (events relayed to --nats-url)")
	str(&c.PostgresDSN, "pg-dsn", "", "PostgreSQL DSN for the read models (default: embedded store under --data)")
	str(&c.TokensFile, "tokens", "", "token file (default <data>/tokens.json; payoutctl token create writes it)")
	str(&c.Verify, "verify", "quick", "check of the event log at start: quick (recorded heads + the tail of each stream and of the log), full (every event), heads (recorded heads only)")
	str(&holidays, "holidays", "", "non-business days for refund due dates: comma-separated YYYY-MM-DD, or @FILE with one per line")
	str(&shutdown, "shutdown-timeout", "20s", "how long a graceful stop waits for in-flight requests")
	str(&timerTick, "timer-tick", "1s", "how often due timers are checked")
	str(&maxBody, "max-body", "65536", "largest accepted request body, bytes")
	str(&c.LogFormat, "log-format", "text", "text or json")
	str(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	if usage != nil {
		fs.Usage = func() { usage(fs) }
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	// Environment for every flag not set on the command line.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || envErr != nil {
			return
		}
		key := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(key); v != "" {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s: %w", key, err)
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	var err error
	if c.Replicas, err = strconv.Atoi(replicas); err != nil {
		return c, fmt.Errorf("-replicas %q: %w", replicas, err)
	}
	if c.MaxBodyBytes, err = strconv.ParseInt(maxBody, 10, 64); err != nil || c.MaxBodyBytes < 1024 {
		return c, fmt.Errorf("-max-body %q: want a number of bytes >= 1024", maxBody)
	}
	if c.ShutdownTimeout, err = time.ParseDuration(shutdown); err != nil {
		return c, fmt.Errorf("-shutdown-timeout: %w", err)
	}
	if c.TimerTick, err = time.ParseDuration(timerTick); err != nil || c.TimerTick <= 0 {
		return c, fmt.Errorf("-timer-tick %q: want a positive duration", timerTick)
	}
	if c.Holidays, err = parseHolidays(holidays); err != nil {
		return c, err
	}
	return c, nil
}

func parseHolidays(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	text := s
	if strings.HasPrefix(s, "@") {
		b, err := os.ReadFile(s[1:])
		if err != nil {
			return nil, fmt.Errorf("-holidays: %w", err)
		}
		text = strings.ReplaceAll(string(b), "\n", ",")
	}
	var out []string
	for _, d := range strings.Split(text, ",") {
		d = strings.TrimSpace(d)
		if d == "" || strings.HasPrefix(d, "#") {
			continue
		}
		if _, err := time.Parse("2006-01-02", d); err != nil {
			return nil, fmt.Errorf("-holidays: %q is not a YYYY-MM-DD date", d)
		}
		out = append(out, d)
	}
	return out, nil
}

// withDefaults validates c and fills its defaults.
func (c Config) withDefaults() (Config, error) {
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:8080"
	}
	if c.NATSListen == "" {
		c.NATSListen = "127.0.0.1:4222"
	}
	if c.NATSListen == "none" {
		c.NATSListen = ""
	}
	if c.TokensFile == "" {
		c.TokensFile = filepath.Join(c.DataDir, "tokens.json")
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 20 * time.Second
	}
	if c.TimerTick <= 0 {
		c.TimerTick = time.Second
	}
	if c.HeadsFlushInterval <= 0 {
		c.HeadsFlushInterval = time.Second
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Sync == "" {
		c.Sync = string(jetstream.SyncAlways)
	}
	switch c.Sync {
	case string(jetstream.SyncAlways), string(jetstream.SyncInterval):
	default:
		return c, fmt.Errorf("-sync %q: want always or interval", c.Sync)
	}
	switch c.Verify {
	case "":
		c.Verify = "quick"
	case "quick", "full", "heads":
	default:
		return c, fmt.Errorf("-verify %q: want quick, full or heads", c.Verify)
	}
	switch {
	case c.ESDBURL != "" && c.Replicas > 1:
		return c, errors.New("-replicas applies to a JetStream stream; EventStoreDB replicates by its cluster")
	case c.NATSURL != "" && c.ESDBURL == "" && c.Sync != string(jetstream.SyncAlways):
		return c, errors.New("-sync applies to the embedded server; an external server's sync_interval decides its fsync policy")
	case c.Replicas != 0 && c.Replicas != 1 && c.Replicas != 3:
		return c, fmt.Errorf("-replicas %d: want 1 or 3", c.Replicas)
	case c.Replicas == 3 && c.NATSURL == "":
		return c, errors.New("-replicas 3 needs an external cluster (-nats-url): the embedded server is a single node")
	}
	if c.Logger == nil {
		var level slog.Level
		if err := level.UnmarshalText([]byte(c.LogLevel)); c.LogLevel != "" && err != nil {
			return c, fmt.Errorf("-log-level %q: want debug, info, warn or error", c.LogLevel)
		}
		opts := &slog.HandlerOptions{Level: level}
		switch c.LogFormat {
		case "", "text":
			c.Logger = slog.New(slog.NewTextHandler(os.Stderr, opts))
		case "json":
			c.Logger = slog.New(slog.NewJSONHandler(os.Stderr, opts))
		default:
			return c, fmt.Errorf("-log-format %q: want text or json", c.LogFormat)
		}
	}
	return c, nil
}
