package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/payoutledger/ledger/eventstore"
)

// MinServerVersion is the oldest nats-server the store runs on: v2.15 is
// the first to fsync an atomic batch once as a whole, and v2.15.2 carries
// the fixes that followed Jepsen's analysis of 2.12.
const MinServerVersion = "2.15.2"

// Store is the JetStream backend of eventstore.Store and
// eventstore.BatchAppender. It is safe for concurrent use.
type Store struct {
	cfg      Config
	subj     subjects
	nc       *nats.Conn
	js       jetstream.JetStream
	stream   jetstream.Stream // handle on the JetStream stream (no API call)
	replicas int              // of the stream, as found at Open
	srv      *server.Server   // nil in external mode
	unlock   func()
	heads    *headCache
	cursors  *cursorCache
	batches  chan struct{} // semaphore of atomic batches in flight

	// lastAcked is the highest position this store was acknowledged: reads
	// retry until they see it (read-your-writes even when a lagging R3
	// follower answers a direct get).
	lastAcked atomic.Uint64

	closed    atomic.Bool
	closing   chan struct{}
	closeOnce sync.Once
}

var (
	_ eventstore.Store         = (*Store)(nil)
	_ eventstore.BatchAppender = (*Store)(nil)
	_ eventstore.FsyncReporter = (*Store)(nil)
)

// Open starts the embedded server (cfg.DataDir) or connects to an external
// one (cfg.URL), then creates the JetStream stream if it is missing or
// checks it if it exists.
//
// Errors: a config error; the data dir locked by another store; a server
// older than MinServerVersion; an existing stream whose configuration could
// lose or rewrite events (not file storage, not limits retention, any of
// MaxMsgs, MaxBytes, MaxAge or MaxMsgsPerSubject set, deletes or purges
// allowed, per-message TTLs allowed) or that this store cannot write and
// read (a mirror, sources, a subject transform, sealed, atomic publish or
// direct get disabled, subjects not covering <prefix>.>). The error names
// the setting. An existing stream's replica count is left as it is. A
// stream whose state shows lost or unreadable events: an error wrapping
// ErrDamaged (see checkStreamState).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Store{
		cfg:     cfg,
		subj:    subjects{prefix: cfg.SubjectPrefix},
		heads:   newHeadCache(cfg.HeadCacheSize),
		cursors: &cursorCache{max: cfg.HeadCacheSize},
		batches: make(chan struct{}, cfg.MaxInflightBatches),
		closing: make(chan struct{}),
		unlock:  func() {},
	}
	ok := false
	defer func() {
		if !ok {
			s.shutdown()
		}
	}()

	opts := []nats.Option{nats.Name("payoutledger"), nats.MaxReconnects(-1)}
	url := cfg.URL
	if cfg.DataDir != "" {
		unlock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		s.unlock = unlock
		var inproc []nats.Option
		if s.srv, inproc, err = startEmbedded(cfg); err != nil {
			return nil, err
		}
		opts = append(opts, inproc...)
		url = ""
	} else {
		if cfg.CredsFile != "" {
			opts = append(opts, nats.UserCredentials(cfg.CredsFile))
		}
		if cfg.TLSCAFile != "" {
			opts = append(opts, nats.RootCAs(cfg.TLSCAFile))
		}
		if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
			opts = append(opts, nats.ClientCert(cfg.TLSCertFile, cfg.TLSKeyFile))
		}
	}
	if s.nc, err = nats.Connect(url, opts...); err != nil {
		return nil, fmt.Errorf("jetstream: connect: %w", err)
	}
	if err := checkServerVersion(s.nc.ConnectedServerVersion()); err != nil {
		return nil, err
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := s.ensureStream(ctx); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// ClientURL is the URL downstream consumers connect to: the embedded
// server's listener (empty without one) or the external URL.
func (s *Store) ClientURL() string {
	if s.srv == nil {
		return s.cfg.URL
	}
	if s.cfg.ListenAddr == "" {
		return ""
	}
	return s.srv.ClientURL()
}

// Close stops subscriptions, closes the connection and, in embedded mode,
// shuts the server down (it flushes what it has not fsynced yet). Appends
// in flight may or may not have been stored; retrying them with the same
// event IDs is safe. Errors: ErrClosed on a second call.
// FsyncsEachAppend implements eventstore.FsyncReporter: false only for the
// embedded server with SyncInterval. An external server's policy is its
// own (and a replicated stream's acknowledgement waits for a quorum, which
// batches share too): taken to be true.
func (s *Store) FsyncsEachAppend() bool {
	return s.srv == nil || s.cfg.Sync != SyncInterval
}

func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return eventstore.ErrClosed
	}
	s.shutdown()
	return nil
}

