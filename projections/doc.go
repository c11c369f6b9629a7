// Package projections is the read side of the ledger: read models built
// only from the events, rebuildable at will and provably equal to a fresh
// replay.
//
// A Runtime feeds the events of an event store (Source: catch-up with
// ReadAll, then live with Subscribe) in global order to projections, each
// from its own checkpoint. A projection (Projector) is a deterministic
// in-memory model that records the rows each event changes; the runtime
// commits the changed rows together with the new checkpoint to a
// ReadModelStore in one atomic step, every Config.BatchEvents events or
// Config.BatchInterval, and when it stops. Events at or below a
// checkpoint are skipped, so an event seen twice changes nothing. A
// projection that fails stops alone at the failing position
// (*ProjectionError) and resumes from its checkpoint after the fix
// (Runtime.Resume or a restart). Status reports each projection's
// position, the head of the log and the lag. Positions are checked: a
// hole in dense positions is waited for (ErrGap if it never fills), a
// different event at a position already passed stops the reader
// (ErrOrder), and a read model ahead of the log does not start
// (ErrAheadOfLog).
//
// Several versions of a projection can be registered: a new version is
// built beside the serving one from position 0 and takes over, in the
// runtime and in the store (ReadModelStore.Activate), once it has caught
// up (blue/green); AsVersion rebuilds the same logic that way.
//
// The projections: QuotaUsage, DailyTotals, DuplicateWarnings,
// PayoutRecords, Approvals, FundingBalances (All returns their
// factories); View queries the one serving a projection. The stores:
// EmbeddedStore (default: snapshot and append-only log files per
// projection), MemoryStore, and the PostgreSQL store in
// projections/postgres; all pass projections/storetest.
//
// docs/projections.md describes the design, every table and column, and
// payoutctl replay and verify.
package projections
