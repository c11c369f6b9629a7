// Package integrity checks a stopped (or not yet serving) event store
// before the ledger serves it: payoutd runs Check at start-up and refuses
// to serve while it reports anything; payoutctl can run the full mode as
// an audit.
//
// What it can see, and why each check exists (docs/faults.md has the
// measured behaviour of nats-server v2.15.2 on a damaged disk):
//
//   - The heads recorded outside the store (eventstore/tailguard): a log
//     that lost its tail, or an older copy of the log restored in place,
//     is a shorter log whose chains verify perfectly; only the recorded
//     heads show it (KindTruncated, or KindAltered once the short log was
//     appended to again).
//   - Dense positions: the ledger's stream never deletes, so every
//     position from 1 to the end of the log holds an event. A position the
//     store skips is an event it cannot read (a damaged message: KindGap),
//     whether the store passes over it or refuses to read past it (an
//     error with a MissingPositions() (from, to uint64) method, as
//     adapters/jetstream's GapError).
//   - The hash chains (eventstore.ChainVerifier): a changed event
//     (KindAltered) or a removed one (KindGap, with its stream and version).
//   - Heads against the log: a store whose Head of a stream is below the
//     events it returns for that stream cannot read the stream's last event
//     and would let a writer append at a version that already exists
//     (KindTruncated).
//   - Decoding: an event the ledger cannot decode (KindUndecodable) stops
//     the shop it belongs to; better to know at start-up.
//
// Quick mode (the default) costs a few reads per recorded stream plus the
// last TailEvents positions of the log: damage inside the log, below the
// last TailEvents events of a stream, is found by Full mode only, which
// reads everything.
package integrity

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/eventstore/tailguard"
)

// Kind classifies a Finding. The values are stable: logs and alerts match
// on them.
type Kind string

const (
	// KindTruncated: a stream holds fewer events than it should: fewer than
	// its recorded head, or the store's Head of it is below events the log
	// returns for it (its last event cannot be read).
	KindTruncated Kind = "truncated"
	// KindAltered: an event's content does not match its hash, or the event
	// at a recorded head is not the recorded one (the log was rewritten).
	KindAltered Kind = "altered"
	// KindGap: a position or a stream version is missing: the store holds
	// an event there that it cannot return, or the event was removed.
	KindGap Kind = "gap"
	// KindUndecodable: the store returns an event the ledger cannot decode,
	// or cannot return the event at a position at all (a read error).
	KindUndecodable Kind = "undecodable"
)

// Mode selects how much Check reads.
type Mode int

const (
	// Quick verifies the recorded heads, the last TailEvents events of each
	// recorded stream, and the last TailEvents positions of the log.
	Quick Mode = iota
	// Full reads the whole log from position 1: every chain from version 1,
	// every position, every event decoded, every stream's head.
	Full
)

func (m Mode) String() string {
	if m == Full {
		return "full"
	}
	return "quick"
}

// Defaults of Options.
const (
	DefaultTailEvents  = 100
	DefaultPageSize    = 1000
	DefaultParallel    = 8
	DefaultMaxFindings = 1000
	// maxUnreadable bounds how many consecutive positions Check tries one
	// by one after a read error before it gives up with an error: a store
	// that fails everywhere is not damaged here and there, it is down.
	maxUnreadable = 1000
)

// Options tune Check. Zero values take the defaults.
type Options struct {
	Mode Mode
	// TailEvents: in Quick mode, how many events at the end of each
	// recorded stream, and positions at the end of the log, are verified
	// (default 100).
	TailEvents int
	// PageSize: events per read (default 1000).
	PageSize int
	// Parallel: streams checked concurrently in Quick mode (default 8).
	Parallel int
	// MaxFindings: Check stops once it has this many findings (default
	// 1000); Report.Truncated says so.
	MaxFindings int
	// Decode decodes an event the way the ledger will; an error is a
	// KindUndecodable finding. Default: handler.Decode.
	Decode func(eventstore.RecordedEvent) error
}

