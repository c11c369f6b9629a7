package jetstream_test

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/eventstore"
)

// benchBody is about the size of a payout event.
var benchBody = bytes.Repeat([]byte("x"), 200)

// benchStore opens an embedded store and, on the same server, a raw
// in-process client with its own stream RAW (same storage and sync) for
// the baselines.
func benchStore(b *testing.B, sync jetstream.Sync) (*jetstream.Store, *nats.Conn, njs.JetStream) {
	b.Helper()
	s, err := jetstream.Open(b.Context(), jetstream.Config{DataDir: b.TempDir(), Sync: sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	nc, err := nats.Connect("", nats.InProcessServer(jetstream.ServerOf(s)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := njs.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	_, err = js.CreateStream(b.Context(), njs.StreamConfig{Name: "RAW", Subjects: []string{"raw.>"}, Storage: njs.FileStorage, AllowAtomicPublish: true})
	if err != nil {
		b.Fatal(err)
	}
	return s, nc, js
}

func perSecond(b *testing.B, events int) {
	b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendOne: Store.Append of one event (plain publish with the
// expected-sequence headers, chained, ~1 KB of headers) against a raw
// JetStream publish of the same body.
func BenchmarkAppendOne(b *testing.B) {
	for _, sync := range []jetstream.Sync{jetstream.SyncAlways, jetstream.SyncInterval} {
		b.Run("store/"+string(sync), func(b *testing.B) {
			s, _, _ := benchStore(b, sync)
			const streams = 64
			versions := make([]uint64, streams)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				k := i % streams
				e := newEv("PayoutInitiated")
				e.Data = benchBody
				r, err := s.Append(b.Context(), fmt.Sprintf("bench.s%d", k), eventstore.ExpectedVersion(versions[k]), []eventstore.EventData{e})
				if err != nil {
					b.Fatal(err)
				}
				versions[k] = r.LastVersion
			}
			perSecond(b, 1)
		})
		b.Run("raw/"+string(sync), func(b *testing.B) {
			_, _, js := benchStore(b, sync)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := js.Publish(b.Context(), "raw.s"+strconv.Itoa(i%64), benchBody); err != nil {
					b.Fatal(err)
				}
			}
			perSecond(b, 1)
		})
	}
}

// BenchmarkAppendBatch: Store.AppendBatch of n events (10 events per
// request, each request its own stream with its expected version) against
// a raw atomic batch of n messages.
func BenchmarkAppendBatch(b *testing.B) {
	for _, sync := range []jetstream.Sync{jetstream.SyncAlways, jetstream.SyncInterval} {
		for _, n := range []int{100, 500, 1000} {
			b.Run(fmt.Sprintf("store/%s/%d", sync, n), func(b *testing.B) {
				s, _, _ := benchStore(b, sync)
				reqs := make([]eventstore.AppendRequest, n/10)
				for i := range reqs {
					reqs[i].Stream = fmt.Sprintf("bench.b%d", i)
				}
				b.ResetTimer()
				for b.Loop() {
					for i := range reqs {
						evs := newEvs("PayoutInitiated", 10)
						for k := range evs {
							evs[k].Data = benchBody
						}
						reqs[i].Events = evs
					}
					res, err := s.AppendBatch(b.Context(), reqs)
					if err != nil {
						b.Fatal(err)
					}
					for i := range reqs {
						reqs[i].Expected = eventstore.ExpectedVersion(res[i].LastVersion)
					}
				}
				perSecond(b, n)
			})
			b.Run(fmt.Sprintf("raw/%s/%d", sync, n), func(b *testing.B) {
				_, nc, _ := benchStore(b, sync)
				b.ResetTimer()
				for b.Loop() {
					rawAtomicBatch(b, nc, n)
				}
				perSecond(b, n)
			})
		}
	}
}

func rawAtomicBatch(b *testing.B, nc *nats.Conn, n int) {
	id := nuid.Next()
	for i := 1; i <= n; i++ {
		m := nats.NewMsg("raw.b" + strconv.Itoa(i%100))
		m.Data = benchBody
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i))
		if i < n {
			if err := nc.PublishMsg(m); err != nil {
				b.Fatal(err)
			}
			continue
		}
		m.Header.Set("Nats-Batch-Commit", "1")
		resp, err := nc.RequestMsgWithContext(b.Context(), m)
		if err != nil {
			b.Fatal(err)
		}
		if bytes.Contains(resp.Data, []byte(`"error"`)) {
			b.Fatalf("batch refused: %s", resp.Data)
		}
	}
}

// BenchmarkReadAll: replay speed of ReadAll pages of 10,000 events.
func BenchmarkReadAll(b *testing.B) {
	s, _, _ := benchStore(b, jetstream.SyncInterval)
	const total = 50_000
	reqs := make([]eventstore.AppendRequest, 100)
	for done := 0; done < total; done += 1000 {
		for i := range reqs {
			evs := newEvs("PayoutInitiated", 10)
			for k := range evs {
				evs[k].Data = benchBody
			}
			reqs[i] = eventstore.AppendRequest{Stream: fmt.Sprintf("bench.r%d", i), Expected: eventstore.ExpectedVersion(done / 100), Events: evs}
		}
		if _, err := s.AppendBatch(b.Context(), reqs); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		n := 0
		for from := uint64(1); ; {
			got, err := s.ReadAll(b.Context(), from, 10_000)
			if err != nil {
				b.Fatal(err)
			}
			if len(got) == 0 {
				break
			}
			n += len(got)
			from = got[len(got)-1].Position + 1
		}
		if n != total {
			b.Fatalf("read %d of %d", n, total)
		}
	}
	perSecond(b, total)
}
