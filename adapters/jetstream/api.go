package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/payoutledger/ledger/eventstore"
)

// JetStream error codes the store maps (server/jetstream_errors_generated.go).
const (
	errCodeWrongLastSeq         = 10071 // JSStreamWrongLastSequenceErrF
	errCodeWrongLastSeqConstant = 10164 // JSStreamWrongLastSequenceConstantErr (R3: same subject in flight)
	errCodeMsgTooLarge          = 10054 // JSStreamMessageExceedsMaximumErr
	errCodeBatchDuplicateMsgID  = 10201 // JSAtomicPublishContainsDuplicateMessageErr: a batch holds a stored event ID
	errCodeDuplicateInProcess   = 10158 // JSStreamDuplicateMessageConflictErr: the same event ID is being stored (R3)
)

// Headers of JetStream's publish protocol.
const (
	hdrExpectedLastSubjSeq     = "Nats-Expected-Last-Subject-Sequence"
	hdrExpectedLastSubjSeqSubj = "Nats-Expected-Last-Subject-Sequence-Subject"
	hdrBatchID                 = "Nats-Batch-Id"
	hdrBatchSeq                = "Nats-Batch-Sequence"
	hdrBatchCommit             = "Nats-Batch-Commit"
	hdrSequence                = "Nats-Sequence"
	hdrSubject                 = "Nats-Subject"
	hdrNumPending              = "Nats-Num-Pending"
	hdrStatus                  = "Status"
	hdrDescription             = "Description"
)