func (o Options) withDefaults() Options {
	if o.TailEvents <= 0 {
		o.TailEvents = DefaultTailEvents
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.MaxFindings <= 0 {
		o.MaxFindings = DefaultMaxFindings
	}
	if o.Decode == nil {
		o.Decode = func(r eventstore.RecordedEvent) error {
			_, err := handler.Decode(r)
			return err
		}
	}
	return o
}

// Finding is one place where the store does not hold what it should.
type Finding struct {
	Kind     Kind
	Stream   string // "" when only the position is known (a position gap)
	Version  uint64 // first version affected; 0 when not known
	Position uint64 // global position; 0 when not known
	Detail   string
}

// String says where and what, for logs and operators.
func (f Finding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "integrity: %s", f.Kind)
	if f.Stream != "" {
		fmt.Fprintf(&b, " stream %q", f.Stream)
	}
	if f.Version != 0 {
		fmt.Fprintf(&b, " version %d", f.Version)
	}
	if f.Position != 0 {
		fmt.Fprintf(&b, " position %d", f.Position)
	}
	if f.Detail != "" {
		b.WriteString(": " + f.Detail)
	}
	return b.String()
}

// Report is what Check found.
type Report struct {
	Mode     Mode
	Findings []Finding // sorted by stream, version, position, kind
	// Truncated: Check stopped at Options.MaxFindings findings.
	Truncated bool
	Heads     int    // recorded heads verified
	Streams   int    // streams whose events were read
	Events    int    // events read
	Last      uint64 // last position of the log seen (0: empty log)
}

// OK reports whether nothing was found.
func (r Report) OK() bool { return len(r.Findings) == 0 }

// Err returns nil when r is OK, else an error wrapping ErrDamaged that
// names the first finding and the count.
func (r Report) Err() error {
	if r.OK() {
		return nil
	}
	return fmt.Errorf("%w: %d findings (%s check), first: %s", ErrDamaged, len(r.Findings), r.Mode, r.Findings[0])
}

// ErrDamaged: Report.Err's error; the ledger must not serve the store.
var ErrDamaged = errors.New("integrity: the event store is damaged")

// Check verifies store against heads (the recorded heads, tailguard's
// FileStore.Load; nil or empty when none were recorded, which leaves a
// lost tail undetectable) as opts.Mode says, and returns what it found.
//
// Errors: ctx's, eventstore.ErrClosed, or a store that fails to answer
// (maxUnreadable consecutive read errors, or a read that timed out
// readRetries+1 times in a row); damage is never an error but a finding.
func Check(ctx context.Context, store eventstore.Store, heads map[string]tailguard.Head, opts Options) (Report, error) {
	c := &checker{store: patientStore{Store: store, backoff: retryBackoff}, opts: opts.withDefaults()}
	c.rep.Mode = c.opts.Mode
	var err error
	if c.opts.Mode == Full {
		err = c.full(ctx, heads)
	} else {
		err = c.quick(ctx, heads)
	}
	if err != nil {
		return Report{}, err
	}
	slices.SortFunc(c.rep.Findings, func(a, b Finding) int {
		return cmp.Or(strings.Compare(a.Stream, b.Stream), cmp.Compare(a.Version, b.Version),
			cmp.Compare(a.Position, b.Position), strings.Compare(string(a.Kind), string(b.Kind)))
	})
	return c.rep, nil
}

type checker struct {
	store eventstore.Store
	opts  Options

	mu  sync.Mutex
	rep Report
}

func (c *checker) add(f Finding) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.rep.Findings) >= c.opts.MaxFindings {
		c.rep.Truncated = true
		return
	}
	c.rep.Findings = append(c.rep.Findings, f)
}

func (c *checker) saturated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rep.Truncated
}

// fatal: errors that say the store, not the data, is the problem.
func fatal(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, eventstore.ErrClosed)
}

// chainFinding turns a chain break into a finding.
func chainFinding(ce *eventstore.ChainError, position uint64) Finding {
	kind := KindAltered
	if strings.Contains(ce.Reason, "expected version") || strings.Contains(ce.Reason, "removed") || strings.Contains(ce.Reason, "not found") ||
		strings.Contains(ce.Reason, "cannot be read") {
		kind = KindGap
	}
	return Finding{Kind: kind, Stream: ce.Stream, Version: ce.Version, Position: position, Detail: ce.Reason}
}

