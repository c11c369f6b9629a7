package domain

import (
	"encoding/json"
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

// TestStateSnapshotRoundTrip: a state restored from a snapshot equals the
// replayed one exactly, and keeps deciding the same way.
func TestStateSnapshotRoundTrip(t *testing.T) {
	for _, pl := range []PlatformID{Platform1688, PlatformDouyin, PlatformJD, PlatformPDD, PlatformTaobao} {
		t.Run(string(pl), func(t *testing.T) {
			f := newFixture(t, pl)
			if pl == PlatformTaobao {
				f.must(asMain, SendCollectionCard{Ref: f.ref(), CollectionID: "C1", OrderID: "O1", Amount: money("30"), Reason: ReasonShippingDifference})
			} else {
				f.must(asMain, f.payout("P1", "10", nil))
			}
			b, err := EncodeState(f.s)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeState(b)
			if err != nil {
				t.Fatal(err)
			}
			// Same instants and values; gob restores times with a fixed
			// zone, so compare the canonical JSON (sorted keys).
			a, _ := json.Marshal(got)
			b2, _ := json.Marshal(f.s)
			if string(a) != string(b2) {
				t.Fatalf("restored state differs:\n%s\n%s", a, b2)
			}
			// And it decides the same: the next payout is accepted or
			// rejected identically on both.
			next := SendCollectionCard{Ref: f.ref(), CollectionID: "C2", OrderID: "O1", Amount: money("70.01"), Reason: ReasonGoodsDifference}
			var cmd Command = next
			if pl != PlatformTaobao {
				cmd = f.payout("P2", "10", nil)
			}
			e1, err1 := Decide(got, cmd, f.req(asMain))
			e2, err2 := Decide(f.s, cmd, f.req(asMain))
			j1, _ := json.Marshal(e1)
			j2, _ := json.Marshal(e2)
			if CodeOf(err1) != CodeOf(err2) || string(j1) != string(j2) {
				t.Fatalf("restored state decides differently: %v %s / %v %s", err1, j1, err2, j2)
			}
			if _, err := DecodeState(b[:len(b)/2]); err == nil {
				t.Fatal("a truncated snapshot decoded")
			}
		})
	}
}
