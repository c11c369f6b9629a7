package payoutd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/payoutledger/ledger/adapters/esdb"
	"github.com/payoutledger/ledger/adapters/httpapi"
	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/adapters/metrics"
	"github.com/payoutledger/ledger/adapters/relay"
	"github.com/payoutledger/ledger/adapters/timers"
	"github.com/payoutledger/ledger/adapters/tokens"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/eventstore/integrity"
	"github.com/payoutledger/ledger/eventstore/tailguard"
	"github.com/payoutledger/ledger/projections"
	"github.com/payoutledger/ledger/projections/postgres"
)

// Service is a running payoutd.
type Service struct {
	cfg Config
	log *slog.Logger

	store    eventstore.Store
	js       *jetstream.Store // nil with EventStoreDB
	guard    *tailguard.Guard
	handler  *handler.Handler
	views    projections.ReadModelStore
	runtime  *projections.Runtime
	timers   *timers.Scheduler
	relayNC  *nats.Conn
	tokens   *tokens.FileStore
	api      *httpapi.API
	registry *metrics.Registry
	server   *http.Server
	listener net.Listener

	// Background parts run under bg until Shutdown; their failure is
	// reported on failed (and by /healthz).
	bg       context.Context
	stopBg   context.CancelFunc
	timersWG sync.WaitGroup
	viewsWG  sync.WaitGroup
	relayWG  sync.WaitGroup
	serveWG  sync.WaitGroup
	failed   chan error
	fatal    atomic.Pointer[error]
	draining atomic.Bool
	started  time.Time
	stopOnce sync.Once
	stopErr  error
}

// Start opens the store and the read models, verifies the log's tail,
// starts the projections, the timers (and the relay with EventStoreDB)
// and serves HTTP. It returns when the HTTP listener is bound; /readyz says
// when the read models have caught up. Stop it with Shutdown.
func Start(ctx context.Context, cfg Config) (s *Service, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s = &Service{cfg: cfg, log: cfg.Logger, failed: make(chan error, 8), started: time.Now()}
	var closers []func() error // undo on a failed start, in reverse
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				_ = closers[i]()
			}
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	s.registry = metrics.NewRegistry()
	m := newServiceMetrics(s.registry)

	// 1. The event store.
	if err := s.openStore(ctx); err != nil {
		return nil, err
	}
	closers = append(closers, s.store.Close)

	// 2. The log's tail must be what this service last wrote: a store that
	// lost its last events (a disk that dropped its tail, an old backup
	// put back) is refused instead of served.
	heads := tailguard.FileStore{Path: filepath.Join(cfg.DataDir, "ledger-heads.json")}
	recorded, err := heads.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream heads: %w", err)
	}
	if err := s.verifyLog(ctx, heads.Path, recorded); err != nil {
		return nil, err
	}
	s.guard = tailguard.New(heads, recorded)
	closers = append(closers, s.guard.Close)

	// 3. The command path.
	holidays := map[string]bool{}
	for _, d := range cfg.Holidays {
		holidays[d] = true
	}
	hcfg := handler.Config{
		Clock: cfg.Clock, Holidays: holidays, OnAppend: s.guard.Record,
		Snapshots: handler.FileSnapshots{Dir: filepath.Join(cfg.DataDir, "snapshots")},
	}
	if cfg.GroupCommitOff {
		hcfg.GroupCommit = handler.GroupCommitOff
	}
	s.handler = handler.New(m.instrument(s.store), hcfg)

	// 4. The read models.
	if cfg.PostgresDSN != "" {
		pg, err := postgres.Open(ctx, postgres.Config{DSN: cfg.PostgresDSN})
		if err != nil {
			return nil, fmt.Errorf("read models: %w", err)
		}
		s.views = pg
	} else {
		emb, err := projections.OpenEmbedded(filepath.Join(cfg.DataDir, "views"))
		if err != nil {
			return nil, fmt.Errorf("read models: %w", err)
		}
		s.views = emb
	}
	closers = append(closers, s.views.Close)
	s.runtime, err = projections.New(projections.Config{
		Source: s.store, Store: s.views, DensePositions: s.js != nil,
		Logf: func(format string, args ...any) { s.log.Warn(fmt.Sprintf(format, args...), "component", "projections") },
	}, projections.All()...)
	if err != nil {
		return nil, err
	}

	// 5. Tokens.
	s.tokens, err = tokens.Open(tokens.Config{Path: cfg.TokensFile, OnReloadError: func(err error) {
		s.log.Error("token file changed but cannot be read: keeping the last good tokens", "err", err)
	}})
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}

	// 6. Timers.
	s.timers, err = timers.New(timers.Config{
		Source: s.store, Commands: s.handler, Clock: cfg.Clock, Tick: cfg.TimerTick,
		Logger: s.log.With("component", "timers"), Observe: m.timerFired,
	})
	if err != nil {
		return nil, err
	}

	// 7. The HTTP API and the operational endpoints.
	s.api, err = httpapi.New(httpapi.Config{
		Commands: s.handler, Views: s.runtime, Auth: s.tokens, Now: cfg.Clock,
		Logger: s.log.With("component", "http"), MaxBodyBytes: cfg.MaxBodyBytes, Observe: m.commandDone,
	})
	if err != nil {
		return nil, err
	}
	m.gauges(s)
	mux := http.NewServeMux()
	mux.Handle("/v1/", s.api)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.registry)
	s.server = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.listener, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	closers = append(closers, s.listener.Close)

	// Everything is open: start the background parts, then serve.
	s.bg, s.stopBg = context.WithCancel(context.Background())
	if err := s.guard.Start(s.bg, cfg.HeadsFlushInterval); err != nil {
		s.stopBg()
		return nil, err
	}
	s.viewsWG.Add(1)
	go func() {
		defer s.viewsWG.Done()
		if err := s.runtime.Run(s.bg); err != nil && s.bg.Err() == nil {
			s.fail(fmt.Errorf("projections stopped: %w", err))
		}
	}()
	s.timersWG.Add(1)
	go func() {
		defer s.timersWG.Done()
		if err := s.timers.Run(s.bg); err != nil && s.bg.Err() == nil {
			s.fail(fmt.Errorf("timers stopped: %w", err))
		}
	}()
	if err := s.startRelay(); err != nil {
		s.stopBg()
		s.timersWG.Wait()
		s.viewsWG.Wait()
		return nil, err
	}
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		if err := s.server.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("http: %w", err))
		}
	}()
	s.log.Info("payoutd started", "http", s.HTTPAddr(), "nats", s.NATSURL(), "store", s.storeName(),
		"read_models", s.viewsName(), "sync", cfg.Sync, "group_commit", !cfg.GroupCommitOff, "data", cfg.DataDir)
	return s, nil
}

