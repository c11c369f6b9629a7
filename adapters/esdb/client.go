package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// Calls into the EventStoreDB client, each guarded against its panics.

// readStream reads up to count events of one EventStoreDB stream.
func (s *Store) readStream(ctx context.Context, name string, dir esdb.Direction, from esdb.StreamPosition, count uint64) ([]*esdb.ResolvedEvent, error) {
	var rs *esdb.ReadStream
	err := guard("read stream", func() (err error) {
		rs, err = s.client.ReadStream(ctx, name, esdb.ReadStreamOptions{Direction: dir, From: from}, count)
		return err
	})
	if err != nil {
		return nil, err
	}
	return drain(rs, count)
}

// readAll reads up to count events of $all, system and foreign ones
// included: this client version has no server-side filter for reads.
func (s *Store) readAll(ctx context.Context, dir esdb.Direction, from esdb.AllPosition, count uint64) ([]*esdb.ResolvedEvent, error) {
	var rs *esdb.ReadStream
	err := guard("read $all", func() (err error) {
		rs, err = s.client.ReadAll(ctx, esdb.ReadAllOptions{Direction: dir, From: from}, count)
		return err
	})
	if err != nil {
		return nil, err
	}
	return drain(rs, count)
}

// drain collects a read. The client panics on a read response it does not
// know ("unreachable code"); that becomes an error here, not a crash.
func drain(rs *esdb.ReadStream, count uint64) (out []*esdb.ResolvedEvent, err error) {
	defer rs.Close()
	err = guard("read", func() error {
		for {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if uint64(len(out)) == count {
				return fmt.Errorf("esdb: server sent more than the %d events asked for", count)
			}
			out = append(out, ev)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// guard runs a call into the client and turns a panic into an error.
func guard(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("esdb: %s: the EventStoreDB client panicked: %v", what, r)
		}
	}()
	return f()
}

func pageSize(max int) int {
	switch {
	case max <= 0:
		return defaultPage
	case max > maxPage:
		return maxPage
	}
	return max
}
