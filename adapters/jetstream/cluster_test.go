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
//
// The route ports are found free and then closed before the servers bind
// them, so another test process can take one in between: a server that
// cannot bind its route port is never ready. Such a start is torn down
// and tried again on fresh ports (the test failed 1 in ~20 runs of the
// parallel make test before this).
func startCluster(t *testing.T) string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		servers, ok := tryStartCluster(t)
		if ok {
			t.Cleanup(func() {
				for _, s := range servers {
					s.Shutdown()
					s.WaitForShutdown()
				}
			})
			waitClusterReady(t, servers)
			var urls []string
			for _, s := range servers {
				urls = append(urls, s.ClientURL())
			}
			return strings.Join(urls, ",")
		}
		for _, s := range servers {
			s.Shutdown()
			s.WaitForShutdown()
		}
		require.Less(t, attempt, 3, "a 3-node cluster never became ready for connections")
		t.Logf("cluster start %d: a node was not ready (route port taken?); again on fresh ports", attempt)
	}
}

// tryStartCluster starts the nodes; ok is false if one is not ready for
// connections (servers holds those started, to shut down).
func tryStartCluster(t *testing.T) (servers []*server.Server, ok bool) {
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
	for i := range n {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "ledger-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		require.NoError(t, err)
		s.Start()
		servers = append(servers, s)
		if !s.ReadyForConnections(10 * time.Second) {
			return servers, false
		}
	}
	return servers, true
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
