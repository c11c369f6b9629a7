package projections

import (
	"runtime"
	"testing"

	"github.com/payoutledger/ledger/domain"
)

// TestLiveDispatchAllocatesPerEventNotPerPage: following the log, the
// feed hands each event over at once; the batch it starts next must not
// be a page-sized array (512 events, ~140 KB), or a payoutd following
// thousands of events a second spends its time allocating and clearing
// them. While catching up a batch holds a page.
func TestLiveDispatchAllocatesPerEventNotPerPage(t *testing.T) {
	f := &feed{members: []member{{queue: make(chan []domain.Event, 1)}}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range f.members[0].queue {
			f.inflight.Done()
		}
	}()
	defer func() { close(f.members[0].queue); <-done }()

	f.batch = append(f.batch, domain.Event{Position: 1})
	f.dispatch()
	if c := cap(f.batch); c != applyBatch {
		t.Fatalf("catching up: next batch room %d, want a page (%d)", c, applyBatch)
	}
	f.live = true
	const events = 2000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range events {
		f.batch = append(f.batch, domain.Event{Position: uint64(i + 2)})
		f.dispatch()
	}
	f.inflight.Wait()
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / events; per > 4<<10 {
		t.Fatalf("live: %d bytes allocated per event handed over, want about one event's worth", per)
	}
}
