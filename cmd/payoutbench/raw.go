package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/payoutledger/ledger/domain"
)

// The raw baselines' own stream, on the server they publish to: file
// storage like the ledger's stream and, the setting being the server's,
// the same sync mode.
const (
	rawStreamName = "RAW"
	rawPrefix     = "raw"
)

// Headers of JetStream's publish protocol the baseline sets, as the store
// does on every single-event append.
const (
	hdrExpectedLastSubjSeq     = "Nats-Expected-Last-Subject-Sequence"
	hdrExpectedLastSubjSeqSubj = "Nats-Expected-Last-Subject-Sequence-Subject"
)

// Kinds of raw baseline (Result.Kind).
const (
	// kindRawInproc: an in-process connection, as the store's own, to a
	// twin embedded server started with the store's options (same sync
	// mode, same disk).
	kindRawInproc = "raw.publish"
	// kindRawTCP: the store's own server, over its loopback TCP listener
	// (the store's in-process connection is not exported).
	kindRawTCP = "raw.publish_tcp"
	// kindRawBatch: atomic batches, one publisher, to the twin server.
	kindRawBatch = "raw.atomic_batch"
)

// rawBaseline publishes plain JetStream messages of the ledger events'
// size: one subject per shop (raw.<platform>.<shop>.PayoutInitiated, the
// ledger's subjects under another prefix), each client owning its own
// subjects, each publish a synchronous nats.go jetstream PublishMsg.
type rawBaseline struct {
	kind   string
	nc     *nats.Conn
	js     jetstream.JetStream
	expect bool // set the expected-last-subject-sequence headers
	// subjects and their filters; lastSeq[k] is the stream sequence of the
	// last message on subjects[k] (what the next publish expects);
	// platform[k] the platform of the shop the subject stands for.
	subjects, filters []string
	lastSeq           []uint64
	platform          []domain.PlatformID
	// templates: per platform, the header and body of every message
	// (fetchTemplates).
	templates map[domain.PlatformID]template
	seed      uint64
	slices    uint64
}

// template is what every raw message of one platform carries.
type template struct {
	header nats.Header
	body   []byte
	bytes  int
}

// openRaw creates the RAW stream through nc (the baseline owns nc from
// then on) and names one subject per shop, at least one per client.
func openRaw(ctx context.Context, kind string, nc *nats.Conn, w *workload, maxClients int, expect bool) (*rawBaseline, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name: rawStreamName, Subjects: []string{rawPrefix + ".>"},
		Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardNew,
		Replicas: 1, DenyDelete: true, DenyPurge: true, AllowDirect: true, AllowAtomicPublish: true,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: create stream %s: %w", kind, rawStreamName, err)
	}
	n := max(len(w.shops), maxClients)
	r := &rawBaseline{kind: kind, nc: nc, js: js, expect: expect,
		subjects: make([]string, n), filters: make([]string, n), lastSeq: make([]uint64, n), platform: make([]domain.PlatformID, n)}
	for k := range n {
		s := w.shops[k%len(w.shops)]
		stream := s.ref.Stream()
		if k >= len(w.shops) {
			stream = fmt.Sprintf("%s.X%05d", s.ref.Platform, k)
		}
		r.subjects[k] = rawPrefix + "." + stream + ".PayoutInitiated"
		r.filters[k] = rawPrefix + "." + stream + ".>"
		r.platform[k] = s.ref.Platform
	}
	return r, nil
}

func (r *rawBaseline) close() { r.nc.Close() }

// resync reloads a subject's last sequence after a failed publish (which
// may have been stored, or refused for a stale expectation).
func (r *rawBaseline) resync(ctx context.Context, k int) {
	st, err := r.js.Stream(ctx, rawStreamName)
	if err != nil {
		return
	}
	m, err := st.GetLastMsgForSubject(ctx, r.subjects[k])
	switch {
	case err == nil:
		r.lastSeq[k] = m.Sequence
	case errors.Is(err, jetstream.ErrMsgNotFound):
		r.lastSeq[k] = 0
	}
}

