package main

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/payoutledger/ledger/adapters/jetstream"
)

// startTwin starts an embedded nats-server with the options the store
// gives its own (adapters/jetstream/embedded.go: JetStream file storage
// under dir, sync_always or the default sync interval, no listener) and
// returns an in-process connection to it, like the store's. The raw
// baseline on it then pays what the ledger's connection pays, no TCP;
// the price is that it is another server, on the same disk, idle while
// the ledger is measured.
func startTwin(dir string, sync jetstream.Sync) (*server.Server, *nats.Conn, error) {
	s, err := server.NewServer(&server.Options{
		ServerName: "payoutbench-twin",
		JetStream:  true,
		StoreDir:   dir,
		SyncAlways: sync == jetstream.SyncAlways,
		NoSigs:     true,
		NoLog:      true,
		DontListen: true,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("twin server: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(time.Minute) {
		s.Shutdown()
		return nil, nil, fmt.Errorf("twin server in %s not ready", dir)
	}
	nc, err := nats.Connect("", nats.InProcessServer(s), nats.Name("payoutbench-raw"))
	if err != nil {
		s.Shutdown()
		return nil, nil, fmt.Errorf("twin server: connect: %w", err)
	}
	return s, nc, nil
}
