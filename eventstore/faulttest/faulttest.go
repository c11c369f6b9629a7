// Package faulttest is the Jepsen-style bookkeeping of the ledger's fault
// tests: clients record what they learned about each command (Ledger), and
// Check compares that with what the store holds afterwards, counting
//
//   - acknowledged: the client was told the command's events are stored;
//   - lost: acknowledged, but its events are not in the log (must be 0);
//   - unknown: the client never learned the outcome (a timeout, a dropped
//     connection); Check resolves each one after the fact: present or
//     absent, both legal;
//   - duplicated: a command whose events are in the log more than once (an
//     idempotency key in two appends, or an event ID twice; must be 0);
//   - rejected but present: the client was told "refused", yet the command's
//     events are in the log (must be 0).
//
// Commands are identified by their idempotency key: the ledger stamps it
// on every event a command produces (domain.Event.IdempotencyKey), so a
// retried command with the same key is the same command. Test-only: it
// reads the whole log into memory.
package faulttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/google/uuid"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// Outcome is what a client learned about one command.
type Outcome int

const (
	// Unknown: no answer (timeout, connection lost, store error).
	Unknown Outcome = iota
	// Acknowledged: the handler returned a Result (fresh or replayed).
	Acknowledged
	// Rejected: the handler returned a domain rejection or a conflict
	// after its retries: nothing of the command was appended.
	Rejected
)

func (o Outcome) String() string {
	switch o {
	case Acknowledged:
		return "acknowledged"
	case Rejected:
		return "rejected"
	}
	return "unknown"
}

// command is what the Ledger knows of one idempotency key.
type command struct {
	stream  string
	outcome Outcome
	events  []uuid.UUID // acknowledged: the event IDs the result named
	first   uint64      // acknowledged: version of the first event
	err     error       // the last error seen, for the report
}

// Ledger records client outcomes. Safe for concurrent use. A key whose
// command was retried keeps its most definite outcome: acknowledged beats
// rejected beats unknown (a retry that is answered resolves the earlier
// timeouts).
type Ledger struct {
	mu   sync.Mutex
	cmds map[string]*command
}

// NewLedger returns an empty Ledger.
func NewLedger() *Ledger { return &Ledger{cmds: map[string]*command{}} }

func (l *Ledger) get(key, stream string) *command {
	if key == "" {
		panic("faulttest: a command without an idempotency key cannot be accounted for")
	}
	c := l.cmds[key]
	if c == nil {
		c = &command{stream: stream}
		l.cmds[key] = c
	}
	return c
}

// Record files the answer of one attempt of the command with idempotency
// key key on stream: err == nil is an acknowledgement (res names the
// events), a rejection or handler.ErrConflict is a definite refusal, any
// other error leaves the outcome unknown.
func (l *Ledger) Record(key, stream string, res handler.Result, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.get(key, stream)
	if err == nil {
		c.outcome, c.err = Acknowledged, nil
		c.events = c.events[:0]
		for _, e := range res.Events {
			c.events = append(c.events, e.ID)
		}
		if len(res.Events) > 0 {
			c.first = res.Events[0].Version
		}
		return
	}
	c.err = err
	if c.outcome == Acknowledged {
		return
	}
	if Definite(err) {
		c.outcome = Rejected
	}
}

// Definite reports whether err is a definite refusal (nothing appended): a
// domain rejection or handler.ErrConflict.
func Definite(err error) bool {
	var rej *domain.Rejection
	return errors.As(err, &rej) || errors.Is(err, handler.ErrConflict)
}

// Counts are the Jepsen-style totals.
type Counts struct {
	Commands       int // keys recorded
	Acknowledged   int
	Lost           int // acknowledged, not in the log
	Unknown        int // never answered
	UnknownPresent int // of those, in the log (the append happened)
	UnknownAbsent  int // of those, not in the log
	Rejected       int
	// RejectedPresent: refused, yet in the log.
	RejectedPresent int
	// Duplicated: keys whose events are in the log in more than one append,
	// plus event IDs stored twice.
	Duplicated int
	Events     int // events in the log
}

// Report is Check's answer: the counts, and one line per anomaly (lost,
// duplicated, rejected but present, broken chain), at most MaxAnomalies.
type Report struct {
	Counts
	Anomalies []string
}

// MaxAnomalies bounds Report.Anomalies.
const MaxAnomalies = 100

