package domain

import (
	"reflect"
	"testing"
)

// shopsEqual compares two states by value (the cached zone aside).
func shopsEqual(a, b *Shop) bool {
	ac, bc := *a, *b
	ac.loc, bc.loc = nil, nil
	return reflect.DeepEqual(ac, bc)
}

// TestFixtureEveryPlatformPaysOut: the fixture's shop of each payout
// platform accepts a plain payout, and replay reproduces the state.
func TestFixtureEveryPlatformPaysOut(t *testing.T) {
	for _, pl := range []PlatformID{Platform1688, PlatformDouyin, PlatformJD, PlatformPDD} {
		t.Run(string(pl), func(t *testing.T) {
			f := newFixture(t, pl)
			evs := f.must(asMain, f.payout("P1", "10", nil))
			if got := evs[0].(PayoutInitiated); got.Amount.String() != "10" {
				t.Fatalf("amount %s", got.Amount)
			}
			f.replayEquals()
		})
	}
	t.Run("taobao", func(t *testing.T) {
		f := newFixture(t, PlatformTaobao)
		f.must(asMain, SendCollectionCard{Ref: f.ref(), CollectionID: "C1", OrderID: "O1", Amount: money("30"), Reason: ReasonShippingDifference})
		f.replayEquals()
	})
}
