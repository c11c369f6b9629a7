package jetstream

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/payoutledger/ledger/eventstore"
)

// Sync is the embedded server's fsync policy. What each survives, for an
// acknowledged append on the embedded single node:
//
//	             process kill   OS crash / power loss
//	SyncAlways   kept           kept (fsynced before the ack)
//	SyncInterval kept           up to SyncInterval of acks can be lost
//
// A process kill (SIGKILL, panic, OOM) loses nothing in either mode: the
// write reached the operating system before the ack. Only SyncAlways keeps
// acknowledged appends through an OS crash or a power loss, on a disk that
// honours fsync. Beyond one machine's disk, durability comes from
// replication: an external cluster with Replicas: 3 acknowledges once a
// majority of servers stored the message.
type Sync string

const (
	// SyncAlways fsyncs before every acknowledgement (JetStream sync_always).
	// An atomic batch is fsynced once, as a whole, before its
	// acknowledgement, which is why multi-event and batch appends stay fast.
	// The default: this is money.
	SyncAlways Sync = "always"
	// SyncInterval acknowledges once the write reaches the operating system
	// and fsyncs in the background every Config.SyncInterval (the server's
	// default, 2 minutes, when zero). Faster for single-event appends;
	// an OS crash or power loss loses what was not yet fsynced.
	SyncInterval Sync = "interval"
)

// Defaults of Config.
const (
	// DefaultStreamName is the JetStream stream holding every event.
	DefaultStreamName = "LEDGER"
	// DefaultSubjectPrefix is the first token of every event's subject.
	DefaultSubjectPrefix = "ledger"
	// DefaultMaxBatchEvents is nats-server's default cap on an atomic batch
	// (jetstream max_batch_size).
	DefaultMaxBatchEvents = 1000
	// DefaultMaxInflightBatches stays below the server's cap of 50 atomic
	// batches in flight per stream, so that concurrent callers wait here
	// instead of being refused by the server.
	DefaultMaxInflightBatches = 32
	// DefaultHeadCacheSize bounds the per-stream head cache: a miss costs
	// one direct get.
	DefaultHeadCacheSize = 100_000
	// DefaultRequestTimeout bounds a server round trip whose context has
	// no deadline.
	DefaultRequestTimeout = 10 * time.Second
)

// Config selects the embedded mode (DataDir set) or the external mode (URL
// set); exactly one of the two.
type Config struct {
	// DataDir: embedded mode. JetStream file storage lives under it. One
	// process at a time: Open takes a lock file in it.
	DataDir string
	// ListenAddr, embedded mode only: also accept NATS clients on this
	// host:port ("127.0.0.1:4222"; port -1 picks a free port) so that
	// downstream consumers can connect. Empty: no listener, the store
	// talks to its server in-process only. Clients connecting there may
	// read everything but may not publish into the ledger's subjects nor
	// change, purge or delete its stream.
	ListenAddr string
	// Sync, embedded mode only: SyncAlways (default) or SyncInterval.
	Sync Sync
	// SyncInterval, with SyncInterval: how often the server fsyncs
	// (0: the server's default, 2 minutes).
	SyncInterval time.Duration
	// Logger, embedded mode only: receives the server's log (nil: silent).
	Logger server.Logger

	// URL: external mode, e.g. "nats://n1:4222,nats://n2:4222". The
	// servers' own sync settings decide local durability there.
	URL string
	// CredsFile: a NATS credentials file (JWT + nkey seed).
	CredsFile string
	// TLSCAFile, TLSCertFile, TLSKeyFile: TLS to the servers; the CA alone
	// verifies them, cert and key add client authentication.
	TLSCAFile, TLSCertFile, TLSKeyFile string
	// Replicas of the JetStream stream when Open creates it: 1 or 3
	// (external mode; the embedded server is a single node).
	Replicas int

	// StreamName: the JetStream stream (default "LEDGER").
	StreamName string
	// SubjectPrefix: events are published to
	// <prefix>.<category>.<id>.<EventType> (default "ledger").
	SubjectPrefix string
	// Clock stamps recorded-at (default time.Now).
	Clock func() time.Time
	// MaxBatchEvents caps the events of one atomic write: at least
	// eventstore.MaxEventsPerAppend, at most the server's max_batch_size
	// (default 1000 for both).
	MaxBatchEvents int
	// MaxInflightBatches caps this store's concurrent atomic batches
	// (default 32). The server allows 50 per stream across all its
	// clients: with several writer processes on one stream, keep the sum
	// below that (or raise the server's max_batch_inflight_per_stream), or
	// the server refuses the excess batches with an error.
	MaxInflightBatches int
	// HeadCacheSize caps the per-stream head cache (default 100,000).
	HeadCacheSize int
	// RequestTimeout bounds a server round trip when ctx has no deadline
	// (default 10 s).
	RequestTimeout time.Duration
}