// fetchTemplates reads, through js (a connection to the store's server),
// one stored single-event PayoutInitiated per platform (positions, in the
// ledger's stream) and returns what raw messages of that platform carry:
// its headers without the Nats-* ones (keepHeaders) and its body, the
// bytes the store writes for one payout. It also returns those messages'
// sizes and their bodies' sizes, by platform.
func fetchTemplates(ctx context.Context, js jetstream.JetStream, streamName string, positions map[domain.PlatformID]uint64, keepHeaders bool) (
	templates map[domain.PlatformID]template, msgBytes, bodyBytes map[string]int, err error) {
	st, err := js.Stream(ctx, streamName)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("raw baseline: stream %s: %w", streamName, err)
	}
	templates, msgBytes, bodyBytes = map[domain.PlatformID]template{}, map[string]int{}, map[string]int{}
	for p, seq := range positions {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("raw baseline: ledger message %d: %w", seq, err)
		}
		ledgerHeader := nats.Header{}
		for k, v := range m.Header {
			if !strings.HasPrefix(k, "Nats-") {
				ledgerHeader[k] = v
			}
		}
		msgBytes[string(p)] = headerBytes(ledgerHeader) + len(m.Data)
		bodyBytes[string(p)] = len(m.Data)
		t := template{header: nats.Header{}, body: m.Data}
		if keepHeaders {
			t.header = ledgerHeader
		}
		t.bytes = headerBytes(t.header) + len(t.body)
		templates[p] = t
	}
	return templates, msgBytes, bodyBytes, nil
}

// meanBytes is the mean size of the raw messages (subjects are published
// to in turn, so this is also the mean over messages).
func (r *rawBaseline) meanBytes() int {
	total := 0
	for _, p := range r.platform {
		total += r.templates[p].bytes
	}
	return total / len(r.platform)
}

// headerBytes is the size of h on the wire (NATS/1.0 header block).
func headerBytes(h nats.Header) int {
	if len(h) == 0 {
		return 0
	}
	n := len("NATS/1.0\r\n") + len("\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(": ") + len(v) + len("\r\n")
		}
	}
	return n
}

// slice runs clients publishers until b; maxSamples bounds the latencies
// it keeps.
func (r *rawBaseline) slice(ctx context.Context, clients int, b bound, maxSamples int) (slice, error) {
	if r.templates == nil {
		return slice{}, fmt.Errorf("%s: no ledger message to copy yet", r.kind)
	}
	g, stop := startGate(ctx, b)
	defer stop()
	tallies := make([]*tally, clients)
	recs := make([]*recorder, clients)
	r.slices++
	n := r.slices
	elapsed, cpu := runClients(clients, func(i int) {
		t, rec := newTally(), newRecorder(maxSamples/clients, r.seed+n<<32+uint64(i))
		tallies[i], recs[i] = t, rec
		// Client i owns subjects i, i+clients, ...: no two clients expect
		// the same subject's sequence, so no publish conflicts.
		var own []int
		for k := i; k < len(r.subjects); k += clients {
			own = append(own, k)
		}
		for j := 0; g.next(); j++ {
			k := own[j%len(own)]
			tp := r.templates[r.platform[k]]
			m := &nats.Msg{Subject: r.subjects[k], Header: make(nats.Header, len(tp.header)+2), Data: tp.body}
			for hk, hv := range tp.header {
				m.Header[hk] = hv
			}
			if r.expect {
				m.Header.Set(hdrExpectedLastSubjSeq, strconv.FormatUint(r.lastSeq[k], 10))
				m.Header.Set(hdrExpectedLastSubjSeqSubj, r.filters[k])
			}
			start := time.Now()
			ack, err := r.js.PublishMsg(ctx, m)
			d := time.Since(start)
			if err != nil {
				t.errs[errorClass(err)]++
				r.resync(ctx, k)
				continue
			}
			r.lastSeq[k] = ack.Sequence
			t.ok++
			t.events++
			rec.add(d)
		}
	})
	return slice{tallies: tallies, recs: recs, elapsed: elapsed, cpu: cpu}, nil
}