// missingPositions is an error a store returns instead of passing over
// positions it holds but cannot return (adapters/jetstream.GapError).
type missingPositions interface {
	error
	MissingPositions() (from, to uint64)
}

// readFailure turns an error of a stream read into a finding, or returns
// it when it is not about the data.
func readFailure(err error, stream string, version uint64) (Finding, error) {
	if fatal(err) {
		return Finding{}, err
	}
	var ce *eventstore.ChainError
	if errors.As(err, &ce) {
		return chainFinding(ce, 0), nil
	}
	return Finding{Kind: KindUndecodable, Stream: stream, Version: version, Detail: "read: " + err.Error()}, nil
}

// checkHead compares one recorded head with the store.
func (c *checker) checkHead(ctx context.Context, stream string, rec tailguard.Head) error {
	version, _, err := c.store.Head(ctx, stream)
	if err != nil {
		f, err := readFailure(err, stream, rec.Version)
		if err != nil {
			return fmt.Errorf("integrity: head of %s: %w", stream, err)
		}
		c.add(f)
		return nil
	}
	if version < rec.Version {
		c.add(Finding{Kind: KindTruncated, Stream: stream, Version: version + 1,
			Detail: fmt.Sprintf("recorded head at version %d, the store holds %d", rec.Version, version)})
		return nil
	}
	recs, err := c.store.ReadStream(ctx, stream, rec.Version, 1)
	if err != nil {
		f, err := readFailure(err, stream, rec.Version)
		if err != nil {
			return fmt.Errorf("integrity: read %s at %d: %w", stream, rec.Version, err)
		}
		c.add(f)
		return nil
	}
	if len(recs) == 0 || recs[0].Version != rec.Version {
		c.add(Finding{Kind: KindGap, Stream: stream, Version: rec.Version,
			Detail: fmt.Sprintf("the store reports version %d but returns no event at %d", version, rec.Version)})
		return nil
	}
	e := recs[0]
	switch {
	case e.Hash != rec.Hash:
		c.add(Finding{Kind: KindAltered, Stream: stream, Version: rec.Version, Position: e.Position,
			Detail: fmt.Sprintf("recorded hash %s, the store holds %s", rec.Hash, e.Hash)})
	case eventstore.ChainHash(e.PrevHash, stream, e.Version, e.EventData) != e.Hash:
		c.add(Finding{Kind: KindAltered, Stream: stream, Version: rec.Version, Position: e.Position,
			Detail: "event content does not match its hash"})
	}
	return nil
}

// checkTail verifies the last TailEvents events of a stream: each event
// hashes to its hash, they chain to each other, and each decodes.
func (c *checker) checkTail(ctx context.Context, stream string) error {
	version, _, err := c.store.Head(ctx, stream)
	if err != nil {
		f, err := readFailure(err, stream, 0)
		if err != nil {
			return fmt.Errorf("integrity: head of %s: %w", stream, err)
		}
		c.add(f)
		return nil
	}
	if version == 0 {
		return nil // reported by checkHead when a head was recorded
	}
	from := uint64(1)
	if n := uint64(c.opts.TailEvents); version > n {
		from = version - n + 1
	}
	var v *eventstore.ChainVerifier
	next := from
	for next <= version {
		recs, err := c.store.ReadStream(ctx, stream, next, min(c.opts.PageSize, int(version-next+1)))
		if err != nil {
			f, err := readFailure(err, stream, next)
			if err != nil {
				return fmt.Errorf("integrity: read %s from %d: %w", stream, next, err)
			}
			c.add(f)
			return nil
		}
		if len(recs) == 0 {
			c.add(Finding{Kind: KindGap, Stream: stream, Version: next,
				Detail: fmt.Sprintf("the store reports version %d but returns nothing from %d", version, next)})
			return nil
		}
		for _, e := range recs {
			c.count(e)
			if v == nil {
				// The window's first event: its predecessor is not read,
				// so check that the event hashes to its own hash.
				v = &eventstore.ChainVerifier{Stream: stream}
				if e.Version != next {
					c.add(Finding{Kind: KindGap, Stream: stream, Version: next, Position: e.Position,
						Detail: fmt.Sprintf("read version %d", e.Version)})
					return nil
				}
				v.Reset(e.Version-1, e.PrevHash)
			}
			if err := v.Check(e); err != nil {
				var ce *eventstore.ChainError
				if !errors.As(err, &ce) {
					return err
				}
				c.add(chainFinding(ce, e.Position))
				return nil
			}
			c.decode(e)
		}
		next = recs[len(recs)-1].Version + 1
	}
	return nil
}