// verifyLog checks the log at start (Config.Verify): the recorded heads
// are present and unaltered, and, in quick mode, the tail of each recorded
// stream and of the log chains and decodes; full mode reads everything.
func (s *Service) verifyLog(ctx context.Context, headsPath string, recorded map[string]tailguard.Head) error {
	var findings []string
	switch s.cfg.Verify {
	case "heads":
		fs, err := tailguard.Verify(ctx, s.store, recorded)
		if err != nil {
			return fmt.Errorf("verify the log against the recorded heads: %w", err)
		}
		for _, f := range fs {
			findings = append(findings, f.String())
		}
	default:
		mode := integrity.Quick
		if s.cfg.Verify == "full" {
			mode = integrity.Full
		}
		t := time.Now()
		rep, err := integrity.Check(ctx, s.store, recorded, integrity.Options{Mode: mode})
		if err != nil {
			return fmt.Errorf("verify the event log (%s): %w", mode, err)
		}
		for _, f := range rep.Findings {
			findings = append(findings, f.String())
		}
		s.log.Info("event log verified", "mode", mode.String(), "heads", rep.Heads, "events_read", rep.Events,
			"last_position", rep.Last, "findings", len(rep.Findings), "took", time.Since(t).Round(time.Millisecond))
	}
	if len(findings) == 0 {
		return nil
	}
	for _, f := range findings {
		s.log.Error("event log damaged", "finding", f)
	}
	return fmt.Errorf("the event log is damaged or shorter than the one recorded in %s (%d findings, first: %s): refusing to serve it; see docs/operations.md", headsPath, len(findings), findings[0])
}

func (s *Service) openStore(ctx context.Context) error {
	cfg := s.cfg
	if cfg.ESDBURL != "" {
		st, err := esdb.Open(ctx, cfg.ESDBURL, esdb.Options{})
		if err != nil {
			return fmt.Errorf("event store: %w", err)
		}
		s.store = st
		return nil
	}
	jc := jetstream.Config{Replicas: cfg.Replicas}
	if cfg.NATSURL != "" {
		jc.URL, jc.CredsFile = cfg.NATSURL, cfg.NATSCreds
		jc.TLSCAFile, jc.TLSCertFile, jc.TLSKeyFile = cfg.NATSTLSCA, cfg.NATSTLSCert, cfg.NATSTLSKey
	} else {
		jc.DataDir, jc.ListenAddr, jc.Sync = cfg.DataDir, cfg.NATSListen, jetstream.Sync(cfg.Sync)
	}
	st, err := jetstream.Open(ctx, jc)
	if err != nil {
		return fmt.Errorf("event store: %w", err)
	}
	s.store, s.js = st, st
	return nil
}

