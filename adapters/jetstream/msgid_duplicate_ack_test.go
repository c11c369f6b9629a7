package jetstream_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/eventstore"
)

// With Nats-Msg-Id on every message, the server answers a publish whose
// event ID is already stored with a "duplicate" ack (plain) or 10201
// (atomic batch) instead of storing it. The store must treat both as a
// conflict and let its idempotency check decide, never as a success.
func TestStoredEventIDIsNeverAcknowledgedAsNew(t *testing.T) {
	t.Run("plain publish at the stream's head", func(t *testing.T) {
		s := openEmbedded(t, jetstream.Config{})
		st := streamID("douyin")
		e := newEvs("PayoutInitiated", 1)
		_, err := s.Append(ctx10(t), st, eventstore.NoStream, e)
		require.NoError(t, err)
		_, err = s.Append(ctx10(t), st, 1, e) // the stored ID again, as version 2
		require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion)
		_, err = s.Append(ctx10(t), st, 1, newEvs("PayoutPaid", 1))
		require.NoError(t, err)
		verifyAll(t, s)
	})
	t.Run("batch re-sent from a stale head (lost ack, other process)", func(t *testing.T) {
		srv := startServer(t, t.TempDir())
		a := openEmbedded(t, jetstream.Config{URL: srv.ClientURL()})
		b := openEmbedded(t, jetstream.Config{URL: srv.ClientURL()})
		st := streamID("douyin")
		_, err := b.Append(ctx10(t), st, eventstore.NoStream, newEvs("PayoutInitiated", 1)) // b caches v1
		require.NoError(t, err)
		batch := newEvs("PayoutPaid", 2)
		want, err := a.Append(ctx10(t), st, 1, batch)
		require.NoError(t, err)
		got, err := b.Append(ctx10(t), st, 1, batch) // b's head is stale: it publishes
		require.NoError(t, err, "a retry of a stored append returns the original result")
		require.Equal(t, want, got)
		verifyAll(t, a)
	})
}
