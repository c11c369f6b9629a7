package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/payoutledger/ledger/eventstore"
)

// Read limits. A page is bounded so that one call's memory is bounded;
// returning fewer events than max is within the contract.
const (
	DefaultPageSize = 1000    // events per page when max <= 0
	MaxReadStream   = 10_000  // cap on one ReadStream page
	MaxReadAll      = 100_000 // cap on one ReadAll page
)

// Read-your-writes retries, up to about a second: only a lagging R3
// follower answering a direct get ever needs them.
const (
	lagRetries = 200
	lagWait    = 5 * time.Millisecond
)

// ReadStream returns up to max events of stream from fromVersion (see
// eventstore.Store), with one batched direct get filtered on the stream's
// subjects. A stream this process appended to reads its own writes.
//
// Errors: eventstore.ErrStreamNotFound (no events, or a name that is not
// "<category>.<id>"), eventstore.ErrChainBroken (versions not consecutive:
// the log was altered or a message is damaged; with ErrDamaged too when the
// stream's last event is stored but cannot be read), ErrMalformed,
// eventstore.ErrClosed, ctx's error.
func (s *Store) ReadStream(ctx context.Context, stream string, fromVersion uint64, max int) ([]eventstore.RecordedEvent, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := checkStream(stream); err != nil {
		return nil, fmt.Errorf("%w: %w", eventstore.ErrStreamNotFound, err)
	}
	if fromVersion == 0 {
		fromVersion = 1
	}
	max = clampPage(max, MaxReadStream)
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		out, h, err := s.readStream(ctx, stream, fromVersion, max)
		if err != nil {
			return nil, err
		}
		// Own writes not visible yet: a lagging replica answered.
		if cached, ok := s.heads.get(stream); ok && len(out) < max && lastVersion(out, fromVersion) < cached.version && attempt < lagRetries {
			if err := sleep(ctx, lagWait); err != nil {
				return nil, err
			}
			continue
		}
		if len(out) == 0 && h.version == 0 {
			return nil, fmt.Errorf("%w: %s", eventstore.ErrStreamNotFound, stream)
		}
		return out, nil
	}
}

func lastVersion(out []eventstore.RecordedEvent, from uint64) uint64 {
	if len(out) == 0 {
		return from - 1
	}
	return out[len(out)-1].Version
}

// readStream reads one page and returns the head it located it with (the
// zero head when the stream does not exist).
func (s *Store) readStream(ctx context.Context, stream string, from uint64, max int) ([]eventstore.RecordedEvent, head, error) {
	h, ok := s.heads.get(stream)
	if !ok || from > h.version {
		loaded, err := s.checkedHead(ctx, stream)
		if err != nil {
			return nil, head{}, err
		}
		// A lagging R3 follower may answer with an older head (or none)
		// than this process already saw: keep the later one.
		if loaded.version > h.version {
			h = loaded
		}
	}
	if h.version == 0 || from > h.version {
		return nil, h, nil
	}
	// Where to start: a cursor a few versions before from (this process
	// appended or read there) is cheaper than searching the log for
	// from's sequence; the versions before from are read and skipped.
	var seq, skip uint64
	if cv, cs, ok := s.cursors.at(stream); ok && cv <= from && from-cv <= maxCursorSkip {
		seq, skip = cs, from-cv
	} else {
		var err error
		if seq, err = s.seqOfVersion(ctx, stream, from, h); err != nil {
			return nil, h, err
		}
	}
	out := make([]eventstore.RecordedEvent, 0, min(max, int(h.version-from)+1))
	for len(out) < max {
		got := 0
		// Ask for no more than the head says there is: after a stream's
		// last event the server would search the rest of the log for
		// another one, message by message when most subjects in a block
		// are distinct (one per shop and event type): about a millisecond
		// per shop load measured on a log of 20,000 shops. If the stream
		// grew past h meanwhile, the server reports it as pending and the
		// loop reads on.
		want := max - len(out)
		if next := from + uint64(len(out)); next <= h.version {
			want = min(want, int(h.version-next+1))
		}
		pending, err := s.getBatch(ctx, directGetRequest{Seq: seq, NextFor: s.subj.filter(stream), Batch: min(want+int(skip), maxBatchGet), MaxBytes: maxBatchBytes},
			func(r eventstore.RecordedEvent) error {
				got++
				if r.Stream == stream && r.Version < from && skip > 0 {
					skip--
					seq = r.Position + 1
					return nil
				}
				if want := from + uint64(len(out)); r.Stream != stream || r.Version != want {
					return &eventstore.ChainError{Stream: stream, Version: want, Reason: fmt.Sprintf("read %s version %d at position %d", r.Stream, r.Version, r.Position)}
				}
				out = append(out, r)
				return nil
			})
		if err != nil {
			return nil, h, err
		}
		if pending == 0 || got == 0 {
			break
		}
		if len(out) > 0 {
			seq = out[len(out)-1].Position + 1
		}
	}
	if n := len(out); n > 0 {
		last := out[n-1]
		s.cursors.put(stream, last.Version+1, last.Position+1)
		s.heads.put(stream, head{version: last.Version, seq: last.Position, hash: last.Hash})
	}
	return out, h, nil
}

