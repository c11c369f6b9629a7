// Package jetstream is the default backend of the event store
// (eventstore.Store and eventstore.BatchAppender) on NATS JetStream:
// nats-server v2.15.2 or newer, embedded in the process (Config.DataDir) or
// external (Config.URL), with one JetStream stream ("LEDGER") capturing
// every ledger event.
//
// Subjects. A ledger stream is named "<category>.<id>" (platform and shop,
// "douyin.S1001"); each of its events is published to
// <prefix>.<category>.<id>.<EventType> ("ledger.douyin.S1001.PayoutInitiated"),
// so that consumers filter by platform, shop and event type with subject
// wildcards. Headers carry the event's identity, place and hash chain
// (HeaderStream, ...) plus CloudEvents attributes; the body is the event's
// Data. Decode turns a message back into an eventstore.RecordedEvent.
//
// Writes. The stream's version is the number of messages on
// <prefix>.<category>.<id>.>; its Position the JetStream sequence. An
// append chains its events from the stream's head (cached per stream) and
// sends the first with Nats-Expected-Last-Subject-Sequence: <head's
// sequence> and Nats-Expected-Last-Subject-Sequence-Subject:
// <prefix>.<category>.<id>.>, so the server refuses it (10071, 10164:
// eventstore.ErrWrongExpectedVersion) if anything else was appended since.
// One event is a plain publish; several, or an AppendBatch across streams,
// are one JetStream atomic batch: all stored or none, fsynced once.
//
// Durability. See Sync: the embedded server fsyncs before every
// acknowledgement by default (SyncAlways); SyncInterval trades OS-crash and
// power-loss safety for single-event speed; an external R3 stream adds
// replication.
//
// Safety at start-up. Open creates the stream with file storage, no limits,
// deny-delete and deny-purge, or refuses an existing stream that could lose
// or rewrite events (see Open), and refuses a server older than
// MinServerVersion.
//
// docs/eventstore.md and docs/subjects.md describe the design and the
// consumer's view.
package jetstream