// Headers of JetStream's atomic batch publish (nats-server 2.12+), as the
// store sends them (adapters/jetstream/append.go): every message carries
// the batch's ID and its sequence in it, the last one the commit; the
// last is a request whose reply acknowledges the whole batch.
const (
	hdrBatchID     = "Nats-Batch-Id"
	hdrBatchSeq    = "Nats-Batch-Sequence"
	hdrBatchCommit = "Nats-Batch-Commit"
)

// batchAck is the server's reply to a batch's commit.
type batchAck struct {
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error,omitempty"`
	Seq   uint64 `json:"seq"`
	Batch string `json:"batch"`
	Count int    `json:"count"`
}

// batchSlice publishes atomic batches of size messages, one batch at a
// time from one publisher, until b: the messages of a batch go to size
// different subjects (shops), each with its expected last sequence when
// r.expect, as a group commit of size commands on size shops would. OK
// counts messages; the latency is per batch, from its first publish to
// its acknowledgement.
func (r *rawBaseline) batchSlice(ctx context.Context, size int, b bound, maxSamples int) (slice, error) {
	if r.templates == nil {
		return slice{}, fmt.Errorf("%s: no ledger message to copy yet", r.kind)
	}
	if size < 2 || size > len(r.subjects) {
		return slice{}, fmt.Errorf("atomic batches of %d messages: from 2 to the %d subjects", size, len(r.subjects))
	}
	g, stop := startGate(ctx, b)
	defer stop()
	r.slices++
	t, rec := newTally(), newRecorder(maxSamples, r.seed+r.slices<<32)
	next := 0
	ks := make([]int, size)
	elapsed, cpu := runClients(1, func(int) {
		for g.next() {
			id := nuid.Next()
			start := time.Now()
			var reply *nats.Msg
			var err error
			for j := range size {
				k := (next + j) % len(r.subjects)
				ks[j] = k
				tp := r.templates[r.platform[k]]
				m := &nats.Msg{Subject: r.subjects[k], Header: make(nats.Header, len(tp.header)+5), Data: tp.body}
				for hk, hv := range tp.header {
					m.Header[hk] = hv
				}
				if r.expect {
					m.Header.Set(hdrExpectedLastSubjSeq, strconv.FormatUint(r.lastSeq[k], 10))
					m.Header.Set(hdrExpectedLastSubjSeqSubj, r.filters[k])
				}
				m.Header.Set(hdrBatchID, id)
				m.Header.Set(hdrBatchSeq, strconv.Itoa(j+1))
				if j < size-1 {
					if err = r.nc.PublishMsg(m); err != nil {
						break
					}
					continue
				}
				m.Header.Set(hdrBatchCommit, "1")
				reply, err = r.nc.RequestMsgWithContext(ctx, m)
			}
			d := time.Since(start)
			var ack batchAck
			if err == nil {
				err = json.Unmarshal(reply.Data, &ack)
			}
			if err == nil && ack.Error != nil {
				err = fmt.Errorf("batch refused: %d %s", ack.Error.ErrCode, ack.Error.Description)
			}
			if err == nil && (ack.Batch != id || ack.Count != size) {
				err = fmt.Errorf("batch %s of %d: unexpected ack (batch %q, count %d)", id, size, ack.Batch, ack.Count)
			}
			if err != nil {
				t.errs[errorClass(err)]++
				for _, k := range ks {
					r.resync(ctx, k)
				}
				continue
			}
			// A batch is stored contiguously: message j has the last
			// sequence less the messages after it.
			for j, k := range ks {
				r.lastSeq[k] = ack.Seq - uint64(size-1-j)
			}
			next = (next + size) % len(r.subjects)
			t.ok += int64(size)
			t.events += int64(size)
			rec.add(d)
		}
	})
	return slice{tallies: []*tally{t}, recs: []*recorder{rec}, elapsed: elapsed, cpu: cpu}, nil
}
