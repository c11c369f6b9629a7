package faulttest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/faulttest"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// TestCheckCountsEveryOutcome: each count moves for the case it names, on
// the real embedded store, so that a fault test that reports zeros means
// it.
func TestCheckCountsEveryOutcome(t *testing.T) {
	ctx := context.Background()
	store, err := jetstream.Open(ctx, jetstream.Config{DataDir: t.TempDir()})
	require.NoError(t, err)
	defer store.Close()
	clock := func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) }
	h := handler.New(store, handler.Config{Clock: clock})
	ref := domain.Ref{ShopRef: domain.ShopRef{Platform: domain.PlatformJD, ShopID: "f1"}}
	admin := domain.Actor{ID: "admin", Role: domain.RoleMain}
	l := faulttest.NewLedger()
	do := func(key string, a domain.Actor, c domain.Command) (handler.Result, error) {
		res, err := h.Handle(ctx, c, handler.Meta{Actor: a, IdempotencyKey: key})
		l.Record(key, ref.Stream(), res, err)
		return res, err
	}
	_, err = do("register", domain.Actor{ID: "ops", Role: domain.RoleOperator}, domain.RegisterShop{Ref: ref, Name: "shop",
		MainAccount: "admin", EntityType: "enterprise", CooperationMode: "sop", AfterSalesSelfService: true})
	require.NoError(t, err)
	_, err = do("wallet", admin, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountWallet})
	require.NoError(t, err)
	topUp := domain.TopUp{Ref: ref, Kind: domain.AccountWallet, Amount: decimal.RequireFromString("5")}
	_, err = do("top-up", admin, topUp)
	require.NoError(t, err)
	// A retry answered from the first outcome is the same command.
	res, err := do("top-up", admin, topUp)
	require.NoError(t, err)
	require.True(t, res.Replayed)
	// A refusal: nothing appended.
	_, err = do("refused", admin, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountWallet})
	var rej *domain.Rejection
	require.ErrorAs(t, err, &rej)
	// Two timeouts: one whose append happened, one whose did not.
	l.Record("timeout-present", ref.Stream(), handler.Result{}, context.DeadlineExceeded)
	_, err = h.Handle(ctx, domain.TopUp{Ref: ref, Kind: domain.AccountWallet, Amount: decimal.RequireFromString("1")},
		handler.Meta{Actor: admin, IdempotencyKey: "timeout-present"})
	require.NoError(t, err)
	l.Record("timeout-absent", ref.Stream(), handler.Result{}, errors.New("connection lost"))

	rep, err := l.Check(ctx, store)
	require.NoError(t, err)
	require.Equal(t, faulttest.Counts{Commands: 6, Acknowledged: 3, Unknown: 2, UnknownPresent: 1, UnknownAbsent: 1,
		Rejected: 1, Events: 4}, rep.Counts, rep.String())
	require.True(t, rep.OK())

	// An acknowledgement the log does not back is lost; a refused command
	// in the log, a key appended twice, are anomalies.
	l.Record("ghost", ref.Stream(), handler.Result{Events: []domain.Event{{ID: uuid.Must(uuid.NewV7()), Version: 9}}}, nil)
	l.Record("timeout-present", ref.Stream(), handler.Result{}, &domain.Rejection{Code: "x"})
	v, _, err := store.Head(ctx, ref.Stream())
	require.NoError(t, err)
	// The "wallet" command's event (version 2) appended a second time
	// under a new event ID, as a retry that bypassed idempotency would.
	recs, err := store.ReadStream(ctx, ref.Stream(), 2, 1)
	require.NoError(t, err)
	again := recs[0].EventData
	again.ID = uuid.Must(uuid.NewV7())
	_, err = store.Append(ctx, ref.Stream(), eventstore.ExpectedVersion(v), []eventstore.EventData{again})
	require.NoError(t, err)
	rep, err = l.Check(ctx, store)
	require.NoError(t, err)
	require.Equal(t, 1, rep.Lost, rep.String())
	require.Equal(t, 1, rep.RejectedPresent, rep.String())
	require.Equal(t, 1, rep.Duplicated, rep.String())
	require.False(t, rep.OK())
	require.Len(t, rep.Anomalies, 3, "%v", rep.Anomalies)
}
