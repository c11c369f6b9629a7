package jetstream_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/eventstore"
)

// startServer runs a plain JetStream server on a loopback port, the way an
// operator's external server would be, with its store under dir.
func startServer(t *testing.T, dir string) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true,
	})
	require.NoError(t, err)
	s.Start()
	require.True(t, s.ReadyForConnections(10*time.Second))
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// rawJS connects a plain client to url.
func rawJS(t *testing.T, url string) (*nats.Conn, njs.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := njs.New(nc)
	require.NoError(t, err)
	return nc, js
}

// goodStreamConfig is what Open would create, for tests that spoil one
// setting of it.
func goodStreamConfig() njs.StreamConfig {
	return njs.StreamConfig{
		Name: jetstream.DefaultStreamName, Subjects: []string{"ledger.>"},
		Storage: njs.FileStorage, Retention: njs.LimitsPolicy,
		MaxMsgs: -1, MaxBytes: -1, MaxMsgsPerSubject: -1,
		DenyDelete: true, DenyPurge: true, AllowDirect: true, AllowAtomicPublish: true,
	}
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newEv(typ string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: typ, SchemaVersion: 1, Data: []byte(`{"amount":"1.00"}`)}
}

func newEvs(typ string, n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = newEv(typ)
	}
	return out
}

func streamID(category string) string {
	return category + "." + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
}

// readAll pages through the whole log.
func readAll(t *testing.T, s eventstore.Store) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	from := uint64(0)
	for {
		got, err := s.ReadAll(ctx10(t), from, 5000)
		require.NoError(t, err)
		if len(got) == 0 {
			return out
		}
		out = append(out, got...)
		from = got[len(got)-1].Position + 1
	}
}

// verifyAll checks the whole log: every stream's versions run 1..n without
// gaps in global order, each hash chain verifies, no event ID appears
// twice, and Head agrees. It returns the events by stream.
func verifyAll(t *testing.T, s eventstore.Store) map[string][]eventstore.RecordedEvent {
	t.Helper()
	all := readAll(t, s)
	byStream := map[string][]eventstore.RecordedEvent{}
	verifiers := map[string]*eventstore.ChainVerifier{}
	seen := map[uuid.UUID]string{}
	for _, e := range all {
		if where, dup := seen[e.ID]; dup {
			require.FailNow(t, "event ID stored twice", "%s at %s and %s v%d", e.ID, where, e.Stream, e.Version)
		}
		seen[e.ID] = fmt.Sprintf("%s v%d", e.Stream, e.Version)
		v := verifiers[e.Stream]
		if v == nil {
			v = &eventstore.ChainVerifier{Stream: e.Stream}
			verifiers[e.Stream] = v
		}
		require.NoError(t, v.Check(e))
		byStream[e.Stream] = append(byStream[e.Stream], e)
	}
	for st, v := range verifiers {
		ver, h := v.Head()
		gotV, gotH, err := s.Head(ctx10(t), st)
		require.NoError(t, err)
		require.Equal(t, ver, gotV, "Head of %s", st)
		require.Equal(t, h, gotH, "Head of %s", st)
	}
	return byStream
}

// waitClusterReady waits until a cluster's JetStream layer has one meta
// leader that every server knows and follows, and every server answers a
// JetStream API request from a client connected to it alone: a meta
// leader seen through one server is not enough (CI saw an R3 stream
// creation time out right after that weaker check).
func waitClusterReady(t *testing.T, servers []*server.Server) {
	t.Helper()
	js := make([]njs.JetStream, len(servers))
	for i, s := range servers {
		_, js[i] = rawJS(t, s.ClientURL())
	}
	require.Eventually(t, func() bool {
		leaders := 0
		for _, s := range servers {
			if !s.JetStreamIsCurrent() {
				return false
			}
			if s.JetStreamIsLeader() {
				leaders++
			}
		}
		if leaders != 1 {
			return false
		}
		for _, j := range js {
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			_, err := j.AccountInfo(ctx)
			cancel()
			if err != nil {
				return false
			}
		}
		return true
	}, time.Minute, 50*time.Millisecond, "the cluster's JetStream layer did not settle")
}