// OK reports whether nothing acknowledged was lost, nothing was stored
// twice, nothing refused was stored and every chain verified.
func (r Report) OK() bool {
	return r.Lost == 0 && r.Duplicated == 0 && r.RejectedPresent == 0 && len(r.Anomalies) == 0
}

func (r Report) String() string {
	return fmt.Sprintf("commands %d: acknowledged %d, lost %d, unknown %d (present %d, absent %d), rejected %d (present %d), duplicated %d; %d events in the log",
		r.Commands, r.Acknowledged, r.Lost, r.Unknown, r.UnknownPresent, r.UnknownAbsent, r.Rejected, r.RejectedPresent, r.Duplicated, r.Events)
}

// run is one contiguous group of events of a key in one stream: one append.
type run struct {
	stream      string
	first, last uint64
	ids         []uuid.UUID
}

// Check reads the whole log of store and accounts for every recorded
// command. It also verifies every stream's hash chain (a break is an
// anomaly). Errors: the store's, or an event that cannot be decoded.
func (l *Ledger) Check(ctx context.Context, store eventstore.Store) (Report, error) {
	var rep Report
	anomaly := func(format string, a ...any) {
		if len(rep.Anomalies) < MaxAnomalies {
			rep.Anomalies = append(rep.Anomalies, fmt.Sprintf(format, a...))
		}
	}
	runs := map[string][]*run{} // by idempotency key
	ids := map[uuid.UUID]string{}
	verifiers := map[string]*eventstore.ChainVerifier{}
	for from := uint64(1); ; {
		recs, err := store.ReadAll(ctx, from, 5000)
		if err != nil {
			return rep, fmt.Errorf("faulttest: read from %d: %w", from, err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			from = r.Position + 1
			rep.Events++
			where := fmt.Sprintf("%s v%d (position %d)", r.Stream, r.Version, r.Position)
			if prev, dup := ids[r.ID]; dup {
				rep.Duplicated++
				anomaly("event %s stored twice: %s and %s", r.ID, prev, where)
			}
			ids[r.ID] = where
			v := verifiers[r.Stream]
			if v == nil {
				v = &eventstore.ChainVerifier{Stream: r.Stream}
				verifiers[r.Stream] = v
			}
			if err := v.Check(r); err != nil {
				anomaly("%v", err)
				v.Reset(r.Version, r.Hash)
			}
			ev, err := handler.Decode(r)
			if err != nil {
				return rep, fmt.Errorf("faulttest: decode %s: %w", where, err)
			}
			key := ev.IdempotencyKey
			if key == "" {
				continue
			}
			rs := runs[key]
			if n := len(rs); n > 0 && rs[n-1].stream == r.Stream && rs[n-1].last+1 == r.Version {
				rs[n-1].last = r.Version
				rs[n-1].ids = append(rs[n-1].ids, r.ID)
				continue
			}
			runs[key] = append(rs, &run{stream: r.Stream, first: r.Version, last: r.Version, ids: []uuid.UUID{r.ID}})
		}
	}
	for key, rs := range runs {
		if len(rs) > 1 {
			rep.Duplicated++
			anomaly("idempotency key %q appended %d times: first at %s v%d, again at %s v%d", key, len(rs), rs[0].stream, rs[0].first, rs[1].stream, rs[1].first)
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make([]string, 0, len(l.cmds))
	for k := range l.cmds {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rep.Commands = len(keys)
	for _, key := range keys {
		c := l.cmds[key]
		rs := runs[key]
		present := len(rs) > 0
		switch c.outcome {
		case Acknowledged:
			rep.Acknowledged++
			if !present || rs[0].stream != c.stream || !slices.Equal(rs[0].ids, c.events) || (c.first != 0 && rs[0].first != c.first) {
				rep.Lost++
				got := "nothing"
				if present {
					got = fmt.Sprintf("%s v%d..v%d %v", rs[0].stream, rs[0].first, rs[0].last, rs[0].ids)
				}
				anomaly("acknowledged %q (%s v%d %v) lost: the log holds %s", key, c.stream, c.first, c.events, got)
			}
		case Rejected:
			rep.Rejected++
			if present {
				rep.RejectedPresent++
				anomaly("rejected %q (%v) is in the log at %s v%d", key, c.err, rs[0].stream, rs[0].first)
			}
		default:
			rep.Unknown++
			if present {
				rep.UnknownPresent++
			} else {
				rep.UnknownAbsent++
			}
		}
	}
	return rep, nil
}
