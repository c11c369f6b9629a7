package projections

import "fmt"

// View runs fn with the projection's model, typed: the instance that
// serves queries (whatever its version), under its read lock. fn must not
// keep the model or anything it returns by pointer.
//
//	err := projections.View(rt, projections.PayoutRecordsName, func(p *projections.PayoutRecords) error {
//		recs, err = p.Search(filter)
//		return err
//	})
//
// Errors: ErrUnknownProjection, ErrNotReady, a model that is not a P, or
// fn's error.
func View[P Projector](rt *Runtime, name string, fn func(P) error) error {
	return rt.Read(name, func(p Projector) error {
		m, ok := Underlying(p).(P)
		if !ok {
			return fmt.Errorf("projections: %s is a %T", name, Underlying(p))
		}
		return fn(m)
	})
}
