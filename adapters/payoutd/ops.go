package payoutd

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/payoutledger/ledger/adapters/metrics"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/projections"
)

// serviceMetrics are the families /metrics exposes.
type serviceMetrics struct {
	commands    *metrics.CounterVec   // by command and outcome (ok, replayed, or the error code)
	commandTime *metrics.HistogramVec // by command
	appendTime  *metrics.HistogramVec // by kind (single, batch)
	appended    *metrics.CounterVec   // events appended
	timers      *metrics.CounterVec   // by kind and outcome
	reg         *metrics.Registry
}

func newServiceMetrics(r *metrics.Registry) *serviceMetrics {
	return &serviceMetrics{
		reg:         r,
		commands:    r.NewCounterVec("payoutd_commands_total", "Commands received over HTTP, by command and outcome (ok, replayed, or the rejection or error code).", "command", "outcome"),
		commandTime: r.NewHistogramVec("payoutd_command_duration_seconds", "Time from request decoded to answer, by command.", metrics.LatencyBuckets, "command"),
		appendTime:  r.NewHistogramVec("payoutd_append_duration_seconds", "Event-store append latency (durable when it returns), by kind: single append or group-commit batch.", metrics.LatencyBuckets, "kind"),
		appended:    r.NewCounterVec("payoutd_events_appended_total", "Events appended to the event store."),
		timers:      r.NewCounterVec("payoutd_timers_total", "Timers handled, by kind and outcome (fired, moot, retry).", "kind", "outcome"),
	}
}

func (m *serviceMetrics) commandDone(command, outcome string, d time.Duration) {
	m.commands.Inc(command, outcome)
	m.commandTime.ObserveSeconds(d.Seconds(), command)
}

func (m *serviceMetrics) timerFired(kind, outcome string) { m.timers.Inc(kind, outcome) }

// gauges are read at scrape time.
func (m *serviceMetrics) gauges(s *Service) {
	m.reg.NewGaugeFunc("payoutd_projection_lag_events", "Events between the log's head and what each serving projection has applied.", []string{"projection"}, func() []metrics.Sample {
		var out []metrics.Sample
		for _, st := range s.runtime.Status() {
			if st.Active {
				out = append(out, metrics.Sample{Labels: []string{st.Projection}, Value: float64(st.Behind)})
			}
		}
		return out
	})
	m.reg.NewGaugeFunc("payoutd_projection_applied_position", "Global position of the last event each serving projection applied.", []string{"projection"}, func() []metrics.Sample {
		var out []metrics.Sample
		for _, st := range s.runtime.Status() {
			if st.Active {
				out = append(out, metrics.Sample{Labels: []string{st.Projection}, Value: float64(st.Applied)})
			}
		}
		return out
	})
	m.reg.NewGaugeFunc("payoutd_timers_pending", "Timers waiting for their due time.", nil, func() []metrics.Sample {
		return []metrics.Sample{{Value: float64(len(s.timers.Pending()))}}
	})
	m.reg.NewGaugeFunc("payoutd_up_seconds", "Seconds since this process started.", nil, func() []metrics.Sample {
		return []metrics.Sample{{Value: time.Since(s.started).Seconds()}}
	})
}

// instrument times the store's appends. The wrapper keeps the store's
// batch capability and its fsync report (group commit needs both).
func (m *serviceMetrics) instrument(st eventstore.Store) eventstore.Store {
	in := instrumented{Store: st, m: m}
	if b, ok := st.(eventstore.BatchAppender); ok {
		return instrumentedBatch{instrumented: in, b: b}
	}
	return in
}

type instrumented struct {
	eventstore.Store
	m *serviceMetrics
}

func (i instrumented) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (eventstore.AppendResult, error) {
	t := time.Now()
	res, err := i.Store.Append(ctx, stream, expected, events)
	i.m.appendTime.ObserveSeconds(time.Since(t).Seconds(), "single")
	if err == nil {
		i.m.appended.Add(uint64(len(events)))
	}
	return res, err
}

// FsyncsEachAppend passes the store's eventstore.FsyncReporter on (true
// for a store without one): group commit chooses how to append by it.
func (i instrumented) FsyncsEachAppend() bool {
	if r, ok := i.Store.(eventstore.FsyncReporter); ok {
		return r.FsyncsEachAppend()
	}
	return true
}

type instrumentedBatch struct {
	instrumented
	b eventstore.BatchAppender
}

func (i instrumentedBatch) AppendBatch(ctx context.Context, reqs []eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	t := time.Now()
	res, err := i.b.AppendBatch(ctx, reqs)
	i.m.appendTime.ObserveSeconds(time.Since(t).Seconds(), "batch")
	if err == nil {
		n := 0
		for _, r := range reqs {
			n += len(r.Events)
		}
		i.m.appended.Add(uint64(n))
	}
	return res, err
}

// healthz: the process is alive and no background part has failed.
func (s *Service) healthz(w http.ResponseWriter, _ *http.Request) {
	if p := s.fatal.Load(); p != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "failed", "error": (*p).Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "uptime_seconds": int(time.Since(s.started).Seconds())})
}

// readyz: the service can take commands and answer queries: not
// draining, the store answers, every serving projection caught up once,
// the timers caught up, and the stream heads are being saved.
func (s *Service) readyz(w http.ResponseWriter, r *http.Request) {
	checks := map[string]string{}
	ready := true
	fail := func(name, why string) { checks[name] = why; ready = false }
	if s.draining.Load() {
		fail("service", "shutting down")
	}
	if p := s.fatal.Load(); p != nil {
		fail("background", (*p).Error())
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, _, err := s.store.Head(ctx, "probe.readyz"); err != nil {
		fail("event_store", err.Error())
	} else {
		checks["event_store"] = "ok"
	}
	views := "ok"
	for _, st := range s.runtime.Status() {
		if !st.Active {
			continue
		}
		switch st.State {
		case projections.StateLive:
		case projections.StateFailed:
			views = st.Projection + " failed"
		default:
			if views == "ok" {
				views = st.Projection + " " + string(st.State)
			}
		}
	}
	if views != "ok" {
		fail("projections", views)
	} else {
		checks["projections"] = "ok"
	}
	if !s.timers.Ready() {
		fail("timers", "catching up")
	} else {
		checks["timers"] = "ok"
	}
	if err := s.guard.Err(); err != nil {
		fail("stream_heads", err.Error())
	} else {
		checks["stream_heads"] = "ok"
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"ready": ready, "checks": checks})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
