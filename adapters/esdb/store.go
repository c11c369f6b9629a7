package esdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/payoutledger/ledger/eventstore"
)

// DefaultMaxAppendBytes is EventStoreDB's default MaxAppendSize (1 MiB): a
// larger append is refused by the server, so the store refuses it first,
// with eventstore.ErrInvalidAppend. Raise both together.
const DefaultMaxAppendBytes = 1 << 20

// DefaultCloseTimeout bounds how long Close waits for operations in flight.
const DefaultCloseTimeout = 10 * time.Second

// Page sizes: max <= 0 in ReadStream/ReadAll means defaultPage, and any max
// is capped at maxPage so that one call holds a bounded amount of memory.
const (
	defaultPage = 256
	maxPage     = 4096
)

// Options tune a Store. The zero value is the production default.
type Options struct {
	// StreamPrefix maps ledger streams into EventStoreDB (DefaultStreamPrefix
	// when empty). Only streams under it are ledger streams; tests give each
	// store its own prefix so that runs sharing a server never meet.
	StreamPrefix string
	// HeadCacheSize bounds the cached stream heads (DefaultHeadCacheSize).
	HeadCacheSize int
	// MaxAppendBytes must not exceed the server's MaxAppendSize
	// (DefaultMaxAppendBytes).
	MaxAppendBytes int
	// Now stamps recorded-at (time.Now when nil): time is an input.
	Now func() time.Time
	// Logger replaces the client's logger (Open only); nil keeps the
	// client's default, which prints to the standard logger.
	Logger esdb.LoggingFunc
	// CloseTimeout bounds Close's wait for operations (DefaultCloseTimeout).
	CloseTimeout time.Duration
}

// Store is an eventstore.Store on EventStoreDB. Safe for concurrent use.
type Store struct {
	client         *esdb.Client
	prefix         string
	maxAppendBytes int
	now            func() time.Time
	closeTimeout   time.Duration
	heads          *headCache
	positions      *posMemo
	backoff        time.Duration // first pause before resubscribing

	// mu orders begin against Close: no operation enters the client once
	// Close has started, and Close closes the client only after every
	// operation has left it. The client's Close closes a channel that its
	// operations send on, so closing under a running operation panics.
	mu       sync.RWMutex
	closed   bool
	inflight sync.WaitGroup
	done     context.Context // cancelled by Close: stops reads, subscriptions
	stop     context.CancelFunc
}

var _ eventstore.Store = (*Store)(nil)

// Open connects to EventStoreDB with a connection string such as
// "esdb://127.0.0.1:2113?tls=false" or "esdb+discover://node1:2113" and
// checks that $all can be read (the store needs it for ReadAll and
// Subscribe, so a missing permission shows now, not at the first
// projection). Errors: a malformed connection string or options, the
// server unreachable or refusing to read $all, ctx done.
func Open(ctx context.Context, connString string, opts Options) (*Store, error) {
	cfg, err := esdb.ParseConnectionString(connString)
	if err != nil {
		if strings.Contains(connString, "@") {
			// url errors repeat the string, and this one holds a password.
			return nil, errors.New("esdb: invalid connection string (not repeated: it holds credentials)")
		}
		return nil, fmt.Errorf("esdb: invalid connection string: %w", err)
	}
	if opts.Logger != nil {
		cfg.Logger = opts.Logger
	}
	client, err := esdb.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("esdb: %w", err)
	}
	s, err := New(client, opts)
	if err != nil {
		client.Close()
		return nil, err
	}
	// The client discovers the node inside the first call and ignores the
	// context while it does (up to maxDiscoverAttempts x gossipTimeout), so
	// the probe runs aside and Open honours ctx anyway.
	probed := make(chan error, 1)
	go func() {
		_, err := s.readAll(s.done, esdb.Backwards, esdb.End{}, 1)
		probed <- err
	}()
	select {
	case err = <-probed:
	case <-ctx.Done():
		err = ctx.Err()
		s.stop()
		go func() { <-probed; s.Close() }()
		return nil, fmt.Errorf("esdb: connecting: %w", err)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("esdb: connecting and reading $all: %w", classify(err))
	}
	return s, nil
}