// startRelay publishes the EventStoreDB log to NATS for downstream
// consumers (with JetStream the events are NATS messages already).
func (s *Service) startRelay() error {
	if s.js != nil {
		return nil
	}
	if s.cfg.NATSURL == "" {
		s.log.Warn("EventStoreDB backend without -nats-url: events are not published to NATS")
		return nil
	}
	opts := []nats.Option{nats.Name("payoutd relay"), nats.MaxReconnects(-1)}
	if s.cfg.NATSCreds != "" {
		opts = append(opts, nats.UserCredentials(s.cfg.NATSCreds))
	}
	if s.cfg.NATSTLSCA != "" {
		opts = append(opts, nats.RootCAs(s.cfg.NATSTLSCA))
	}
	if s.cfg.NATSTLSCert != "" {
		opts = append(opts, nats.ClientCert(s.cfg.NATSTLSCert, s.cfg.NATSTLSKey))
	}
	nc, err := nats.Connect(s.cfg.NATSURL, opts...)
	if err != nil {
		return fmt.Errorf("relay: connect to %s: %w", s.cfg.NATSURL, err)
	}
	s.relayNC = nc
	r, err := relay.New(relay.Config{Source: s.store, NATS: nc, Replicas: s.cfg.Replicas, Logger: s.log.With("component", "relay")})
	if err != nil {
		nc.Close()
		return err
	}
	s.relayWG.Add(1)
	go func() {
		defer s.relayWG.Done()
		if err := r.Run(s.bg); err != nil && s.bg.Err() == nil {
			s.fail(fmt.Errorf("relay stopped: %w", err))
		}
	}()
	return nil
}

func (s *Service) fail(err error) {
	s.log.Error("background part failed", "err", err)
	s.fatal.CompareAndSwap(nil, &err)
	select {
	case s.failed <- err:
	default:
	}
}

// Failed delivers the first failure of a background part (projections,
// timers, relay, HTTP server): cmd/payoutd stops on it.
func (s *Service) Failed() <-chan error { return s.failed }

// HTTPAddr is the bound address of the HTTP API.
func (s *Service) HTTPAddr() string { return s.listener.Addr().String() }

// NATSURL is where downstream consumers connect ("" with EventStoreDB
// and no relay, or without an embedded listener).
func (s *Service) NATSURL() string {
	if s.js != nil {
		return s.js.ClientURL()
	}
	return s.cfg.NATSURL
}

// TokenCount is the number of tokens in the token file, revoked or not
// (0 tells a new user to create one).
func (s *Service) TokenCount() int {
	entries, err := s.tokens.List(context.Background())
	if err != nil {
		return -1
	}
	return len(entries)
}

// Handler is the command handler (benchmarks drive it in process).
func (s *Service) Handler() *handler.Handler { return s.handler }

// Store is the event store.
func (s *Service) Store() eventstore.Store { return s.store }

// Views is the projections runtime.
func (s *Service) Views() *projections.Runtime { return s.runtime }

func (s *Service) storeName() string {
	switch {
	case s.js == nil:
		return "eventstoredb"
	case s.cfg.NATSURL != "":
		return "jetstream (external)"
	}
	return "jetstream (embedded)"
}

func (s *Service) viewsName() string {
	if s.cfg.PostgresDSN != "" {
		return "postgresql"
	}
	return "embedded"
}

// Shutdown stops gracefully: /readyz turns 503, the listener stops
// accepting, in-flight requests finish (up to ShutdownTimeout or ctx),
// the timers stop firing, the projections and the relay commit their
// checkpoints, the stream heads are flushed, and the store closes.
// Safe to call more than once; later calls return the first's result.
func (s *Service) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.shutdown(ctx) })
	return s.stopErr
}

func (s *Service) shutdown(ctx context.Context) error {
	s.draining.Store(true)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if err := s.server.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		_ = s.server.Close()
	}
	s.serveWG.Wait()
	// No request is in flight now. Stop the timers first (they send
	// commands), then the readers of the log.
	s.stopBg()
	s.timersWG.Wait()
	s.relayWG.Wait()
	s.viewsWG.Wait() // Run commits what it applied before returning
	if s.relayNC != nil {
		s.relayNC.Close()
	}
	if err := s.guard.Close(); err != nil {
		errs = append(errs, fmt.Errorf("flush stream heads: %w", err))
	}
	if err := s.store.Close(); err != nil && !errors.Is(err, eventstore.ErrClosed) {
		errs = append(errs, fmt.Errorf("close the event store: %w", err))
	}
	if err := s.views.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close the read models: %w", err))
	}
	s.log.Info("payoutd stopped", "errors", len(errs))
	return errors.Join(errs...)
}