// seqOfVersion finds the JetStream sequence of a stream's version v
// (1 <= v <= h.version). Sequential paging hits the cursor cache; version
// 1 and the head are known; otherwise a binary search over direct gets
// ("first message of the stream at or after sequence x"), log2 of the
// stream sequence round trips.
func (s *Store) seqOfVersion(ctx context.Context, stream string, v uint64, h head) (uint64, error) {
	switch {
	case v == 1:
		return 1, nil
	case v == h.version:
		return h.seq, nil
	}
	if seq, ok := s.cursors.get(stream, v); ok {
		return seq, nil
	}
	// Versions after v occupy distinct later sequences.
	lo, hi := uint64(1), h.seq-(h.version-v)
	for lo <= hi {
		mid := lo + (hi-lo)/2
		r, ok, err := s.getOne(ctx, directGetRequest{Seq: mid, NextFor: s.subj.filter(stream)})
		if err != nil {
			return 0, err
		}
		switch {
		case !ok:
			hi = mid - 1
		case r.Version == v:
			return r.Position, nil
		case r.Version < v:
			lo = r.Position + 1
		default:
			hi = mid - 1
		}
	}
	return 0, &eventstore.ChainError{Stream: stream, Version: v, Reason: "version not found below the stream's head (removed event)"}
}