func (s *Store) shutdown() {
	s.closeOnce.Do(func() {
		close(s.closing)
		if s.nc != nil {
			s.nc.Close()
		}
		if s.srv != nil {
			s.srv.Shutdown()
			s.srv.WaitForShutdown()
		}
		s.unlock()
	})
}

// withTimeout applies the configured request timeout when ctx has no
// deadline, so that no call waits forever on a server that went away.
func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.cfg.RequestTimeout)
}

// check returns ErrClosed once Close was called.
func (s *Store) check() error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	return nil
}

// failed maps an error from the connection to ErrClosed when the store was
// closed under the call.
func (s *Store) failed(err error) error {
	if s.closed.Load() || errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("%w: %w", eventstore.ErrClosed, err)
	}
	return err
}

// streamConfig is the stream the store creates: nothing ever removes or
// rewrites an event.
func (s *Store) streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:               s.cfg.StreamName,
		Description:        "payout ledger events (append-only)",
		Subjects:           []string{s.subj.all()},
		Retention:          jetstream.LimitsPolicy,
		MaxMsgs:            -1,
		MaxBytes:           -1,
		MaxAge:             0,
		MaxMsgsPerSubject:  -1,
		MaxMsgSize:         -1,
		Discard:            jetstream.DiscardNew, // never drop old events, even if a limit is added
		Storage:            jetstream.FileStorage,
		Replicas:           s.cfg.Replicas,
		DenyDelete:         true,
		DenyPurge:          true,
		AllowDirect:        true,
		AllowAtomicPublish: true,
		Duplicates:         DuplicateWindow, // memory per event ID: see DuplicateWindow
	}
}

func (s *Store) ensureStream(ctx context.Context) error {
	st, err := s.js.Stream(ctx, s.cfg.StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = s.js.CreateStream(ctx, s.streamConfig())
		if err != nil {
			return fmt.Errorf("jetstream: create stream %s: %w", s.cfg.StreamName, err)
		}
	}
	if err != nil {
		return fmt.Errorf("jetstream: stream %s: %w", s.cfg.StreamName, err)
	}
	info := st.CachedInfo()
	if err := s.checkStreamConfig(info.Config); err != nil {
		return err
	}
	s.stream, s.replicas = st, info.Config.Replicas
	return s.checkStreamState(ctx, info.State)
}

// ErrDamaged: the ledger stream lost events or holds events the server
// cannot read back (a damaged disk, a cut block, a removed file). Open
// refuses such a stream; reads that meet an unreadable event fail with an
// error wrapping it (GapError, or a head that cannot be read). Nothing is
// served from a damaged stream: an operator restores the data dir and
// checks it (eventstore/integrity with the recorded heads).
var ErrDamaged = errors.New("jetstream: ledger stream damaged")

// checkStreamState refuses a stream whose state shows loss. The ledger's
// stream denies deletes and purges, so its positions run densely from 1 to
// LastSeq: a deleted position, a first position above 1 or a message count
// short of the range is lost data, as nats-server v2.15.2 reports it after
// recovering a cut block or a removed block file (it starts anyway). The
// last message is read back by sequence from the stream leader: the server
// keeps a message whose checksum fails in its state but never returns it,
// and a damaged last event would hide a stream's head. The cost is one
// request: damage below the last event is found by reads (GapError) and by
// integrity.Check, not here.
func (s *Store) checkStreamState(ctx context.Context, st jetstream.StreamState) error {
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w: refusing stream %s: %s (restore the data dir or check it with the recorded heads: eventstore/integrity)",
			ErrDamaged, s.cfg.StreamName, fmt.Sprintf(format, args...))
	}
	if st.LastSeq == 0 {
		if st.Msgs != 0 {
			return refuse("%d messages but no last position", st.Msgs)
		}
		return nil // never written to
	}
	switch {
	case st.NumDeleted > 0:
		return refuse("%d deleted positions below position %d, but the stream denies deletes: events were lost", st.NumDeleted, st.LastSeq)
	case st.FirstSeq != 1:
		return refuse("first position %d, last %d: positions from 1 were lost", st.FirstSeq, st.LastSeq)
	case st.Msgs != st.LastSeq-st.FirstSeq+1:
		return refuse("%d messages at positions %d to %d: events were lost", st.Msgs, st.FirstSeq, st.LastSeq)
	}
	r, ok, err := s.leaderGet(ctx, msgGetRequest{Seq: st.LastSeq})
	switch {
	case errors.Is(err, ErrMalformed):
		return refuse("the last event, position %d, cannot be decoded: %v", st.LastSeq, err)
	case err != nil:
		return fmt.Errorf("jetstream: stream %s: read the last position %d: %w", s.cfg.StreamName, st.LastSeq, err)
	case !ok:
		return refuse("the last event, position %d, is stored but cannot be read (damaged message)", st.LastSeq)
	case r.Position != st.LastSeq:
		return refuse("position %d read back as position %d", st.LastSeq, r.Position)
	}
	return nil
}

