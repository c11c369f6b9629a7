// Package timers fires the ledger's durable timers (DESIGN.md point 6):
// the 1688 buyer-confirmation card (3 days), the PDD top-up window (1
// hour), the PDD account card (72 hours), the PDD 7-day close and the
// refund to the merchant due 3 to 5 business days after it, and the Taobao
// collection card (72 hours). docs/timers.md has the table.
//
// The log is the truth: the pending set is derived from the events (the
// event that opens a window adds a timer with the due time the event
// carries, the event that ends the window removes it), so it survives a
// restart by reading the log again, and what fell due while the service was
// down fires on start, in due-time order.
//
// A due timer fires as an ordinary command through the command handler,
// sent by the system actor "timer" with an idempotency key derived from the
// timer itself (kind, stream, payout or card ID, due time). Any number of
// schedulers over one store (several payoutd processes, or a restart that
// fires again) therefore append one event per timer: the second command is
// answered from the first one's events. A rejection because the state moved
// on (state.illegal_transition: the buyer confirmed a moment earlier) makes
// the timer moot and drops it; a conflict or a store error keeps it and
// retries it with backoff.
package timers
