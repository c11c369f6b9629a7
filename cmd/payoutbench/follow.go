package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/projections"
)

// What follows the log while the mix runs, as payoutd's read side and a
// downstream consumer would: a projections.Runtime (every projection,
// memory store) and a JetStream ordered consumer through the embedded
// server's client port. Both run in this process: they take their share
// of its 2 cores, as they would in payoutd.

// lagSampleEvery: how often the projections' lag is sampled during a run.
const lagSampleEvery = 20 * time.Millisecond

// drainLimit bounds the wait for a follower to catch up after a run.
const drainLimit = 2 * time.Minute

// LagStats: how far the projections were behind the log during a run,
// sampled every lagSampleEvery: in positions (events) and in time (how
// long the oldest event not yet applied had been in the log, from the
// samples of the head), and how long they took to apply everything once
// the load stopped.
type LagStats struct {
	Samples        int     `json:"samples"`
	PositionsP50   uint64  `json:"positions_p50"`
	PositionsP99   uint64  `json:"positions_p99"`
	PositionsMax   uint64  `json:"positions_max"`
	TimeP50MS      float64 `json:"time_p50_ms"`
	TimeP99MS      float64 `json:"time_p99_ms"`
	TimeMaxMS      float64 `json:"time_max_ms"`
	DrainMS        float64 `json:"drain_ms"` // after the last slice of the run
	DrainMaxMS     float64 `json:"drain_max_ms"`
	DrainPositions uint64  `json:"drain_positions"` // behind when the load stopped (last slice)
}

// follower runs the projections over the store and samples their lag.
type follower struct {
	head headFunc
	rt   *projections.Runtime
	done chan error
	stop context.CancelFunc
}