// APIError is an error JetStream answered a publish with. Code is its
// JetStream error code (10071: wrong last sequence, ...).
type APIError struct {
	Status      int    `json:"code"`
	Code        int    `json:"err_code"`
	Description string `json:"description"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("jetstream: %s (status %d, code %d)", e.Description, e.Status, e.Code)
}

// pubAck is the server's reply to a publish or a batch commit.
type pubAck struct {
	Error  *APIError `json:"error,omitempty"`
	Stream string    `json:"stream"`
	Seq    uint64    `json:"seq"`
	Batch  string    `json:"batch,omitempty"`
	Count  int       `json:"count,omitempty"`
	// Duplicate: the event ID (Nats-Msg-Id) is already stored, at Seq;
	// nothing was stored.
	Duplicate bool `json:"duplicate,omitempty"`
}

// mapAPIError turns JetStream's refusals into the contract's errors.
func mapAPIError(e *APIError) error {
	switch e.Code {
	// A stored event ID (Nats-Msg-Id) is a conflict too: the idempotency
	// check then tells a retry of a stored append from a real conflict.
	case errCodeWrongLastSeq, errCodeWrongLastSeqConstant, errCodeBatchDuplicateMsgID, errCodeDuplicateInProcess:
		return fmt.Errorf("%w: %w", eventstore.ErrWrongExpectedVersion, e)
	case errCodeMsgTooLarge:
		return fmt.Errorf("%w: %w", eventstore.ErrInvalidAppend, e)
	}
	return e
}

// request publishes m and waits for its ack. With retry, "no responders"
// (the stream was not reached, as during a leader election in a cluster:
// nothing was stored) is retried twice; a batch commit is not retried, the
// staged messages went nowhere either.
func (s *Store) request(ctx context.Context, m *nats.Msg, retry bool) (pubAck, error) {
	var resp *nats.Msg
	var err error
	for attempt := 0; ; attempt++ {
		resp, err = s.nc.RequestMsgWithContext(ctx, m)
		if !retry || !errors.Is(err, nats.ErrNoResponders) || attempt == 2 {
			break
		}
		select {
		case <-ctx.Done():
			return pubAck{}, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	if err != nil {
		if errors.Is(err, nats.ErrMaxPayload) {
			return pubAck{}, fmt.Errorf("%w: %w", eventstore.ErrInvalidAppend, err)
		}
		return pubAck{}, s.failed(fmt.Errorf("jetstream: publish %s: %w", m.Subject, err))
	}
	var ack pubAck
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return pubAck{}, fmt.Errorf("jetstream: publish %s: bad ack %q: %w", m.Subject, resp.Data, err)
	}
	if ack.Error != nil {
		return pubAck{}, mapAPIError(ack.Error)
	}
	if ack.Duplicate {
		return pubAck{}, fmt.Errorf("%w: event %s is already stored at %d", eventstore.ErrWrongExpectedVersion, m.Header.Get(HeaderEventID), ack.Seq)
	}
	if ack.Stream != s.cfg.StreamName || ack.Seq == 0 {
		return pubAck{}, fmt.Errorf("jetstream: publish %s: unexpected ack %q", m.Subject, resp.Data)
	}
	return ack, nil
}

// directGetRequest is the body of $JS.API.DIRECT.GET.<stream>.
type directGetRequest struct {
	Seq      uint64 `json:"seq,omitempty"`
	LastFor  string `json:"last_by_subj,omitempty"`
	NextFor  string `json:"next_by_subj,omitempty"`
	Batch    int    `json:"batch,omitempty"`
	MaxBytes int    `json:"max_bytes,omitempty"`
}

func (s *Store) directGetSubject() string { return "$JS.API.DIRECT.GET." + s.cfg.StreamName }

// getOne answers a single-message direct get: the message, or ok == false
// when none matches.
func (s *Store) getOne(ctx context.Context, req directGetRequest) (eventstore.RecordedEvent, bool, error) {
	body, _ := json.Marshal(req)
	resp, err := s.nc.RequestWithContext(ctx, s.directGetSubject(), body)
	if err != nil {
		return eventstore.RecordedEvent{}, false, s.failed(fmt.Errorf("jetstream: direct get: %w", err))
	}
	if st := resp.Header.Get(hdrStatus); st != "" {
		if st == "404" {
			return eventstore.RecordedEvent{}, false, nil
		}
		return eventstore.RecordedEvent{}, false, fmt.Errorf("jetstream: direct get: status %s %s", st, resp.Header.Get(hdrDescription))
	}
	r, err := decodeDirect(resp)
	return r, err == nil, err
}

// getBatch streams up to req.Batch messages of a batched direct get to fn,
// in sequence order. It returns how many messages the server says match
// after the last one sent (0: the caller reached the end).
func (s *Store) getBatch(ctx context.Context, req directGetRequest, fn func(eventstore.RecordedEvent) error) (pending uint64, err error) {
	inbox := s.nc.NewInbox() // not NewRespInbox: the request mux's wildcard would receive every message too
	// The server sends at most req.Batch messages and an end-of-batch
	// marker (or one status reply), so a channel of that size never drops
	// part of a batch, and a shop's load of a few events does not pay for
	// SubscribeSync's default 65,536-slot channel (512 KB allocated per
	// call: a third of the CPU of loading many shops went to the GC).
	ch := make(chan *nats.Msg, max(req.Batch, 1)+1)
	sub, err := s.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return 0, s.failed(fmt.Errorf("jetstream: direct get: %w", err))
	}
	defer func() { _ = sub.Unsubscribe() }()
	body, _ := json.Marshal(req)
	if err := s.nc.PublishRequest(s.directGetSubject(), inbox, body); err != nil {
		return 0, s.failed(fmt.Errorf("jetstream: direct get: %w", err))
	}
	for {
		var m *nats.Msg
		select {
		case m = <-ch:
		case <-ctx.Done():
			return 0, s.failed(fmt.Errorf("jetstream: direct get: %w", ctx.Err()))
		}
		switch st := m.Header.Get(hdrStatus); st {
		case "":
		case "204": // end of batch
			n, ok := parseUint(m.Header.Get(hdrNumPending))
			if !ok {
				return 0, fmt.Errorf("jetstream: direct get: end of batch without a pending count")
			}
			return n, nil
		case "404":
			return 0, nil
		default:
			return 0, fmt.Errorf("jetstream: direct get: status %s %s", st, m.Header.Get(hdrDescription))
		}
		r, err := decodeDirect(m)
		if err != nil {
			return 0, err
		}
		if err := fn(r); err != nil {
			return 0, err
		}
	}
}

// Limits of one batched direct get: bounded memory per call, and a batch
// the subscription always holds in full.
const (
	maxBatchGet   = 10_000
	maxBatchBytes = 16 << 20
)

// decodeDirect decodes a direct get response, whose headers add the
// message's subject and sequence.
func decodeDirect(m *nats.Msg) (eventstore.RecordedEvent, error) {
	seq, err := strconv.ParseUint(m.Header.Get(hdrSequence), 10, 64)
	if err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("%w: direct get without %s", ErrMalformed, hdrSequence)
	}
	return Decode(m.Header.Get(hdrSubject), seq, m.Header, m.Data)
}
