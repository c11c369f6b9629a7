package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/payoutledger/ledger/projections"
	"github.com/payoutledger/ledger/projections/pgtest"
	"github.com/payoutledger/ledger/projections/postgres"
	"github.com/payoutledger/ledger/projections/storetest"
)

// The same conformance suite as the embedded store, on a fresh database
// per subtest; every Opener call connects anew, as a restarted process.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dsn := pgtest.NewDatabase(t)
		return func() projections.ReadModelStore {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s, err := postgres.Open(ctx, postgres.Config{DSN: dsn})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
	})
}
