package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/payoutledger/ledger/eventstore"
)

// maxAnyAttempts bounds the retries of an append with eventstore.Any, which
// only conflicts when this process's head cache was stale.
const maxAnyAttempts = 8

// maxInflightAttempts bounds the attempts of an append refused because a
// message of its streams was in flight (10164), about 50 ms in all.
const maxInflightAttempts = 10

// headerAllowance bounds what the ledger and JetStream headers add to a
// message on top of its subject and body (about 700 bytes; names of the
// maximal length repeat in several headers).
const headerAllowance = 4096

// Append writes events to the end of stream if it holds exactly expected
// events (see eventstore.Store). One event goes out as a plain JetStream
// publish; several go out as one atomic batch, fsynced once as a whole.
// Either way the first message carries Nats-Expected-Last-Subject-Sequence
// for the stream's subject filter, so the server refuses it if anything was
// appended to the stream since the head this append chained from.
//
// Errors: eventstore.ErrWrongExpectedVersion (the stream is not at
// expected), eventstore.ErrInvalidAppend (eventstore.ValidateAppend, a
// stream name that is not "<category>.<id>" or an event type that is not a
// subject token, both [A-Za-z0-9_-]), eventstore.ErrClosed, ctx's error, or
// a JetStream error (*APIError) or connection error; after one of the last
// two, or ctx's, the append may or may not have been stored, and retrying
// it with the same event IDs and expected version is safe.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (eventstore.AppendResult, error) {
	res, err := s.AppendBatch(ctx, []eventstore.AppendRequest{{Stream: stream, Expected: expected, Events: events}})
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return res[0], nil
}

// AppendBatch appends several requests, to one or more streams, in one
// atomic JetStream batch: all are stored or none is. Requests on the same
// stream are applied in order, each expecting the version the previous one
// produces (group commit of several commands on one shop). A batch whose
// events total one is a plain publish. Re-sending a batch that was stored
// returns the original results.
//
// Errors: as Append; eventstore.ErrWrongExpectedVersion if any request's
// expectation fails (the caller splits the batch to find which);
// eventstore.ErrInvalidAppend for an empty batch, an invalid request, an
// event ID used twice, or more events than Config.MaxBatchEvents.
func (s *Store) AppendBatch(ctx context.Context, reqs []eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := s.validate(reqs); err != nil {
		return nil, err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	for attempt := 1; ; attempt++ {
		res, err := s.tryAppend(ctx, reqs)
		if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			return res, err
		}
		// 10164 on a replicated stream: a message of one of the streams
		// was still in flight at the leader (another writer's, or this
		// process's previous append, acknowledged a moment before the
		// leader forgot it: CI saw a lone writer refused so). Not a
		// verdict: wait a moment and try again from the server's heads,
		// which show a real conflict as one.
		var api *APIError
		if errors.As(err, &api) && api.Code == errCodeWrongLastSeqConstant && attempt < maxInflightAttempts {
			if err := sleep(ctx, time.Duration(attempt)*time.Millisecond); err != nil {
				return nil, err
			}
			continue
		}
		// The server refused a batch holding an Any request: the head it
		// chained from was stale (the cache entry is gone now), reload.
		var local *versionMismatch
		if hasAny(reqs) && !errors.As(err, &local) && attempt < maxAnyAttempts {
			continue
		}
		return s.idempotent(ctx, reqs, err)
	}
}

// versionMismatch is a conflict seen before publishing: a head read from
// the server, or a cached head already past expected (versions only grow).
type versionMismatch struct {
	stream           string
	version, expects uint64
}

func (e *versionMismatch) Error() string {
	return fmt.Sprintf("jetstream: stream %s is at version %d, not %d", e.stream, e.version, e.expects)
}

func (e *versionMismatch) Unwrap() error { return eventstore.ErrWrongExpectedVersion }

// ConflictStream names the stream whose expectation failed, so that a
// caller splitting a refused batch (the command handler's group commit)
// knows which stream to reload without reading every head.
func (e *versionMismatch) ConflictStream() string { return e.stream }

func hasAny(reqs []eventstore.AppendRequest) bool {
	for _, r := range reqs {
		if r.Expected == eventstore.Any {
			return true
		}
	}
	return false
}

