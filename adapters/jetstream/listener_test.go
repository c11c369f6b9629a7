package jetstream_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/eventstore"
)

func TestListenerConsumersReadButCannotWrite(t *testing.T) {
	s := openEmbedded(t, jetstream.Config{ListenAddr: "127.0.0.1:-1"})
	url := s.ClientURL()
	require.NotEmpty(t, url)
	nc, js := rawJS(t, url) // no credentials: a downstream consumer

	shop := streamID("douyin")
	other := streamID("kuaishou")
	_, err := s.Append(ctx10(t), shop, eventstore.NoStream, []eventstore.EventData{newEv("PayoutInitiated"), newEv("PayoutPaid")})
	require.NoError(t, err)
	_, err = s.Append(ctx10(t), other, eventstore.NoStream, []eventstore.EventData{newEv("PayoutInitiated")})
	require.NoError(t, err)

	// Filter by platform and event type, through JetStream: a core
	// subscription to the ledger's subjects is refused.
	core, err := nc.SubscribeSync("ledger.>")
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	cons, err := js.OrderedConsumer(ctx10(t), jetstream.DefaultStreamName, njs.OrderedConsumerConfig{FilterSubjects: []string{"ledger.douyin.*.PayoutInitiated"}})
	require.NoError(t, err)
	m, err := cons.Next(njs.FetchMaxWait(5 * time.Second))
	require.NoError(t, err)
	md, err := m.Metadata()
	require.NoError(t, err)
	e, err := jetstream.Decode(m.Subject(), md.Sequence.Stream, m.Headers(), m.Data())
	require.NoError(t, err)
	require.Equal(t, shop, e.Stream)
	require.Equal(t, "PayoutInitiated", e.Type)
	require.Equal(t, uint64(1), e.Version)

	// No writes into the ledger, no weakening or removing its stream. A
	// denied request gets no reply, hence the short deadlines.
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	_, err = js.Publish(short(), "ledger."+shop+".PayoutPaid", []byte(`{}`))
	require.Error(t, err)
	require.NoError(t, nc.Publish("ledger."+shop+".PayoutPaid", []byte(`{}`)), "a core publish fails asynchronously")
	require.NoError(t, nc.Flush())
	require.Error(t, js.DeleteStream(short(), jetstream.DefaultStreamName))
	st, err := js.Stream(ctx10(t), jetstream.DefaultStreamName)
	require.NoError(t, err, "reading stream info is allowed")
	require.Error(t, st.Purge(short()))
	require.Error(t, st.DeleteMsg(short(), 1))
	cfg := st.CachedInfo().Config
	cfg.MaxAge = time.Hour
	_, err = js.UpdateStream(short(), cfg)
	require.Error(t, err)
	require.Len(t, readAll(t, s), 3, "the log is unchanged")
	_, err = s.Append(ctx10(t), shop, 2, newEvs("PayoutClosed", 1))
	require.NoError(t, err)
	_, err = core.NextMsg(300 * time.Millisecond)
	require.ErrorIs(t, err, nats.ErrTimeout, "no core delivery of ledger subjects to a reader")
	st, err = js.Stream(ctx10(t), jetstream.DefaultStreamName)
	require.NoError(t, err)
	require.Zero(t, st.CachedInfo().Config.MaxAge)
}

// Why consumers must read through JetStream: a core NATS subscription sees
// every publish, including appends the stream refused (a conflict) and the
// staged messages of a refused atomic batch. docs/subjects.md warns.
func TestCoreSubscribersAlsoSeeRefusedAppends(t *testing.T) {
	srv := startServer(t, t.TempDir())
	a := openEmbedded(t, jetstream.Config{URL: srv.ClientURL()})
	b := openEmbedded(t, jetstream.Config{URL: srv.ClientURL()})
	nc, _ := rawJS(t, srv.ClientURL())
	sub, err := nc.SubscribeSync("ledger.>")
	require.NoError(t, err)
	require.NoError(t, nc.Flush())

	shop := streamID("douyin")
	_, err = a.Append(ctx10(t), shop, eventstore.NoStream, newEvs("PayoutInitiated", 1)) // a caches v1
	require.NoError(t, err)
	_, err = b.Append(ctx10(t), shop, 1, newEvs("PayoutConfirmed", 1))
	require.NoError(t, err)
	refused := newEvs("PayoutPaid", 2) // an atomic batch, refused at commit
	_, err = a.Append(ctx10(t), shop, 1, refused)
	require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion)

	seen := map[string]bool{}
	for range 4 {
		m, err := sub.NextMsg(5 * time.Second)
		require.NoError(t, err)
		seen[m.Header.Get(jetstream.HeaderEventID)] = true
	}
	require.True(t, seen[refused[0].ID.String()] && seen[refused[1].ID.String()], "the core subscriber received the refused events")
	require.Len(t, readAll(t, a), 2, "the stream stored only the accepted ones")
}

func TestForeignMessageFailsLoudly(t *testing.T) {
	srv := startServer(t, t.TempDir())
	s := openEmbedded(t, jetstream.Config{URL: srv.ClientURL()})
	shop := streamID("douyin")
	_, err := s.Append(ctx10(t), shop, eventstore.NoStream, newEvs("PayoutInitiated", 1))
	require.NoError(t, err)
	// Someone with full rights on an external server publishes directly.
	_, js := rawJS(t, srv.ClientURL())
	_, err = js.PublishMsg(ctx10(t), &nats.Msg{Subject: "ledger." + shop + ".PayoutPaid", Header: nats.Header{"Ledger-Stream": {shop}}, Data: []byte(`{}`)})
	require.NoError(t, err)

	_, err = s.ReadAll(ctx10(t), 0, 100)
	require.ErrorIs(t, err, jetstream.ErrMalformed)
	_, err = s.ReadStream(ctx10(t), shop, 1, 100)
	require.ErrorIs(t, err, jetstream.ErrMalformed)
	_, err = s.Append(ctx10(t), shop, 1, newEvs("PayoutPaid", 1))
	require.ErrorIs(t, err, jetstream.ErrMalformed, "no append chained on a head it cannot read")
	err = s.Subscribe(ctx10(t), 0, func(eventstore.RecordedEvent) error { return nil })
	require.ErrorIs(t, err, jetstream.ErrMalformed)
}
