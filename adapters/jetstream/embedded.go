package jetstream

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// embeddedStartTimeout bounds JetStream recovery at start-up (it replays
// the last block of a large store after a crash).
const embeddedStartTimeout = 2 * time.Minute

// writerUser is the in-process connection's user when a listener is open;
// its password is random per process and never leaves it.
const writerUser = "ledger-writer"

// startEmbedded starts an in-process nats-server with JetStream file
// storage under cfg.DataDir, and returns it with the options for the
// store's own in-process connection.
func startEmbedded(cfg Config) (*server.Server, []nats.Option, error) {
	opts := &server.Options{
		ServerName: "payoutledger",
		JetStream:  true,
		StoreDir:   cfg.DataDir,
		SyncAlways: cfg.Sync == SyncAlways,
		NoSigs:     true, // the host process owns signals
		NoLog:      cfg.Logger == nil,
	}
	if cfg.Sync == SyncInterval {
		opts.SyncInterval = cfg.SyncInterval
	}
	var connOpts []nats.Option
	if cfg.ListenAddr == "" {
		opts.DontListen = true
	} else {
		host, portStr, err := net.SplitHostPort(cfg.ListenAddr)
		if err != nil {
			return nil, nil, fmt.Errorf("jetstream: config: ListenAddr %q: %w", cfg.ListenAddr, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port < -1 || port > 65535 {
			return nil, nil, fmt.Errorf("jetstream: config: ListenAddr %q: bad port", cfg.ListenAddr)
		}
		opts.Host, opts.Port = host, port
		password, err := randomSecret()
		if err != nil {
			return nil, nil, err
		}
		// Downstream consumers connect without credentials as a reader that
		// cannot write into the ledger or weaken its stream; only this
		// process knows the writer's password. A reader cannot subscribe to
		// the ledger's subjects with core NATS either: that would show it
		// publishes the stream refused (conflicts, refused batches); it
		// reads through JetStream consumers, which deliver stored events
		// only, to its inbox.
		opts.Users = []*server.User{
			{Username: writerUser, Password: password},
			{Username: "reader", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Deny: readerDenied(cfg)},
				Subscribe: &server.SubjectPermission{Deny: []string{cfg.SubjectPrefix + ".>"}},
			}},
		}
		opts.NoAuthUser = "reader"
		connOpts = append(connOpts, nats.UserInfo(writerUser, password))
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("jetstream: embedded server: %w", err)
	}
	if cfg.Logger != nil {
		s.SetLogger(cfg.Logger, false, false)
	}
	s.Start()
	if !s.ReadyForConnections(embeddedStartTimeout) {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, nil, fmt.Errorf("jetstream: embedded server in %s not ready after %s", cfg.DataDir, embeddedStartTimeout)
	}
	connOpts = append(connOpts, nats.InProcessServer(s))
	return s, connOpts, nil
}

// readerDenied lists what a listener client may not publish: the ledger's
// subjects, and the API calls that change, purge or delete its stream.
func readerDenied(cfg Config) []string {
	denied := []string{cfg.SubjectPrefix + ".>"}
	for _, api := range []string{"UPDATE", "DELETE", "PURGE", "MSG.DELETE", "RESTORE", "CREATE"} {
		denied = append(denied, "$JS.API.STREAM."+api+"."+cfg.StreamName)
	}
	return denied
}

func randomSecret() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("jetstream: random: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
