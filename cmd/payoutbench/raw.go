package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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