// ReadAll returns up to max events (at most MaxReadAll; DefaultPageSize
// when max <= 0) from fromPosition in global order: JetStream stream
// sequence order. It first reads up to directProbe events with one batched
// direct get (cheap at the tail of the log); if more are pending it reads
// the rest through an ephemeral pull consumer, which costs about a third
// less CPU per event than direct gets (the server adds no headers per
// message): measured here, 8 against 12 microseconds.
//
// Positions are dense (the stream denies deletes and purges), and the
// server skips a message it cannot read (a damaged one) without a word: a
// page ends before the first position it did not return, and a page that
// would start after fromPosition fails with a *GapError, so that a reader
// paging through the log stops exactly at the damaged position instead of
// passing over it.
//
// Errors: a *GapError (wrapping ErrDamaged and eventstore.ErrChainBroken)
// when fromPosition is stored but the server returns a later position
// first; ErrMalformed (a message in the stream that is not a ledger event),
// eventstore.ErrClosed, ctx's error, a JetStream error.
func (s *Store) ReadAll(ctx context.Context, fromPosition uint64, max int) ([]eventstore.RecordedEvent, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if fromPosition == 0 {
		fromPosition = 1
	}
	max = clampPage(max, MaxReadAll)
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	var out []eventstore.RecordedEvent
	seq := fromPosition // the position the next event must have
	dense := func(r eventstore.RecordedEvent) error {
		if err := nextPosition(seq, r.Position); err != nil {
			return err
		}
		out = append(out, r)
		seq++
		return nil
	}
	for attempt := 0; len(out) < max; {
		n := len(out)
		pending, err := s.getBatch(ctx, directGetRequest{Seq: seq, Batch: min(max-len(out), directProbe), MaxBytes: maxBatchBytes}, dense)
		if err != nil {
			return endAtGap(out, err)
		}
		if pending > 0 && len(out) > n && len(out) < max {
			if out, err = s.readAllConsumer(ctx, seq, max, out); err != nil {
				return endAtGap(out, err)
			}
			break
		}
		if pending > 0 && len(out) > n {
			continue
		}
		// At the end: unless this process was acknowledged a later
		// position, which a lagging replica has not caught up with yet.
		if seq > s.lastAcked.Load() || attempt == lagRetries {
			break
		}
		attempt++
		if err := sleep(ctx, lagWait); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// nextPosition checks that the event read after the one at want-1 is at
// want: a later position means the server skipped positions it holds.
func nextPosition(want, got uint64) error {
	switch {
	case got > want:
		return &GapError{From: want, To: got - 1}
	case got < want:
		return fmt.Errorf("jetstream: read all: position %d returned after %d", got, want-1)
	}
	return nil
}

// endAtGap answers a read that met a gap: the events before it, or the
// gap itself when there are none (the caller's next page starts at the
// gap and gets the error). Any other error is returned as is.
func endAtGap(out []eventstore.RecordedEvent, err error) ([]eventstore.RecordedEvent, error) {
	var gap *GapError
	if errors.As(err, &gap) && len(out) > 0 {
		return out, nil
	}
	return nil, err
}

// GapError: positions From to To (inclusive) are in the ledger stream but
// the server did not return them. The stream denies deletes and purges, so
// every position up to its last holds an event: these are messages the
// server cannot read (nats-server skips a message whose checksum fails).
// Reading on past them would silently drop events from a projection or an
// audit.
type GapError struct{ From, To uint64 }

func (e *GapError) Error() string {
	if e.From == e.To {
		return fmt.Sprintf("jetstream: position %d is stored but cannot be read (damaged message)", e.From)
	}
	return fmt.Sprintf("jetstream: positions %d to %d are stored but cannot be read (damaged messages)", e.From, e.To)
}

// Unwrap makes errors.Is hold for ErrDamaged and eventstore.ErrChainBroken.
func (e *GapError) Unwrap() []error { return []error{ErrDamaged, eventstore.ErrChainBroken} }

// MissingPositions returns From and To, for callers that test for the
// method rather than import this package (eventstore/integrity).
func (e *GapError) MissingPositions() (from, to uint64) { return e.From, e.To }

// directProbe is how many events ReadAll reads with a direct get before it
// pays for a consumer (about a millisecond to create and delete).
const directProbe = 256

// pullBatch is how many messages a consumer keeps in flight towards this
// client: measured here, 1,000 replays faster than 10,000 and bounds memory.
const pullBatch = 1000

// readAllConsumer appends to out the events from seq on, until out holds
// max or the log's end as of the consumer's creation. At a skipped
// position it returns out so far with a *GapError.
//
// It reads through an ordered consumer (ephemeral, in memory, no acks), as
// Subscribe does, with short pulls and heartbeats: a consumer that stops
// delivering (on a cluster, one placed on a node that just rejoined; CI
// saw a page wait for its first message until its 15 s timeout) is
// noticed within about 2 s and recreated from the last delivered position,
// possibly elsewhere, instead of failing the page.
func (s *Store) readAllConsumer(ctx context.Context, seq uint64, max int, out []eventstore.RecordedEvent) ([]eventstore.RecordedEvent, error) {
	cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{s.subj.all()},
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       seq,
		InactiveThreshold: time.Minute, // if the delete below is lost
	})
	if err != nil {
		return nil, s.failed(fmt.Errorf("jetstream: read all: %w", err))
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(int(min(uint64(max-len(out)), pullBatch))),
		jetstream.PullExpiry(subscribeExpiry), jetstream.PullHeartbeat(subscribeHeartbeat))
	if err != nil {
		return nil, s.failed(fmt.Errorf("jetstream: read all: %w", err))
	}
	info := cons.CachedInfo() // the consumer is created by Messages
	defer func() {
		it.Stop()
		// The current consumer (one replaced by a reset is deleted by the
		// client library).
		if cur := cons.CachedInfo(); cur != nil {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout)
			defer cancel()
			_ = s.js.DeleteConsumer(ctx, s.cfg.StreamName, cur.Name)
		}
	}()
	if info == nil {
		return nil, fmt.Errorf("jetstream: read all: ordered consumer without info")
	}
	want := min(uint64(max-len(out)), info.NumPending)
	if want == 0 {
		return out, nil
	}
	// One allocation for the page instead of growing it by doubling (a
	// replay's pages of 10,000 copied the events about 14 times).
	out = slices.Grow(out, int(want))
	for range want {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return nil, s.failed(fmt.Errorf("jetstream: read all: %w", err))
		}
		md, err := m.Metadata()
		if err != nil {
			return nil, fmt.Errorf("jetstream: read all: %w", err)
		}
		if err := nextPosition(seq, md.Sequence.Stream); err != nil {
			return out, err // the caller ends the page before the gap
		}
		seq++
		r, err := Decode(m.Subject(), md.Sequence.Stream, m.Headers(), m.Data())
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Head returns the stream's version and chain head, read from the server
// (not from the cache: a caller deciding a command needs the current head).
//
// A stream whose last event is stored but cannot be read is not reported
// as empty (version 0, which would let an append fork it) but as damaged.
//
// Errors: eventstore.ErrStreamNotFound for a name that is not
// "<category>.<id>"; an error wrapping ErrDamaged and a
// *eventstore.ChainError (eventstore.ErrChainBroken) when the stream's last
// event cannot be read; ErrMalformed, eventstore.ErrClosed, ctx's error.
func (s *Store) Head(ctx context.Context, stream string) (uint64, eventstore.Hash, error) {
	if err := s.check(); err != nil {
		return 0, eventstore.Hash{}, err
	}
	if err := checkStream(stream); err != nil {
		return 0, eventstore.Hash{}, fmt.Errorf("%w: %w", eventstore.ErrStreamNotFound, err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		h, err := s.checkedHead(ctx, stream)
		if err != nil {
			return 0, eventstore.Hash{}, err
		}
		if cached, ok := s.heads.get(stream); ok && cached.version > h.version && attempt < lagRetries {
			if err := sleep(ctx, lagWait); err != nil {
				return 0, eventstore.Hash{}, err
			}
			continue
		}
		return h.version, h.hash, nil
	}
}

func clampPage(max, limit int) int {
	if max <= 0 {
		return DefaultPageSize
	}
	return min(max, limit)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// cursorCache remembers where the next page of a stream starts, so that
// reading a long stream page by page costs one request per page.
type cursorCache struct {
	mu  sync.Mutex
	m   map[string][2]uint64 // stream -> {next version, sequence to start at}
	max int
}

func (c *cursorCache) get(stream string, version uint64) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := c.m[stream]
	return cur[1], ok && cur[0] == version
}

// at returns the stream's cursor: version cv lies at sequence cs or
// later, and no event of the stream at or after cv lies before cs.
func (c *cursorCache) at(stream string) (cv, cs uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := c.m[stream]
	return cur[0], cur[1], ok
}

// maxCursorSkip: how many versions before the wanted one a read may start
// at and skip (a catch-up after another writer's few appends).
const maxCursorSkip = 64

func (c *cursorCache) put(stream string, version, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string][2]uint64)
	}
	if _, ok := c.m[stream]; !ok && len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[stream] = [2]uint64{version, seq}
}