func (c *checker) count(eventstore.RecordedEvent) {
	c.mu.Lock()
	c.rep.Events++
	c.mu.Unlock()
}

func (c *checker) decode(e eventstore.RecordedEvent) {
	if err := c.opts.Decode(e); err != nil {
		c.add(Finding{Kind: KindUndecodable, Stream: e.Stream, Version: e.Version, Position: e.Position, Detail: err.Error()})
	}
}

// quick: the recorded heads and the tail of each recorded stream, in
// parallel, then the tail of the log.
func (c *checker) quick(ctx context.Context, heads map[string]tailguard.Head) error {
	streams := make([]string, 0, len(heads))
	for s := range heads {
		streams = append(streams, s)
	}
	sort.Strings(streams)
	c.rep.Heads = len(streams)
	work := make(chan string)
	errs := make(chan error, c.opts.Parallel)
	var wg sync.WaitGroup
	for range c.opts.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for st := range work {
				if err := c.checkHead(ctx, st, heads[st]); err != nil {
					errs <- err
					return
				}
				if err := c.checkTail(ctx, st); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var failed error
feed:
	for _, st := range streams {
		select {
		case work <- st:
		case failed = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if failed == nil {
		select {
		case failed = <-errs:
		default:
		}
	}
	if failed != nil {
		return failed
	}
	c.rep.Streams = len(streams)

	last, err := c.lastPosition(ctx)
	if err != nil {
		return err
	}
	from := uint64(1)
	if n := uint64(c.opts.TailEvents); last > n {
		from = last - n + 1
	}
	return c.scan(ctx, from)
}

// full: every position from 1, then every stream's head, then the
// recorded heads.
func (c *checker) full(ctx context.Context, heads map[string]tailguard.Head) error {
	if err := c.scan(ctx, 1); err != nil {
		return err
	}
	streams := make([]string, 0, len(heads))
	for s := range heads {
		streams = append(streams, s)
	}
	sort.Strings(streams)
	c.rep.Heads = len(streams)
	for _, st := range streams {
		if c.saturated() {
			return nil
		}
		if err := c.checkHead(ctx, st, heads[st]); err != nil {
			return err
		}
	}
	return nil
}

// lastPosition finds the log's last readable position (0: empty) with
// O(log n) one-event reads: ReadAll(p, 1) returns the first event at or
// after p.
func (c *checker) lastPosition(ctx context.Context) (uint64, error) {
	// atOrAfter returns the position of the first event at or after p (p
	// itself when the read fails there: something is stored but unreadable,
	// which the scan reports), or 0 when there is none.
	atOrAfter := func(p uint64) (uint64, error) {
		recs, err := c.store.ReadAll(ctx, p, 1)
		if err != nil {
			if fatal(err) {
				return 0, fmt.Errorf("integrity: read position %d: %w", p, err)
			}
			return p, nil
		}
		if len(recs) == 0 {
			return 0, nil
		}
		return recs[0].Position, nil
	}
	lo, err := atOrAfter(1)
	if err != nil || lo == 0 {
		return 0, err
	}
	// Gallop: lo holds an event; find a hi that has none at or after it.
	step := uint64(1)
	var hi uint64
	for {
		p, err := atOrAfter(lo + step)
		if err != nil {
			return 0, err
		}
		if p == 0 {
			hi = lo + step
			break
		}
		lo, step = p, step*2
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		p, err := atOrAfter(mid)
		if err != nil {
			return 0, err
		}
		if p == 0 {
			hi = mid
		} else {
			lo = p
		}
	}
	return lo, nil
}

// scan reads the log from position from to its end: positions must be
// dense, each stream's events must chain (from the first one read, which
// must hash to itself when the scan does not start at 1), each event must
// decode, and every stream's Head must end where its events do.
func (c *checker) scan(ctx context.Context, from uint64) error {
	verifiers := map[string]*eventstore.ChainVerifier{}
	lastPos := map[string]uint64{}
	next := from // the position the next event must have
	unreadable := 0
	for pos := from; !c.saturated(); {
		recs, err := c.store.ReadAll(ctx, pos, c.opts.PageSize)
		if err != nil {
			if fatal(err) {
				return fmt.Errorf("integrity: read from position %d: %w", pos, err)
			}
			// The store names the positions it cannot return: a gap.
			var gap missingPositions
			if errors.As(err, &gap) {
				if first, last := gap.MissingPositions(); first == pos && last >= first {
					detail := fmt.Sprintf("position %d is stored but the store cannot return it: %v", first, err)
					if last > first {
						detail = fmt.Sprintf("positions %d to %d are stored but the store cannot return them: %v", first, last, err)
					}
					c.add(Finding{Kind: KindGap, Position: first, Detail: detail})
					pos = last + 1
					next = pos
					continue
				}
			}
			// Find the position that fails: read one at a time.
			one, err1 := c.store.ReadAll(ctx, pos, 1)
			if err1 != nil {
				if fatal(err1) {
					return fmt.Errorf("integrity: read position %d: %w", pos, err1)
				}
				if unreadable++; unreadable > maxUnreadable {
					return fmt.Errorf("integrity: %d consecutive positions from %d cannot be read: %w", unreadable, pos-uint64(unreadable)+1, err1)
				}
				if pos > next {
					c.add(Finding{Kind: KindGap, Position: next, Detail: fmt.Sprintf("positions %d to %d missing", next, pos-1)})
				}
				c.add(Finding{Kind: KindUndecodable, Position: pos, Detail: "read: " + err1.Error()})
				pos++
				next = pos
				continue
			}
			recs = one
		}
		unreadable = 0
		if len(recs) == 0 {
			break
		}
		for _, e := range recs {
			c.count(e)
			if e.Position != next {
				if e.Position < next {
					return fmt.Errorf("integrity: the store returned position %d after %d", e.Position, next-1)
				}
				detail := fmt.Sprintf("position %d missing (the store holds an event there it cannot return, or it was removed)", next)
				if e.Position-next > 1 {
					detail = fmt.Sprintf("positions %d to %d missing (the store skips them)", next, e.Position-1)
				}
				c.add(Finding{Kind: KindGap, Position: next, Detail: detail})
			}
			next = e.Position + 1
			c.rep.Last = e.Position
			v := verifiers[e.Stream]
			if v == nil {
				v = &eventstore.ChainVerifier{Stream: e.Stream}
				if from > 1 {
					v.Reset(e.Version-1, e.PrevHash) // its predecessor is below the window
				}
				verifiers[e.Stream] = v
			}
			if err := v.Check(e); err != nil {
				var ce *eventstore.ChainError
				if !errors.As(err, &ce) {
					return err
				}
				c.add(chainFinding(ce, e.Position))
				v.Reset(e.Version, e.Hash) // report each break once, then go on
			}
			lastPos[e.Stream] = e.Position
			c.decode(e)
		}
		pos = next
	}
	if c.opts.Mode == Full {
		c.rep.Streams = len(verifiers)
	}
	streams := make([]string, 0, len(verifiers))
	for st := range verifiers {
		streams = append(streams, st)
	}
	sort.Strings(streams)
	for _, st := range streams {
		if c.saturated() {
			return nil
		}
		seen, _ := verifiers[st].Head()
		version, _, err := c.store.Head(ctx, st)
		if err != nil {
			f, err := readFailure(err, st, seen)
			if err != nil {
				return fmt.Errorf("integrity: head of %s: %w", st, err)
			}
			c.add(f)
			continue
		}
		switch {
		case version < seen:
			c.add(Finding{Kind: KindTruncated, Stream: st, Version: version + 1, Position: lastPos[st],
				Detail: fmt.Sprintf("the store's head is version %d but the log holds version %d: the stream's last event cannot be read, and an append would reuse version %d", version, seen, version+1)})
		case version > seen:
			c.add(Finding{Kind: KindGap, Stream: st, Version: seen + 1,
				Detail: fmt.Sprintf("the store's head is version %d but the log returns events up to version %d", version, seen)})
		}
	}
	return nil
}
