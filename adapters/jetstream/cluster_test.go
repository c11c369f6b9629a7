package jetstream_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/storetest"
)

// startCluster runs a 3-node JetStream cluster on loopback ports and
// returns its client URLs once a meta leader is elected.
func startCluster(t *testing.T) string {
	t.Helper()
	const n = 3
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ports[i] = l.Addr().(*net.TCPAddr).Port
		require.NoError(t, l.Close())
	}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	var urls []string
	var servers []*server.Server
	for i := range n {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "ledger-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		require.NoError(t, err)
		s.Start()
		t.Cleanup(func() {
			s.Shutdown()
			s.WaitForShutdown()
		})
		require.True(t, s.ReadyForConnections(10*time.Second))
		urls = append(urls, s.ClientURL())
		servers = append(servers, s)
	}
	waitClusterReady(t, servers)
	return strings.Join(urls, ",")
}

// TestReplicatedR3 runs the conformance suite against an R3 stream on a
// 3-node cluster (stores share the cluster, as processes would), and checks
// that the stream is replicated.
func TestReplicatedR3(t *testing.T) {
	url := startCluster(t)
	first := openEmbedded(t, jetstream.Config{URL: url, Replicas: 3})
	info, err := jetstream.StreamOf(first).Info(ctx10(t))
	require.NoError(t, err)
	require.Equal(t, 3, info.Config.Replicas)
	require.NotNil(t, info.Cluster)
	require.Len(t, info.Cluster.Replicas, 2, "a leader and two replicas")

	storetest.Run(t, func(t *testing.T) eventstore.Store {
		return openEmbedded(t, jetstream.Config{URL: url, Replicas: 3})
	})
}
