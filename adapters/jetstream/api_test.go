package jetstream

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/eventstore"
)

func TestJetStreamErrorCodesMapToTheContract(t *testing.T) {
	for code, want := range map[int]error{
		10071: eventstore.ErrWrongExpectedVersion, // wrong last sequence
		10164: eventstore.ErrWrongExpectedVersion, // wrong last sequence, subject in flight (R3)
		10054: eventstore.ErrInvalidAppend,        // message exceeds maximum
	} {
		err := mapAPIError(&APIError{Status: 400, Code: code, Description: "x"})
		require.True(t, errors.Is(err, want), "code %d: %v", code, err)
		var apiErr *APIError
		require.True(t, errors.As(err, &apiErr), "code %d keeps the server's error", code)
		require.Equal(t, code, apiErr.Code)
	}
	other := &APIError{Status: 503, Code: 10008, Description: "unavailable"}
	err := mapAPIError(other)
	require.Same(t, other, err)
	require.False(t, errors.Is(err, eventstore.ErrWrongExpectedVersion))
}
