package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/payoutledger/ledger/adapters/timers"
	"github.com/payoutledger/ledger/domain"
)

// timer is a timer the scenario expects to fire when the clock reaches
// its due time.
func timer(kind timers.Kind, s shopRef, id string, due time.Time) timers.Timer {
	ref := domain.ShopRef{Platform: s.platform, ShopID: s.id}
	return timers.Timer{Kind: kind, Stream: ref.Stream(), Shop: ref, ID: id, Due: due}
}

// advance moves the virtual clock to t, waits until the expected timers
// fired (their commands' events seen on NATS) and prints every event the
// timers appended since the last move.
func (d *demo) advance(t time.Time, why string, want ...timers.Timer) {
	from := d.clk.Now()
	d.clk.set(t)
	fmt.Fprintf(d.out, "\n-- clock -> %s (+%s): %s\n", t.Format("Mon 01-02 15:04"), span(t.Sub(from)), why)
	keys := make([]string, len(want))
	for i, w := range want {
		keys[i] = w.IdempotencyKey()
	}
	d.timersWant = append(d.timersWant, keys...)
	err := d.fol.waitFor(d.ctx, 20*time.Second, func(evs []seenEvent) bool {
		seen := map[string]bool{}
		for _, e := range evs {
			seen[e.Event.IdempotencyKey] = true
		}
		for _, k := range keys {
			if !seen[k] {
				return false
			}
		}
		return true
	})
	if err != nil {
		d.mismatch(fmt.Sprintf("timers due by %s (%s): %v", t.Format(time.RFC3339), strings.Join(keys, ", "), err))
	}
	d.reportTimers()
}

// reportTimers prints the events the timers appended since the last
// report, one line per timer, and flags a timer the scenario did not
// expect.
func (d *demo) reportTimers() {
	expected := map[string]bool{}
	for _, k := range d.timersWant {
		expected[k] = true
	}
	type fired struct {
		key, command, stream string
		names                []string
		subject              string
		position             uint64
	}
	var order []*fired
	byKey := map[string]*fired{}
	for _, e := range d.fol.since(d.timerMark) {
		d.timerMark = max(d.timerMark, e.Position)
		if e.Event.Actor.Role != domain.RoleSystem {
			continue
		}
		f := byKey[e.Event.IdempotencyKey]
		if f == nil {
			f = &fired{key: e.Event.IdempotencyKey, command: e.Event.Command, stream: e.Event.Stream, subject: e.Subject, position: e.Position}
			byKey[f.key] = f
			order = append(order, f)
		}
		f.names = append(f.names, describe(e.Event.Data))
	}
	for _, f := range order {
		fmt.Fprintf(d.out, "  %-19s %-61s %s   # NATS %s, position %d\n", "timer (system)", f.command+" "+f.stream, strings.Join(f.names, ", "), f.subject, f.position)
		if !expected[f.key] {
			d.mismatch(fmt.Sprintf("a timer the scenario does not expect fired: %s", f.key))
		}
	}
}

// timersFired counts the distinct timer commands seen on NATS.
func (d *demo) timersFired() int {
	keys := map[string]bool{}
	for _, e := range d.fol.since(0) {
		if e.Event.Actor.Role == domain.RoleSystem {
			keys[e.Event.IdempotencyKey] = true
		}
	}
	return len(keys)
}

// span renders a clock move in days, hours and minutes ("2d 18h", "1m").
func span(d time.Duration) string {
	days, rest := d/(24*time.Hour), d%(24*time.Hour)
	h, m := rest/time.Hour, rest%time.Hour/time.Minute
	var parts []string
	for _, p := range []struct {
		n    time.Duration
		unit string
	}{{days, "d"}, {h, "h"}, {m, "m"}} {
		if p.n > 0 {
			parts = append(parts, strconv.Itoa(int(p.n))+p.unit)
		}
	}
	if len(parts) == 0 {
		return "0m"
	}
	return strings.Join(parts, " ")
}
