package reconcile_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/projections/reconcile"
)

// logStore is a read-only eventstore.Store over a fixed log: ReadLedger
// only reads.
type logStore struct {
	eventstore.Store
	log []eventstore.RecordedEvent
}

func (s *logStore) ReadAll(_ context.Context, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	var out []eventstore.RecordedEvent
	for _, r := range s.log {
		if r.Position >= from && len(out) < max {
			out = append(out, r)
		}
	}
	return out, nil
}

// buildLog chains and positions events the way a store would.
func buildLog(t *testing.T, streams []string, payloads []domain.Payload) *logStore {
	t.Helper()
	s := &logStore{}
	heads := map[string]eventstore.RecordedEvent{}
	n := 0
	for i, p := range payloads {
		stream := streams[i]
		req := domain.Request{Now: at(i), Actor: domain.Actor{ID: "op", Role: domain.RoleOperator}}
		evs := domain.NewEvents(stream, "Test", req, func() uuid.UUID { n++; return uuid.NewSHA1(uuid.Nil, []byte{byte(n), byte(n >> 8)}) }, []domain.Payload{p})
		data, err := handler.Encode(evs)
		require.NoError(t, err)
		h := heads[stream]
		rec := eventstore.Chain(stream, h.Version, h.Hash, data)[0]
		rec.Position = uint64(len(s.log) + 1)
		heads[stream] = rec
		s.log = append(s.log, rec)
	}
	return s
}

func TestReadLedgerReturnsSucceededPayoutsVerifyingChains(t *testing.T) {
	store := buildLog(t,
		[]string{"jd.S1", "jd.S1", "1688.S2", "jd.S1", "1688.S2", "jd.S1"},
		[]domain.Payload{
			domain.PayoutProcessing{PayoutID: "P1"},
			domain.PayoutSucceeded{PayoutID: "P1", Amount: d("12.5"), Funding: domain.AccountProceeds},
			domain.PayoutConfirmedByBuyer{PayoutID: "Q1", Amount: d("30"), Funding: domain.AccountReserve},
			domain.PayoutFailed{PayoutID: "P2"},
			domain.PayoutTopUpFailed{PayoutID: "Q2"},
			domain.PayoutSucceeded{PayoutID: "P1", Amount: d("12.5"), Funding: domain.AccountProceeds}, // a second success counts once
		})
	var progress []int
	got, stats, err := reconcile.ReadLedger(context.Background(), store, reconcile.LedgerOptions{Progress: func(n int) { progress = append(progress, n) }})
	require.NoError(t, err)
	require.Equal(t, reconcile.LedgerStats{Events: 6, Streams: 2}, stats)
	require.Equal(t, []int{6}, progress)
	require.Len(t, got, 2)
	require.Equal(t, "P1", got[0].PayoutID)
	require.Equal(t, "jd.S1", got[0].Stream)
	require.Equal(t, "12.5", got[0].Amount.String())
	require.True(t, got[0].At.Equal(at(1)))
	require.Equal(t, uint64(2), got[0].Position)
	require.Equal(t, "PayoutSucceeded", got[0].Event)
	require.Equal(t, "Q1", got[1].PayoutID)
	require.Equal(t, "1688.S2", got[1].Stream)
	require.Equal(t, "PayoutConfirmedByBuyer", got[1].Event)
}

func TestReadLedgerRefusesATamperedLog(t *testing.T) {
	store := buildLog(t, []string{"jd.S1", "jd.S1"}, []domain.Payload{
		domain.PayoutSucceeded{PayoutID: "P1", Amount: d("12.5"), Funding: domain.AccountProceeds},
		domain.PayoutSucceeded{PayoutID: "P2", Amount: d("1"), Funding: domain.AccountProceeds},
	})
	// An auditor's nightmare: the amount of a stored event edited in place.
	store.log[0].Data = []byte(string(store.log[0].Data[:len(store.log[0].Data)-1]) + " ")
	_, _, err := reconcile.ReadLedger(context.Background(), store, reconcile.LedgerOptions{})
	require.ErrorIs(t, err, eventstore.ErrChainBroken)
	var ce *eventstore.ChainError
	require.True(t, errors.As(err, &ce))
	require.Equal(t, "jd.S1", ce.Stream)
	require.Equal(t, uint64(1), ce.Version)

	// A removed event is a gap.
	store = buildLog(t, []string{"jd.S1", "jd.S1", "jd.S1"}, []domain.Payload{
		domain.PayoutProcessing{PayoutID: "P1"},
		domain.PayoutSucceeded{PayoutID: "P1", Amount: d("12.5"), Funding: domain.AccountProceeds},
		domain.PayoutProcessing{PayoutID: "P2"},
	})
	store.log = append(store.log[:1], store.log[2:]...)
	_, _, err = reconcile.ReadLedger(context.Background(), store, reconcile.LedgerOptions{})
	require.ErrorIs(t, err, eventstore.ErrChainBroken)
}

func TestReadLedgerReportsUndecodableEvents(t *testing.T) {
	store := buildLog(t, []string{"jd.S1"}, []domain.Payload{
		domain.PayoutSucceeded{PayoutID: "P1", Amount: d("12.5"), Funding: domain.AccountProceeds},
	})
	// A body that is not JSON, re-chained so that only decoding fails.
	r := &store.log[0]
	r.Data = []byte("not json")
	r.Hash = eventstore.ChainHash(r.PrevHash, r.Stream, r.Version, r.EventData)
	_, _, err := reconcile.ReadLedger(context.Background(), store, reconcile.LedgerOptions{})
	var de *domain.DecodeError
	require.ErrorAs(t, err, &de)
	require.Contains(t, err.Error(), "jd.S1 version 1")
}