func (s *Store) validate(reqs []eventstore.AppendRequest) error {
	if len(reqs) == 0 {
		return fmt.Errorf("%w: empty batch", eventstore.ErrInvalidAppend)
	}
	total := 0
	seen := make(map[uuid.UUID]struct{})
	maxBody := int(s.nc.MaxPayload()) - headerAllowance
	for i, r := range reqs {
		if err := eventstore.ValidateAppend(r.Stream, r.Expected, r.Events); err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
		if err := checkStream(r.Stream); err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
		for j, e := range r.Events {
			if !validToken(e.Type) {
				return fmt.Errorf("%w: request %d event %d: type %q: want [A-Za-z0-9_-]{1,%d}", eventstore.ErrInvalidAppend, i, j, e.Type, maxTokenLen)
			}
			if len(e.Data)+len(s.subj.event(r.Stream, e.Type)) > maxBody {
				return fmt.Errorf("%w: request %d event %d: %d bytes exceed the server's max_payload %d", eventstore.ErrInvalidAppend, i, j, len(e.Data), s.nc.MaxPayload())
			}
			if _, dup := seen[e.ID]; dup {
				return fmt.Errorf("%w: event ID %s twice in one batch", eventstore.ErrInvalidAppend, e.ID)
			}
			seen[e.ID] = struct{}{}
		}
		total += len(r.Events)
	}
	if total > s.cfg.MaxBatchEvents {
		return fmt.Errorf("%w: %d events in one batch (max %d): split it", eventstore.ErrInvalidAppend, total, s.cfg.MaxBatchEvents)
	}
	return nil
}

// planned is one message of an append, with where it lands.
type planned struct {
	req int // index of its request
	rec eventstore.RecordedEvent
	msg *nats.Msg
}

// tryAppend chains the requests from the streams' heads and publishes
// them once. ErrWrongExpectedVersion means either an expectation failed or
// a cached head was stale (the cache entry is dropped).
func (s *Store) tryAppend(ctx context.Context, reqs []eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	now := s.cfg.Clock().UTC()
	// Resolve each stream's head once, at its first request.
	heads := make(map[string]head, len(reqs))
	var msgs []planned
	for i, r := range reqs {
		h, seen := heads[r.Stream]
		first := !seen
		if first {
			var err error
			if h, err = s.headFor(ctx, r.Stream, r.Expected); err != nil {
				return nil, err
			}
		}
		if r.Expected != eventstore.Any && uint64(r.Expected) != h.version {
			return nil, &versionMismatch{stream: r.Stream, version: h.version, expects: uint64(r.Expected)}
		}
		for k, rec := range eventstore.Chain(r.Stream, h.version, h.hash, r.Events) {
			rec.RecordedAt = now
			m := encode(s.subj.event(r.Stream, rec.Type), rec)
			if first && k == 0 {
				m.Header.Set(hdrExpectedLastSubjSeq, strconv.FormatUint(h.seq, 10))
				m.Header.Set(hdrExpectedLastSubjSeqSubj, s.subj.filter(r.Stream))
			}
			msgs = append(msgs, planned{req: i, rec: rec, msg: m})
			h.version, h.hash = rec.Version, rec.Hash
		}
		heads[r.Stream] = h
	}

	var ack pubAck
	var err error
	if len(msgs) == 1 {
		ack, err = s.request(ctx, msgs[0].msg, true)
	} else {
		ack, err = s.publishBatch(ctx, msgs)
	}
	if err != nil {
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			for st := range heads {
				s.heads.forget(st)
			}
		}
		return nil, err
	}

	// An atomic batch is stored contiguously (the server holds the stream
	// for the whole commit), ending at the acknowledged sequence.
	first := ack.Seq - uint64(len(msgs)) + 1
	res := make([]eventstore.AppendResult, len(reqs))
	for k, p := range msgs {
		seq := first + uint64(k)
		r := &res[p.req]
		if r.Stream == "" {
			*r = eventstore.AppendResult{Stream: p.rec.Stream, FirstVersion: p.rec.Version}
		}
		r.LastVersion, r.LastPosition, r.LastHash = p.rec.Version, seq, p.rec.Hash
		s.heads.put(p.rec.Stream, head{version: p.rec.Version, seq: seq, hash: p.rec.Hash})
		// The next version of the stream lies after seq: a catch-up after
		// another writer's append reads from there, instead of searching
		// the log for where that version is.
		s.cursors.put(p.rec.Stream, p.rec.Version+1, seq+1)
	}
	s.acked(ack.Seq)
	return res, nil
}