// withDefaults validates c and fills its defaults.
func (c Config) withDefaults() (Config, error) {
	switch {
	case c.DataDir == "" && c.URL == "":
		return c, errors.New("jetstream: config: set DataDir (embedded server) or URL (external NATS)")
	case c.DataDir != "" && c.URL != "":
		return c, errors.New("jetstream: config: DataDir and URL are exclusive")
	}
	if c.URL != "" {
		if c.ListenAddr != "" || c.Sync != "" || c.SyncInterval != 0 {
			return c, errors.New("jetstream: config: ListenAddr, Sync and SyncInterval apply to the embedded server only; an external server's sync_interval decides its fsync policy")
		}
	} else {
		if c.CredsFile != "" || c.TLSCAFile != "" || c.TLSCertFile != "" || c.TLSKeyFile != "" {
			return c, errors.New("jetstream: config: CredsFile and TLS files apply to an external server only")
		}
		if c.Replicas > 1 {
			return c, errors.New("jetstream: config: the embedded server is a single node: Replicas must be 1")
		}
	}
	switch c.Sync {
	case "":
		c.Sync = SyncAlways
	case SyncAlways, SyncInterval:
	default:
		return c, fmt.Errorf("jetstream: config: Sync %q: want %q or %q", c.Sync, SyncAlways, SyncInterval)
	}
	if c.SyncInterval < 0 || (c.SyncInterval > 0 && c.Sync != SyncInterval) {
		return c, errors.New("jetstream: config: SyncInterval needs Sync: interval and a positive duration")
	}
	switch c.Replicas {
	case 0:
		c.Replicas = 1
	case 1, 3:
	default:
		return c, fmt.Errorf("jetstream: config: Replicas %d: want 1 or 3", c.Replicas)
	}
	if c.StreamName == "" {
		c.StreamName = DefaultStreamName
	}
	if !validToken(c.StreamName) {
		return c, fmt.Errorf("jetstream: config: StreamName %q: want [A-Za-z0-9_-]+", c.StreamName)
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = DefaultSubjectPrefix
	}
	if !validPrefix(c.SubjectPrefix) {
		return c, fmt.Errorf("jetstream: config: SubjectPrefix %q: want dot-separated tokens of [A-Za-z0-9_-]", c.SubjectPrefix)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.MaxBatchEvents == 0 {
		c.MaxBatchEvents = DefaultMaxBatchEvents
	}
	if c.MaxBatchEvents < eventstore.MaxEventsPerAppend {
		// Append must take eventstore.MaxEventsPerAppend events in one
		// atomic write on every backend.
		return c, fmt.Errorf("jetstream: config: MaxBatchEvents %d is below eventstore.MaxEventsPerAppend (%d)", c.MaxBatchEvents, eventstore.MaxEventsPerAppend)
	}
	if c.MaxInflightBatches == 0 {
		c.MaxInflightBatches = DefaultMaxInflightBatches
	}
	if c.MaxInflightBatches < 1 {
		return c, errors.New("jetstream: config: MaxInflightBatches must be positive")
	}
	if c.HeadCacheSize == 0 {
		c.HeadCacheSize = DefaultHeadCacheSize
	}
	if c.HeadCacheSize < 1 {
		return c, errors.New("jetstream: config: HeadCacheSize must be positive")
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.RequestTimeout < 0 {
		return c, errors.New("jetstream: config: RequestTimeout must be positive")
	}
	return c, nil
}
