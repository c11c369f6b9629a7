package esdb

import (
	"errors"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/payoutledger/ledger/eventstore"
)

// esdbCoded is what *esdb.Error offers. Matching the method rather than the
// type lets errors.As find the client's error however deeply the client
// wrapped it: the client's own esdb.FromError only looks at the outermost
// error, and AppendToStream wraps some failures in fmt.Errorf("...%w").
type esdbCoded interface{ Code() esdb.ErrorCode }

// classify maps a failure of the EventStoreDB client onto the store's
// sentinels, once, here:
//
//	ErrorCodeWrongExpectedVersion               -> eventstore.ErrWrongExpectedVersion
//	ErrorCodeResourceNotFound, ErrorCodeStreamDeleted -> eventstore.ErrStreamNotFound
//	ErrorCodeConnectionClosed                   -> eventstore.ErrClosed
//
// The client's error stays in the chain (both are wrapped with %w), so a
// caller can still errors.As it for the details. Anything else is returned
// as it is: an unmapped code is an operating error (server down, access
// denied, not leader), not a domain answer.
func classify(err error) error {
	var coded esdbCoded
	if err == nil || !errors.As(err, &coded) {
		return err
	}
	switch coded.Code() {
	case esdb.ErrorCodeWrongExpectedVersion:
		return fmt.Errorf("%w: %w", eventstore.ErrWrongExpectedVersion, err)
	case esdb.ErrorCodeResourceNotFound, esdb.ErrorCodeStreamDeleted:
		return fmt.Errorf("%w: %w", eventstore.ErrStreamNotFound, err)
	case esdb.ErrorCodeConnectionClosed:
		// The client also reports this, for good, once endpoint discovery
		// has failed: it then never reconnects, so the store is as good as
		// closed and must be reopened.
		return fmt.Errorf("%w: %w", eventstore.ErrClosed, err)
	}
	return err
}

// isCode reports whether err carries the client's error code c.
func isCode(err error, c esdb.ErrorCode) bool {
	var coded esdbCoded
	return errors.As(err, &coded) && coded.Code() == c
}

// expectedRevision maps the contract's expected version (events the stream
// must hold) onto EventStoreDB's expected revision (0-based revision of the
// stream's last event):
//
//	eventstore.NoStream (0) -> esdb.NoStream{}
//	eventstore.Any (-1)     -> esdb.Any{}
//	n > 0                   -> esdb.Revision(n-1)
//
// Errors: eventstore.ErrInvalidAppend below Any. Append itself never sends
// Any (see Store.Append); the mapping is complete for tooling and tests.
func expectedRevision(v eventstore.ExpectedVersion) (esdb.ExpectedRevision, error) {
	switch {
	case v == eventstore.Any:
		return esdb.Any{}, nil
	case v == eventstore.NoStream:
		return esdb.NoStream{}, nil
	case v > 0:
		return esdb.Revision(uint64(v) - 1), nil
	}
	return nil, fmt.Errorf("%w: expected version %d", eventstore.ErrInvalidAppend, v)
}

// revisionFor is the expected revision of an append after a head of the
// given version (events in the stream).
func revisionFor(version uint64) esdb.ExpectedRevision {
	if version == 0 {
		return esdb.NoStream{}
	}
	return esdb.Revision(version - 1)
}
