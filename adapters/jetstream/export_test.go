package jetstream

import (
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// ServerOf exposes the embedded server to tests (nil in external mode).
func ServerOf(s *Store) *server.Server { return s.srv }

// VersionAtLeast exposes the version comparison to tests.
var VersionAtLeast = versionAtLeast

// StreamOf exposes the JetStream stream handle to tests.
func StreamOf(s *Store) jetstream.Stream { return s.stream }
