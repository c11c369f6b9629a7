package esdb

import (
	"testing"

	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/storetest"
)

// TestStoreOnFakeServer runs the whole conformance suite through the real
// client library against the in-process fake of the Streams API
// (fakeserver_test.go). It checks the adapter's logic and its use of the
// client; it does not check EventStoreDB itself: TestConformance does,
// when PAYOUT_ESDB_URL names a server.
func TestStoreOnFakeServer(t *testing.T) {
	f := newFakeServer(t)
	storetest.Run(t, func(t *testing.T) eventstore.Store { return openFake(t, f, Options{}) })
}
