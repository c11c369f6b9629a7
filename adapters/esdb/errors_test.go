package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/eventstore"
)

func TestExpectedVersionMapping(t *testing.T) {
	cases := []struct {
		in   eventstore.ExpectedVersion
		want esdb.ExpectedRevision
	}{
		{eventstore.NoStream, esdb.NoStream{}},
		{eventstore.Any, esdb.Any{}},
		{1, esdb.Revision(0)},
		{2, esdb.Revision(1)},
		{1000, esdb.Revision(999)},
		{1 << 62, esdb.Revision(1<<62 - 1)},
	}
	for _, c := range cases {
		got, err := expectedRevision(c.in)
		require.NoError(t, err, "%d", c.in)
		require.Equal(t, c.want, got, "%d", c.in)
	}
	for _, bad := range []eventstore.ExpectedVersion{-2, -1000} {
		_, err := expectedRevision(bad)
		require.True(t, errors.Is(err, eventstore.ErrInvalidAppend), "%d", bad)
	}
	// What Append sends after a head of n events.
	require.Equal(t, esdb.ExpectedRevision(esdb.NoStream{}), revisionFor(0))
	require.Equal(t, esdb.ExpectedRevision(esdb.Revision(6)), revisionFor(7))
}

// codeErr imitates *esdb.Error for codes no test can make the client
// produce without a server in the state that causes them.
type codeErr esdb.ErrorCode

func (c codeErr) Code() esdb.ErrorCode { return esdb.ErrorCode(c) }
func (c codeErr) Error() string        { return fmt.Sprintf("code %d", int(c)) }

func TestClassifyTable(t *testing.T) {
	cases := []struct {
		code esdb.ErrorCode
		want error // nil: passed through, no sentinel
	}{
		{esdb.ErrorCodeWrongExpectedVersion, eventstore.ErrWrongExpectedVersion},
		{esdb.ErrorCodeResourceNotFound, eventstore.ErrStreamNotFound},
		{esdb.ErrorCodeStreamDeleted, eventstore.ErrStreamNotFound},
		{esdb.ErrorCodeConnectionClosed, eventstore.ErrClosed},
		{esdb.ErrorCodeUnknown, nil},
		{esdb.ErrorCodeUnsupportedFeature, nil},
		{esdb.ErrorCodeDeadlineExceeded, nil},
		{esdb.ErrorCodeUnauthenticated, nil},
		{esdb.ErrorCodeResourceAlreadyExists, nil},
		{esdb.ErrorCodeAccessDenied, nil},
		{esdb.ErrorCodeParsing, nil},
		{esdb.ErrorCodeInternalClient, nil},
		{esdb.ErrorCodeInternalServer, nil},
		{esdb.ErrorCodeNotLeader, nil},
		{esdb.ErrorAborted, nil},
		{esdb.ErrorUnavailable, nil},
	}
	sentinels := []error{eventstore.ErrWrongExpectedVersion, eventstore.ErrStreamNotFound, eventstore.ErrClosed, eventstore.ErrInvalidAppend}
	for _, c := range cases {
		for _, in := range []error{codeErr(c.code), fmt.Errorf("could not send append request. Reason: %w", codeErr(c.code))} {
			got := classify(in)
			require.True(t, errors.Is(got, in), "the client's error stays in the chain")
			for _, s := range sentinels {
				require.Equal(t, s == c.want, errors.Is(got, s), "code %d, sentinel %v: %v", c.code, s, got)
			}
		}
	}
	require.NoError(t, classify(nil))
	plain := errors.New("plain")
	require.Equal(t, plain, classify(plain))
	require.Equal(t, context.Canceled, classify(context.Canceled))
	// The client's own FromError wraps a foreign error as Unknown: no sentinel.
	unknown, _ := esdb.FromError(plain)
	require.False(t, errors.Is(classify(unknown), eventstore.ErrWrongExpectedVersion))
}

// The client's errors made by the client itself, the way it makes them in
// production: through its gRPC code against the fake server, and by a
// closed client. Nothing here is constructed by hand.
func TestClassifyErrorsTheClientMakes(t *testing.T) {
	f := newFakeServer(t)
	cfg, err := esdb.ParseConnectionString(f.url())
	require.NoError(t, err)
	cfg.Logger = esdb.NoopLogging()
	client, err := esdb.NewClient(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	data := esdb.EventData{EventID: uuid.New(), EventType: "A", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}

	_, err = client.AppendToStream(ctx, "ledger-x.1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(5)}, data)
	var e *esdb.Error
	require.True(t, errors.As(err, &e))
	require.Equal(t, esdb.ErrorCodeWrongExpectedVersion, e.Code())
	require.True(t, errors.Is(classify(err), eventstore.ErrWrongExpectedVersion), "%v", err)

	readErr := func(stream string) error {
		rs, err := client.ReadStream(ctx, stream, esdb.ReadStreamOptions{}, 10)
		require.NoError(t, err)
		defer rs.Close()
		_, err = rs.Recv()
		require.NotErrorIs(t, err, io.EOF)
		return err
	}
	err = readErr("ledger-missing.1")
	require.True(t, errors.As(err, &e))
	require.Equal(t, esdb.ErrorCodeResourceNotFound, e.Code())
	require.True(t, errors.Is(classify(err), eventstore.ErrStreamNotFound), "%v", err)

	f.tombstone("ledger-gone.1")
	err = readErr("ledger-gone.1")
	require.True(t, errors.As(err, &e))
	require.Equal(t, esdb.ErrorCodeStreamDeleted, e.Code())
	require.True(t, errors.Is(classify(err), eventstore.ErrStreamNotFound), "%v", err)

	_, err = client.AppendToStream(ctx, "ledger-gone.1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, data)
	require.True(t, errors.As(err, &e))
	require.Equal(t, esdb.ErrorCodeStreamDeleted, e.Code())
	require.True(t, errors.Is(classify(err), eventstore.ErrStreamNotFound), "%v", err)

	require.NoError(t, client.Close())
	_, err = client.AppendToStream(ctx, "ledger-x.1", esdb.AppendToStreamOptions{}, data)
	require.True(t, errors.As(err, &e))
	require.Equal(t, esdb.ErrorCodeConnectionClosed, e.Code())
	require.True(t, errors.Is(classify(err), eventstore.ErrClosed), "%v", err)
}