// New wraps a client built by the caller (custom TLS, credentials). The
// Store owns it from now on and closes it in Close. Errors: an invalid
// Options.StreamPrefix (ErrInvalidStreamName), a negative size.
func New(client *esdb.Client, opts Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("esdb: nil client")
	}
	if opts.StreamPrefix == "" {
		opts.StreamPrefix = DefaultStreamPrefix
	}
	if err := ValidatePrefix(opts.StreamPrefix); err != nil {
		return nil, err
	}
	if opts.HeadCacheSize < 0 || opts.MaxAppendBytes < 0 || opts.CloseTimeout < 0 {
		return nil, errors.New("esdb: negative option")
	}
	if opts.MaxAppendBytes == 0 {
		opts.MaxAppendBytes = DefaultMaxAppendBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CloseTimeout == 0 {
		opts.CloseTimeout = DefaultCloseTimeout
	}
	done, stop := context.WithCancel(context.Background())
	return &Store{
		client:         client,
		prefix:         opts.StreamPrefix,
		maxAppendBytes: opts.MaxAppendBytes,
		now:            opts.Now,
		closeTimeout:   opts.CloseTimeout,
		heads:          newHeadCache(opts.HeadCacheSize),
		positions:      newPosMemo(),
		backoff:        firstBackoff,
		done:           done,
		stop:           stop,
	}, nil
}

// Prefix returns the EventStoreDB stream prefix of the store's ledger
// streams.
func (s *Store) Prefix() string { return s.prefix }

// begin registers an operation. The returned context ends with the
// caller's or with Close; end must be called when the operation is done.
// Errors: eventstore.ErrClosed after Close.
func (s *Store) begin(ctx context.Context) (context.Context, func(), error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, nil, eventstore.ErrClosed
	}
	s.inflight.Add(1)
	s.mu.RUnlock()
	ctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(s.done, cancel)
	return ctx, func() { unhook(); cancel(); s.inflight.Done() }, nil
}

func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// fail turns an operation's error into what the contract promises: ErrClosed
// if Close interrupted it, the caller's context error if that ended it,
// otherwise the client's error mapped by classify.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	switch {
	case err == nil:
		return nil
	case s.isClosed():
		return fmt.Errorf("esdb: %s: %w (%v)", op, eventstore.ErrClosed, err)
	case ctx.Err() != nil:
		return fmt.Errorf("esdb: %s: %w", op, ctx.Err())
	}
	return fmt.Errorf("esdb: %s: %w", op, classify(err))
}

// Close cancels running reads and subscriptions, waits up to CloseTimeout
// for operations to leave the client, and closes it. Errors: ErrClosed when
// already closed; a timeout error when operations are still inside the
// client (it is then closed as soon as they return, never under them).
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return eventstore.ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	s.stop()
	released := make(chan struct{})
	go func() {
		s.inflight.Wait()
		s.client.Close()
		close(released)
	}()
	select {
	case <-released:
		return nil
	case <-time.After(s.closeTimeout):
		return fmt.Errorf("esdb: close: operations still inside the EventStoreDB client after %v; it is closed when they return", s.closeTimeout)
	}
}

// Head returns the stream's version and chain head, read from the server
// (never from the cache: callers decide on it). Errors: ErrInvalidStreamName,
// eventstore.ErrStreamNotFound for a deleted (tombstoned) stream,
// eventstore.ErrClosed, ErrMalformedMetadata, and transport errors.
func (s *Store) Head(ctx context.Context, stream string) (uint64, eventstore.Hash, error) {
	name, err := ToESDBName(s.prefix, stream)
	if err != nil {
		return 0, eventstore.Hash{}, err
	}
	opCtx, end, err := s.begin(ctx)
	if err != nil {
		return 0, eventstore.Hash{}, err
	}
	defer end()
	h, err := s.readHead(opCtx, stream, name)
	if err != nil {
		return 0, eventstore.Hash{}, s.fail(ctx, "head of "+name, err)
	}
	return h.version, h.hash, nil
}

// readHead reads the stream's last event (backwards, count 1) and caches
// the head. A stream that does not exist has head {0, zero}.
func (s *Store) readHead(ctx context.Context, stream, name string) (head, error) {
	evs, err := s.readStream(ctx, name, esdb.Backwards, esdb.End{}, 1)
	if isCode(err, esdb.ErrorCodeResourceNotFound) {
		return head{}, nil
	}
	if err != nil {
		return head{}, err
	}
	if len(evs) == 0 {
		return head{}, nil
	}
	rec, err := FromRecordedEvent(s.prefix, evs[0].Event, eventPosition(evs[0]))
	if err != nil {
		return head{}, err
	}
	h := head{version: rec.Version, hash: rec.Hash}
	s.heads.put(stream, h)
	return h, nil
}