// checkedHead is loadHead for a caller about to trust "no events": when the
// direct get finds no last message, the stream leader's count of the
// stream's messages confirms it. nats-server v2.15.2 answers a direct get
// for a damaged last message with 404; taken as "no events", an append at
// version 0 would then be accepted (the server's own expected-sequence
// check fails the same way) and fork the stream into a second version 1.
// Counted messages whose last one the leader returns were a lagging
// replica's 404 (R3): the leader's message is the head. The count costs a
// stream info request, only when a stream reads as empty.
func (s *Store) checkedHead(ctx context.Context, stream string) (head, error) {
	h, err := s.loadHead(ctx, stream)
	if err != nil || h.version > 0 {
		return h, err
	}
	n, err := s.storedEvents(ctx, stream)
	if err != nil || n == 0 {
		return head{}, err
	}
	r, ok, err := s.leaderGet(ctx, msgGetRequest{LastFor: s.subj.filter(stream)})
	if err != nil {
		return head{}, fmt.Errorf("jetstream: head of %s: %w", stream, err)
	}
	if !ok {
		return head{}, fmt.Errorf("jetstream: head of %s: %w: %w", stream, ErrDamaged, &eventstore.ChainError{Stream: stream, Version: n,
			Reason: fmt.Sprintf("the stream holds %d events but its last one cannot be read (damaged message)", n)})
	}
	if r.Stream != stream {
		return head{}, fmt.Errorf("%w: last message of %s belongs to %s", ErrMalformed, stream, r.Stream)
	}
	h = head{version: r.Version, seq: r.Position, hash: r.Hash}
	s.heads.put(stream, h)
	return h, nil
}

