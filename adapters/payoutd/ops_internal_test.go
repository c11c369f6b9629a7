package payoutd

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/adapters/metrics"
	"github.com/payoutledger/ledger/eventstore"
)

// The metrics wrapper around the store must not hide what group commit
// reads from it: atomic batches, and whether each append is fsynced (with
// interval sync the handler appends command by command).
func TestInstrumentedStoreKeepsBatchesAndFsyncReport(t *testing.T) {
	for _, sync := range []jetstream.Sync{jetstream.SyncAlways, jetstream.SyncInterval} {
		t.Run(string(sync), func(t *testing.T) {
			st, err := jetstream.Open(context.Background(), jetstream.Config{DataDir: t.TempDir(), Sync: sync})
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			in := newServiceMetrics(metrics.NewRegistry()).instrument(st)
			_, ok := in.(eventstore.BatchAppender)
			require.True(t, ok, "BatchAppender")
			r, ok := in.(eventstore.FsyncReporter)
			require.True(t, ok, "FsyncReporter")
			require.Equal(t, sync == jetstream.SyncAlways, r.FsyncsEachAppend())
		})
	}
}
