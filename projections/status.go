package projections

import (
	"context"
	"sort"
)

// Status is what an operator sees of one projection instance: where it
// is, where the log is, how far behind, and why it stopped if it did.
type Status struct {
	Projection string `json:"projection"`
	Version    int    `json:"version"`
	// Active: queries (and, in PostgreSQL, the plain views) are served by
	// this instance.
	Active bool `json:"active"`
	// Building: a new version being built beside the active one
	// (blue/green); it takes over once it has caught up.
	Building bool  `json:"building"`
	State    State `json:"state"`
	// Applied is the position of the last event applied to the model:
	// what queries see.
	Applied uint64 `json:"applied"`
	// Checkpoint is the position committed with the rows: where a
	// restart resumes.
	Checkpoint uint64 `json:"checkpoint"`
	// Head is the last position of the log as last observed (delivered,
	// or probed every Config.HeadInterval).
	Head uint64 `json:"head"`
	// Behind is Head - Applied: events behind when positions are dense
	// (JetStream), a position distance otherwise.
	Behind uint64 `json:"behind"`
	// Events applied and duplicate deliveries skipped since the start.
	Events     uint64 `json:"events"`
	Duplicates uint64 `json:"duplicates"`
	// Err says where and why a failed instance stopped.
	Err *ProjectionError `json:"-"`
}

// Status returns every instance's status, by projection then version.
func (r *Runtime) Status() []Status {
	r.mu.RLock()
	active := map[*instance]bool{}
	for _, in := range r.active {
		active[in] = true
	}
	r.mu.RUnlock()
	head := r.head.Load()
	var out []Status
	for _, in := range r.instances() {
		s := Status{
			Projection: in.schema.Projection, Version: in.schema.Version,
			Active: active[in], Building: in.building.Load(), State: in.stateNow(),
			Applied: in.appliedPos(), Checkpoint: in.checkpoint(), Head: head,
			Events: in.events.Load(), Duplicates: in.duplicates.Load(), Err: in.errA.Load(),
		}
		if s.Head < s.Applied {
			s.Head = s.Applied
		}
		s.Behind = s.Head - s.Applied
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Projection != out[j].Projection {
			return out[i].Projection < out[j].Projection
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// Lag returns the status of the instance serving queries for the
// projection (false if none).
func (r *Runtime) Lag(name string) (Status, bool) {
	for _, s := range r.Status() {
		if s.Projection == name && s.Active {
			return s, true
		}
	}
	return Status{}, false
}

// HeadPosition returns the last global position of the source (0 for an
// empty log). A source implementing LastPositioner answers directly;
// otherwise the head is found with one-event ReadAll probes: doubling
// from known (a position at or below the head, 0 if none is known),
// then bisecting, about 2 log2(head - known) reads. Positions need not be
// dense.
func HeadPosition(ctx context.Context, src Source, known uint64) (uint64, error) {
	if lp, ok := src.(LastPositioner); ok {
		return lp.LastPosition(ctx)
	}
	probe := func(p uint64) (uint64, bool, error) {
		recs, err := src.ReadAll(ctx, p, 1)
		if err != nil || len(recs) == 0 {
			return 0, false, err
		}
		return recs[0].Position, true, nil
	}
	lo := uint64(0) // the highest position known to exist (0: none)
	if p, ok, err := probe(known); err != nil {
		return 0, err
	} else if ok {
		lo = p
	}
	step := uint64(1024)
	hi := lo + step // no event at or above hi, once established
	for {
		p, ok, err := probe(hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		lo = p
		if step < 1<<62 {
			step *= 2
		}
		hi = lo + step
		if hi < lo { // overflow: nothing can lie above the maximum
			hi = ^uint64(0)
			break
		}
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		p, ok, err := probe(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = p
			if lo >= hi { // cannot happen on a store honouring the contract
				return lo, nil
			}
			if lo == mid {
				// keep bisecting above mid
				continue
			}
		} else {
			hi = mid
		}
	}
	return lo, nil
}