// headFor returns the head an append at expected chains from: the cached
// one, or the server's when there is none or the cached one is behind
// expected (another process appended).
func (s *Store) headFor(ctx context.Context, stream string, expected eventstore.ExpectedVersion) (head, error) {
	if h, ok := s.heads.get(stream); ok && (expected == eventstore.Any || uint64(expected) <= h.version) {
		return h, nil
	}
	for attempt := 0; ; attempt++ {
		h, err := s.checkedHead(ctx, stream)
		// On a replicated stream a follower a few messages behind may
		// answer: a head behind what the caller saw elsewhere is retried
		// briefly before it counts as a conflict.
		if err != nil || expected == eventstore.Any || uint64(expected) <= h.version || !s.replicated() || attempt == staleHeadRetries {
			return h, err
		}
		if err := sleep(ctx, lagWait); err != nil {
			return head{}, err
		}
	}
}

// staleHeadRetries bounds headFor's wait for a lagging follower (~100 ms).
const staleHeadRetries = 20

// replicated reports whether followers may answer direct gets.
func (s *Store) replicated() bool { return s.replicas > 1 }

// loadHead reads the last message of the stream's subject filter. Its
// zero head may hide a damaged last message: callers that act on "no
// events" use checkedHead (read.go).
func (s *Store) loadHead(ctx context.Context, stream string) (head, error) {
	r, ok, err := s.getOne(ctx, directGetRequest{LastFor: s.subj.filter(stream)})
	if err != nil || !ok {
		return head{}, err
	}
	if r.Stream != stream {
		return head{}, fmt.Errorf("%w: last message of %s belongs to %s", ErrMalformed, stream, r.Stream)
	}
	h := head{version: r.Version, seq: r.Position, hash: r.Hash}
	s.heads.put(stream, h)
	return h, nil
}

func (s *Store) acked(seq uint64) {
	for {
		cur := s.lastAcked.Load()
		if seq <= cur || s.lastAcked.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// publishBatch sends msgs as one JetStream atomic batch: every message but
// the last is a core publish carrying Nats-Batch-Id and
// Nats-Batch-Sequence, staged by the server; the last adds
// Nats-Batch-Commit: 1 and is a request whose reply acknowledges the whole
// batch (sequence of its last message, count) or refuses it. Nothing of a
// refused batch is stored. nats.go v1.55.0 has no helper for this.
func (s *Store) publishBatch(ctx context.Context, msgs []planned) (pubAck, error) {
	select {
	case s.batches <- struct{}{}:
	case <-ctx.Done():
		return pubAck{}, ctx.Err()
	}
	defer func() { <-s.batches }()

	id := nuid.Next()
	for k, p := range msgs {
		p.msg.Header.Set(hdrBatchID, id)
		p.msg.Header.Set(hdrBatchSeq, strconv.Itoa(k+1))
	}
	last := msgs[len(msgs)-1].msg
	last.Header.Set(hdrBatchCommit, "1")
	for _, p := range msgs[:len(msgs)-1] {
		if err := s.nc.PublishMsg(p.msg); err != nil {
			// The server drops the staged part after its batch timeout.
			if errors.Is(err, nats.ErrMaxPayload) {
				return pubAck{}, fmt.Errorf("%w: %w", eventstore.ErrInvalidAppend, err)
			}
			return pubAck{}, s.failed(fmt.Errorf("jetstream: batch publish: %w", err))
		}
	}
	ack, err := s.request(ctx, last, false)
	if err != nil {
		return pubAck{}, err
	}
	if ack.Batch != id || ack.Count != len(msgs) {
		return pubAck{}, fmt.Errorf("jetstream: batch %s of %d: unexpected ack (batch %q, count %d)", id, len(msgs), ack.Batch, ack.Count)
	}
	return ack, nil
}

// idempotent answers a conflict: if every request's events are already
// stored right after its expected version (a retry of an append that was
// stored but whose ack was lost), it returns the original results;
// otherwise the conflict.
func (s *Store) idempotent(ctx context.Context, reqs []eventstore.AppendRequest, conflict error) ([]eventstore.AppendResult, error) {
	res := make([]eventstore.AppendResult, len(reqs))
	for i, r := range reqs {
		if r.Expected == eventstore.Any {
			return nil, conflict // nothing to compare a retry against
		}
		from := uint64(r.Expected) + 1
		got, err := s.ReadStream(ctx, r.Stream, from, len(r.Events))
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil, conflict
		}
		if err != nil {
			return nil, err
		}
		if len(got) != len(r.Events) {
			return nil, conflict
		}
		for k, e := range r.Events {
			if got[k].ID != e.ID {
				return nil, conflict
			}
		}
		last := got[len(got)-1]
		res[i] = eventstore.AppendResult{Stream: r.Stream, FirstVersion: from, LastVersion: last.Version, LastPosition: last.Position, LastHash: last.Hash}
	}
	return res, nil
}