// storedEvents returns how many messages the stream leader counts on a
// ledger stream's subjects, readable or not: it answers from its subject
// index, without reading them.
func (s *Store) storedEvents(ctx context.Context, stream string) (uint64, error) {
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(s.subj.filter(stream)))
	if err != nil {
		return 0, s.failed(fmt.Errorf("jetstream: stream info for %s: %w", stream, err))
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n, nil
}

// errCodeNoMessageFound is JSNoMessageFoundErr: no message matches, or the
// one that does cannot be read (nats-server answers both the same way).
const errCodeNoMessageFound = 10037

// msgGetRequest is the body of $JS.API.STREAM.MSG.GET.<stream>.
type msgGetRequest struct {
	Seq     uint64 `json:"seq,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
}

type msgGetResponse struct {
	Error   *APIError `json:"error,omitempty"`
	Message *struct {
		Subject string `json:"subject"`
		Seq     uint64 `json:"seq"`
		Header  []byte `json:"hdrs,omitempty"`
		Data    []byte `json:"data,omitempty"`
	} `json:"message,omitempty"`
}

// leaderGet reads one message through the JetStream API, which the stream
// leader answers (a direct get may be answered by a replica that has not
// caught up with the state the leader reported). ok == false: no message
// matches or the server cannot read it.
func (s *Store) leaderGet(ctx context.Context, req msgGetRequest) (eventstore.RecordedEvent, bool, error) {
	body, _ := json.Marshal(req)
	resp, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+s.cfg.StreamName, body)
	if err != nil {
		return eventstore.RecordedEvent{}, false, s.failed(fmt.Errorf("jetstream: message get: %w", err))
	}
	var r msgGetResponse
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return eventstore.RecordedEvent{}, false, fmt.Errorf("jetstream: message get: bad response %q: %w", resp.Data, err)
	}
	switch {
	case r.Error != nil && r.Error.Code == errCodeNoMessageFound:
		return eventstore.RecordedEvent{}, false, nil
	case r.Error != nil:
		return eventstore.RecordedEvent{}, false, r.Error
	case r.Message == nil:
		return eventstore.RecordedEvent{}, false, fmt.Errorf("jetstream: message get: response without a message: %q", resp.Data)
	}
	var hdr nats.Header
	if len(r.Message.Header) > 0 {
		if hdr, err = nats.DecodeHeadersMsg(r.Message.Header); err != nil {
			return eventstore.RecordedEvent{}, false, fmt.Errorf("%w: position %d: headers: %w", ErrMalformed, r.Message.Seq, err)
		}
	}
	rec, err := Decode(r.Message.Subject, r.Message.Seq, hdr, r.Message.Data)
	return rec, err == nil, err
}
