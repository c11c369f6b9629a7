// Package esdb is the EventStoreDB / KurrentDB backend of eventstore.Store,
// through github.com/EventStore/EventStore-Client-Go/v4/esdb (gRPC).
//
// How the ledger maps onto EventStoreDB (docs/eventstore-esdb.md has the
// full story and what was and was not verified):
//
//   - One EventStoreDB stream per ledger stream: "<category>.<id>" becomes
//     Options.StreamPrefix + "<category>.<id>" ("ledger-douyin.S1001" with
//     the default prefix). The prefix is stripped on the way back, so the
//     mapping is reversible, and it is what tells ledger events from
//     everything else in $all.
//   - An event's body is the EventStoreDB event data (content type JSON);
//     its schema version, stream version, hash chain and recorded-at time
//     travel in a small JSON metadata document (see metadata.go).
//   - Version = EventStoreDB stream revision + 1; Position = the event's
//     commit position in $all.
//   - The hash chain is computed only by eventstore.Chain; the adapter keeps
//     a bounded cache of stream heads so that an append usually needs no
//     extra read.
//
// EventStoreDB cannot append to several streams atomically through this
// client, so Store does not implement eventstore.BatchAppender.
package esdb