// checkStreamConfig refuses a stream that could lose, rewrite or hide
// events, or that this store cannot use. A stream the store did not create
// (an operator's, an older version's) is checked the same way.
func (s *Store) checkStreamConfig(c jetstream.StreamConfig) error {
	refuse := func(setting, why string) error {
		return fmt.Errorf("jetstream: refusing stream %s: %s: %s (fix the stream or use another StreamName)", c.Name, setting, why)
	}
	switch {
	case c.Storage != jetstream.FileStorage:
		return refuse("storage "+c.Storage.String(), "events must be on disk (file storage)")
	case c.Retention != jetstream.LimitsPolicy:
		return refuse("retention "+c.Retention.String(), "work-queue or interest retention deletes consumed events")
	case c.MaxMsgs > 0:
		return refuse("max_msgs "+strconv.FormatInt(c.MaxMsgs, 10), "a message limit drops old events")
	case c.MaxBytes > 0:
		return refuse("max_bytes "+strconv.FormatInt(c.MaxBytes, 10), "a size limit drops old events")
	case c.MaxAge > 0:
		return refuse("max_age "+c.MaxAge.String(), "an age limit drops old events")
	case c.MaxMsgsPerSubject > 0:
		return refuse("max_msgs_per_subject "+strconv.FormatInt(c.MaxMsgsPerSubject, 10), "a per-subject limit drops old events")
	case !c.DenyDelete:
		return refuse("deny_delete false", "events must not be deletable")
	case !c.DenyPurge:
		return refuse("deny_purge false", "events must not be purgeable")
	case c.AllowMsgTTL:
		return refuse("allow_msg_ttl true", "a per-message TTL would expire events")
	case c.Mirror != nil:
		return refuse("mirror", "a mirror cannot be appended to")
	case len(c.Sources) > 0:
		return refuse("sources", "sourced messages are not ledger events")
	case c.SubjectTransform != nil:
		return refuse("subject_transform", "stored subjects must be the published ones")
	case c.Sealed:
		return refuse("sealed", "a sealed stream takes no appends")
	case !c.AllowAtomicPublish:
		return refuse("allow_atomic false", "multi-event appends need atomic batch publish")
	case !c.AllowDirect:
		return refuse("allow_direct false", "reads use direct gets")
	case !coversAll(c.Subjects, s.subj.all()):
		return refuse("subjects "+strings.Join(c.Subjects, ","), "must include "+s.subj.all())
	}
	return nil
}

func coversAll(subjects []string, want string) bool {
	for _, sub := range subjects {
		if sub == want || sub == ">" {
			return true
		}
	}
	return false
}

// checkServerVersion refuses a server older than MinServerVersion (a
// pre-release of it counts as older).
func checkServerVersion(v string) error {
	if !versionAtLeast(v, MinServerVersion) {
		return fmt.Errorf("jetstream: nats-server %q is older than the required %s (coalesced fsync of atomic batches, post-Jepsen fixes)", v, MinServerVersion)
	}
	return nil
}

func versionAtLeast(v, min string) bool {
	parse := func(s string) (nums [3]int, pre bool, ok bool) {
		s = strings.TrimPrefix(s, "v")
		if i := strings.IndexByte(s, '+'); i >= 0 {
			s = s[:i]
		}
		if i := strings.IndexByte(s, '-'); i >= 0 {
			s, pre = s[:i], true
		}
		parts := strings.Split(s, ".")
		if len(parts) != 3 {
			return nums, pre, false
		}
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 {
				return nums, pre, false
			}
			nums[i] = n
		}
		return nums, pre, true
	}
	have, pre, ok := parse(v)
	want, _, _ := parse(min)
	if !ok {
		return false
	}
	for i := range have {
		if have[i] != want[i] {
			return have[i] > want[i]
		}
	}
	return !pre
}