func startFollower(ctx context.Context, store *jetstream.Store, head headFunc) (*follower, error) {
	rt, err := projections.New(projections.Config{Source: store, Store: projections.NewMemoryStore(), DensePositions: true},
		projections.All()...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	f := &follower{head: head, rt: rt, done: make(chan error, 1), stop: cancel}
	go func() { f.done <- rt.Run(ctx) }()
	return f, nil
}

func (f *follower) close() {
	f.stop()
	<-f.done
}

// applied is the position every projection has applied (the slowest's).
func (f *follower) applied() (uint64, error) {
	select {
	case err := <-f.done:
		f.done <- err // for close
		return 0, fmt.Errorf("projections stopped: %v", err)
	default:
	}
	st := f.rt.Status()
	if len(st) == 0 {
		return 0, nil // not loaded yet
	}
	min := st[0].Applied
	for _, s := range st {
		if s.Err != nil {
			return 0, fmt.Errorf("projection %s stopped: %w", s.Projection, s.Err)
		}
		min = mi(min, s.Applied)
	}
	return min, nil
}

func mi(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return b
}

// headFunc returns the log's last position.
type headFunc func(context.Context) (uint64, error)

// streamHead reads the ledger stream's last sequence (its last position)
// with one stream-info request: cheap enough to sample often.
func streamHead(nc *nats.Conn) (headFunc, error) {
	js, err := natsjs.New(nc)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (uint64, error) {
		st, err := js.Stream(ctx, jetstream.DefaultStreamName)
		if err != nil {
			return 0, fmt.Errorf("stream %s info: %w", jetstream.DefaultStreamName, err)
		}
		return st.CachedInfo().State.LastSeq, nil
	}, nil
}

// drain waits until the projections applied position h and returns how
// long that took.
func (f *follower) drain(ctx context.Context, h uint64) (time.Duration, error) {
	start := time.Now()
	for {
		a, err := f.applied()
		if err != nil {
			return 0, err
		}
		if a >= h {
			return time.Since(start), nil
		}
		if time.Since(start) > drainLimit {
			return 0, fmt.Errorf("projections: still at %d of %d after %s", a, h, drainLimit)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// lagSampler samples the follower's lag until stopped.
type lagSampler struct {
	stop    chan struct{}
	done    chan struct{}
	pos     []uint64
	times   []time.Duration
	headErr error
}

// sample starts sampling: every tick, the head and the applied position.
// The time lag of a sample is how long ago the head first passed the
// applied position (from the earlier samples of the head).
func (f *follower) sample(ctx context.Context) *lagSampler {
	ls := &lagSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(ls.done)
		type seen struct {
			at   time.Time
			head uint64
		}
		var heads []seen
		t := time.NewTicker(lagSampleEvery)
		defer t.Stop()
		for {
			select {
			case <-ls.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			h, err := f.head(ctx)
			if err != nil {
				ls.headErr = err
				return
			}
			now := time.Now()
			heads = append(heads, seen{now, h})
			a, err := f.applied()
			if err != nil {
				ls.headErr = err
				return
			}
			behind := uint64(0)
			if h > a {
				behind = h - a
			}
			ls.pos = append(ls.pos, behind)
			lag := time.Duration(0)
			if behind > 0 {
				// The first sample whose head was beyond a: the oldest
				// unapplied event was in the log by then.
				i := sort.Search(len(heads), func(i int) bool { return heads[i].head > a })
				if i < len(heads) {
					lag = now.Sub(heads[i].at)
				}
			}
			ls.times = append(ls.times, lag)
		}
	}()
	return ls
}

func (ls *lagSampler) end() error {
	close(ls.stop)
	<-ls.done
	return ls.headErr
}

// lagStats summarises the samplers of a run's slices and the drains after
// them.
func lagStats(samplers []*lagSampler, drains []time.Duration, lastBehind uint64) *LagStats {
	var pos []uint64
	var recs []*recorder
	for _, ls := range samplers {
		pos = append(pos, ls.pos...)
		r := newRecorder(len(ls.times)+1, 7)
		for _, d := range ls.times {
			r.add(d)
		}
		recs = append(recs, r)
	}
	st := &LagStats{Samples: len(pos), DrainPositions: lastBehind}
	if len(pos) > 0 {
		sort.Slice(pos, func(i, j int) bool { return pos[i] < pos[j] })
		st.PositionsP50, st.PositionsP99, st.PositionsMax = nearestRank(pos, 0.50), nearestRank(pos, 0.99), pos[len(pos)-1]
	}
	l := summarize(recs)
	st.TimeP50MS, st.TimeP99MS, st.TimeMaxMS = l.P50MS, l.P99MS, l.MaxMS
	for i, d := range drains {
		ms := float64(d) / float64(time.Millisecond)
		st.DrainMaxMS = max(st.DrainMaxMS, ms)
		if i == len(drains)-1 {
			st.DrainMS = ms
		}
	}
	return st
}

// nearestRank is the q quantile of sorted xs (nearest rank).
func nearestRank(xs []uint64, q float64) uint64 {
	if len(xs) == 0 {
		return 0
	}
	k := int(q*float64(len(xs))+0.999999) - 1
	return xs[min(max(k, 0), len(xs)-1)]
}

// DeliveryStats: from an event's append to its delivery to a JetStream
// ordered consumer on ledger.> through the store's client port: from its
// Ledger-Recorded-At header (stamped by the store before it publishes,
// so it includes the append), and from the command's acknowledgement to
// its handler caller (negative when the consumer had it first).
type DeliveryStats struct {
	Delivered     int64   `json:"delivered"`
	FromRecorded  Latency `json:"from_recorded_at"`
	FromAck       Latency `json:"from_ack"`
	BeforeAck     int64   `json:"delivered_before_ack"` // of the events joined with an ack
	Joined        int64   `json:"joined_with_ack"`
	ConsumerURL   string  `json:"consumer_url"`
	MaxDeliveryMS float64 `json:"max_from_recorded_ms"`
}

// consumer is the ordered consumer.
type consumer struct {
	nc   *nats.Conn
	cc   natsjs.ConsumeContext
	url  string
	mu   sync.Mutex
	got  []posTime // delivered: position and when
	rec  *recorder // from Recorded-At
	last uint64    // last position delivered
	errs []string
}

func startConsumer(ctx context.Context, store *jetstream.Store, from uint64) (*consumer, error) {
	url := store.ClientURL()
	if url == "" {
		return nil, errors.New("consumer: the store has no listener")
	}
	nc, err := nats.Connect(url, nats.Name("payoutbench-consumer"))
	if err != nil {
		return nil, fmt.Errorf("consumer: connect to %s: %w", url, err)
	}
	js, err := natsjs.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	oc, err := js.OrderedConsumer(ctx, jetstream.DefaultStreamName, natsjs.OrderedConsumerConfig{
		FilterSubjects: []string{jetstream.DefaultSubjectPrefix + ".>"},
		DeliverPolicy:  natsjs.DeliverByStartSequencePolicy, OptStartSeq: from,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("consumer: ordered consumer on %s: %w", jetstream.DefaultStreamName, err)
	}
	c := &consumer{nc: nc, url: url}
	c.reset()
	c.cc, err = oc.Consume(func(m natsjs.Msg) {
		now := time.Now()
		md, err := m.Metadata()
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			c.errs = append(c.errs, err.Error())
			return
		}
		c.last = md.Sequence.Stream
		c.got = append(c.got, posTime{md.Sequence.Stream, now})
		if at, err := time.Parse(time.RFC3339Nano, m.Headers().Get(jetstream.HeaderRecordedAt)); err == nil {
			c.rec.add(now.Sub(at))
		} else if len(c.errs) < 10 {
			c.errs = append(c.errs, fmt.Sprintf("position %d: %s header: %v", md.Sequence.Stream, jetstream.HeaderRecordedAt, err))
		}
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("consumer: consume: %w", err)
	}
	return c, nil
}

func (c *consumer) close() {
	c.cc.Stop()
	c.nc.Close()
}

// reset starts a new run's figures.
func (c *consumer) reset() {
	c.mu.Lock()
	c.got, c.rec = nil, newRecorder(1_000_000, 11)
	c.mu.Unlock()
}

// waitFor waits until position h was delivered.
func (c *consumer) waitFor(ctx context.Context, h uint64) error {
	start := time.Now()
	for {
		c.mu.Lock()
		last, errs := c.last, c.errs
		c.mu.Unlock()
		if len(errs) > 0 {
			return fmt.Errorf("consumer: %s", errs[0])
		}
		if last >= h {
			return nil
		}
		if time.Since(start) > drainLimit {
			return fmt.Errorf("consumer: at %d of %d after %s", last, h, drainLimit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// stats joins what was delivered since reset with the acknowledgements.
func (c *consumer) stats(acks []posTime) *DeliveryStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &DeliveryStats{Delivered: int64(len(c.got)), FromRecorded: summarize([]*recorder{c.rec}), ConsumerURL: c.url}
	st.MaxDeliveryMS = st.FromRecorded.MaxMS
	ackAt := make(map[uint64]time.Time, len(acks))
	for _, a := range acks {
		ackAt[a.pos] = a.at
	}
	// Deltas may be negative: delivered before the caller saw its ack.
	var deltas []time.Duration
	for _, g := range c.got {
		at, ok := ackAt[g.pos]
		if !ok {
			continue
		}
		d := g.at.Sub(at)
		if d < 0 {
			st.BeforeAck++
		}
		deltas = append(deltas, d)
	}
	st.Joined = int64(len(deltas))
	st.FromAck = signedLatency(deltas)
	return st
}

// signedLatency: percentiles of durations that may be negative.
func signedLatency(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	q := func(p float64) float64 {
		k := int(p*float64(len(ds))+0.999999) - 1
		return ms(ds[min(max(k, 0), len(ds)-1)])
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Latency{Count: int64(len(ds)), Sampled: len(ds), MeanMS: ms(sum / time.Duration(len(ds))),
		P50MS: q(0.5), P90MS: q(0.9), P99MS: q(0.99), P999MS: q(0.999), MaxMS: ms(ds[len(ds)-1])}
}
