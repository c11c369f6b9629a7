package handler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// Schema evolution end to end (issue 3, point 5): an event stored at v1 in
// the real embedded JetStream store is read back, after its type changed to
// v2, as v2.
//
// The test changes the global event registry, which is start-up only: it
// must not run in parallel (it does not call t.Parallel, so no parallel
// test runs beside it). Each run registers a type name of its own
// (TestSchemaEvolved1, 2, ... with -count), so that the registrations of
// one run never meet another run's or another test's events.

var (
	schemaRuns  atomic.Int64
	evolvedName string // this run's event type name
)

// evolvedV1 is the event as first written.
type evolvedV1 struct {
	Amount string `json:"amount"`
	Order  string `json:"order"`
}

func (evolvedV1) EventType() string { return evolvedName }

// evolvedV2 is the same event after a change: amount renamed total, and a
// currency that v1 events did not carry (they were all CNY).
type evolvedV2 struct {
	Total    string `json:"total"`
	Order    string `json:"order"`
	Currency string `json:"currency"`
}

func (evolvedV2) EventType() string { return evolvedName }

// upcastEvolved1to2 reads a v1 body as v2.
func upcastEvolved1to2(in json.RawMessage) (json.RawMessage, error) {
	var v1 evolvedV1
	if err := json.Unmarshal(in, &v1); err != nil {
		return nil, err
	}
	return json.Marshal(evolvedV2{Total: v1.Amount, Order: v1.Order, Currency: "CNY"})
}

func openSchemaStore(t *testing.T, dir string) eventstore.Store {
	t.Helper()
	s, err := jetstream.Open(context.Background(), jetstream.Config{DataDir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSchemaEvolutionV1StoredReadAsV2(t *testing.T) {
	evolvedName = fmt.Sprintf("TestSchemaEvolved%d", schemaRuns.Add(1))
	require.False(t, slices.Contains(domain.EventTypes(), evolvedName))
	const stream = "test.schema1"
	ctx := context.Background()
	dir := t.TempDir()
	req := domain.Request{
		Now:            time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		Actor:          domain.Actor{ID: "ops", Role: domain.RoleOperator},
		IdempotencyKey: "k-1",
		CorrelationID:  "corr-1",
	}

	// The program as first shipped: the type at v1.
	domain.RegisterEvent[evolvedV1]()
	require.Equal(t, 1, domain.CurrentSchema(evolvedName))
	store := openSchemaStore(t, dir)
	v1Events := domain.NewEvents(stream, "TestCommand", req, domain.NewV7, []domain.Payload{evolvedV1{Amount: "12.50", Order: "O1"}})
	data, err := handler.Encode(v1Events)
	require.NoError(t, err)
	require.Equal(t, 1, data[0].SchemaVersion)
	_, err = store.Append(ctx, stream, eventstore.NoStream, data)
	require.NoError(t, err)
	recs, err := store.ReadStream(ctx, stream, 1, 10)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	ev, err := handler.Decode(recs[0])
	require.NoError(t, err)
	require.Equal(t, evolvedV1{Amount: "12.50", Order: "O1"}, ev.Data, "read back at v1 before the change")
	require.NoError(t, store.Close())

	// The next release: the type is v2, with its upcaster. It reads the
	// log the first one wrote.
	domain.RegisterEvent[evolvedV2]()
	domain.RegisterUpcaster(evolvedName, 1, upcastEvolved1to2)
	require.Equal(t, 2, domain.CurrentSchema(evolvedName))
	store = openSchemaStore(t, dir)

	recs, err = store.ReadStream(ctx, stream, 1, 10)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, 1, recs[0].SchemaVersion, "the stored event is not rewritten")
	ev, err = handler.Decode(recs[0])
	require.NoError(t, err)
	require.Equal(t, evolvedV2{Total: "12.50", Order: "O1", Currency: "CNY"}, ev.Data)
	require.Equal(t, 2, ev.SchemaVersion)
	require.Equal(t, v1Events[0].ID, ev.ID)
	require.Equal(t, evolvedName, ev.Type)
	require.True(t, req.Now.Equal(ev.OccurredAt))
	require.Equal(t, req.Actor, ev.Actor)
	require.Equal(t, "k-1", ev.IdempotencyKey)
	require.Equal(t, "corr-1", ev.CorrelationID)
	require.Equal(t, uint64(1), ev.Version)
	var chain eventstore.ChainVerifier
	chain.Stream = stream
	require.NoError(t, chain.Check(recs[0]), "upcasting on read leaves the hash chain intact")

	// New events of the type are written at v2, and read as they are
	// (not passed through the v1 upcaster, which would lose the total).
	v2Events := domain.NewEvents(stream, "TestCommand", req, domain.NewV7, []domain.Payload{evolvedV2{Total: "3.10", Order: "O2", Currency: "EUR"}})
	require.Equal(t, 2, v2Events[0].SchemaVersion)
	data, err = handler.Encode(v2Events)
	require.NoError(t, err)
	_, err = store.Append(ctx, stream, 1, data)
	require.NoError(t, err)

	// A body from a future release (schema 3) is refused, not guessed at.
	future, err := domain.EncodeBody(domain.Event{Type: evolvedName, Data: evolvedV2{Total: "1", Order: "O3", Currency: "CNY"}})
	require.NoError(t, err)
	_, err = store.Append(ctx, stream, 2, []eventstore.EventData{{ID: uuid.Must(uuid.NewV7()), Type: evolvedName, SchemaVersion: 3, Data: future}})
	require.NoError(t, err)

	recs, err = store.ReadStream(ctx, stream, 2, 10)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	require.Equal(t, 2, recs[0].SchemaVersion, "a new event is stored at schema 2")
	ev, err = handler.Decode(recs[0])
	require.NoError(t, err)
	require.Equal(t, evolvedV2{Total: "3.10", Order: "O2", Currency: "EUR"}, ev.Data)
	require.Equal(t, 2, ev.SchemaVersion)

	require.Equal(t, 3, recs[1].SchemaVersion)
	_, err = handler.Decode(recs[1])
	var de *domain.DecodeError
	require.True(t, errors.As(err, &de), "a schema from the future: %T %v", err, err)
	require.Equal(t, evolvedName, de.Type)
	require.Equal(t, 3, de.Schema)
	require.Contains(t, de.Error(), "unsupported schema version (current 2)")
}
