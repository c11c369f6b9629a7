package jetstream_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/storetest"
)

// openEmbedded opens a store on a fresh embedded server in a temp dir.
func openEmbedded(t *testing.T, cfg jetstream.Config) *jetstream.Store {
	t.Helper()
	if cfg.DataDir == "" && cfg.URL == "" {
		cfg.DataDir = t.TempDir()
	}
	s, err := jetstream.Open(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		return openEmbedded(t, jetstream.Config{})
	})
}
