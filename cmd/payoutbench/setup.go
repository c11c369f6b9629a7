package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// setupStats is what setting the shops up took.
type setupStats struct {
	How    string `json:"how"` // "batch" or "handler"
	Shops  int    `json:"shops"`
	Orders int    `json:"orders_per_shop"`
	// OneShopOrders: the one shop's orders when it has its own
	// (-one-shop-orders).
	OneShopOrders int     `json:"one_shop_orders,omitempty"`
	Commands      int64   `json:"commands"`
	Events        int64   `json:"events"`
	Seconds       float64 `json:"seconds"`
	Clients       int     `json:"clients"`
	// LoadSeconds: reading every shop's stream into the handler (hash
	// chains verified) after a batched setup; the measured runs then start
	// with every shop in memory, as after a handler setup.
	LoadSeconds float64 `json:"load_seconds,omitempty"`
}

// setupViaHandler sends every shop's setup commands through the handler,
// shops in parallel. Any refusal is a bug in the workload: it stops the
// benchmark.
func (w *workload) setupViaHandler(ctx context.Context, h *handler.Handler, clients int, now time.Time) (setupStats, error) {
	st := setupStats{How: "handler", Shops: len(w.shops), Orders: w.orders(), OneShopOrders: w.oneShopOrders(), Clients: clients}
	start := time.Now()
	var cmds, events atomic.Int64
	err := w.eachShop(ctx, clients, func(ctx context.Context, s *shop) error {
		for i, stp := range shopSetup(s, w.ordersOf(s), now) {
			res, err := h.Handle(ctx, stp.cmd, handler.Meta{Actor: stp.actor, IdempotencyKey: setupKey(s, i)})
			if err != nil {
				return fmt.Errorf("setup %s %s: %w", s.ref.Stream(), stp.cmd.CommandName(), err)
			}
			cmds.Add(1)
			events.Add(int64(len(res.Events)))
		}
		return nil
	})
	st.Commands, st.Events = cmds.Load(), events.Load()
	st.Seconds = time.Since(start).Seconds()
	return st, err
}

// setupBatched decides every shop's setup commands with domain.Decide,
// exactly as the handler would (same events, idempotency keys and
// digests), and appends them in atomic batches of up to
// eventstore.MaxEventsPerAppend events: with fsync on every
// acknowledgement, one append per command would take most of the
// benchmark's time. Then the handler loads every shop, so that the
// measured runs start from the same in-memory state as after a setup
// through the handler.
func (w *workload) setupBatched(ctx context.Context, store eventstore.BatchAppender, h *handler.Handler, clients int, now time.Time) (setupStats, error) {
	st := setupStats{How: "batch", Shops: len(w.shops), Orders: w.orders(), OneShopOrders: w.oneShopOrders(), Clients: clients}
	start := time.Now()
	var cmds, events atomic.Int64
	// Each writer packs the shops it takes into batches of its own.
	const writers = 4
	work := make(chan *shop)
	errc := make(chan error, writers)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := &batcher{store: store, what: "setup", onFlush: func(n int) { events.Add(int64(n)) }}
			fail := func(err error) { errc <- err; cancel() }
			for s := range work {
				data, n, err := decideSetup(s, w.ordersOf(s), now)
				if err != nil {
					fail(err)
					return
				}
				cmds.Add(int64(n))
				if err := b.add(ctx, s.ref.Stream(), data); err != nil {
					fail(err)
					return
				}
			}
			if err := b.flush(ctx); err != nil {
				fail(err)
			}
		}()
	}
feed:
	for _, s := range w.shops {
		select {
		case work <- s:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errc)
	st.Commands, st.Events = cmds.Load(), events.Load()
	st.Seconds = time.Since(start).Seconds()
	if err := firstError(errc, ctx); err != nil {
		return st, err
	}
	load := time.Now()
	err := w.eachShop(context.Background(), clients, func(ctx context.Context, s *shop) error {
		_, err := h.State(ctx, s.ref.ShopRef)
		return err
	})
	st.LoadSeconds = time.Since(load).Seconds()
	return st, err
}

// decideSetup decides a shop's setup commands on an empty state and
// returns the events to store and how many commands produced them.
func decideSetup(s *shop, orders int, now time.Time) ([]eventstore.EventData, int, error) {
	state := domain.NewShop(s.ref.ShopRef)
	stream := s.ref.Stream()
	var out []eventstore.EventData
	steps := shopSetup(s, orders, now)
	for i, stp := range steps {
		req := domain.Request{Now: now, Actor: stp.actor, IdempotencyKey: setupKey(s, i), CommandDigest: handler.Digest(stp.cmd)}
		payloads, err := domain.Decide(state, stp.cmd, req)
		if err != nil {
			return nil, 0, fmt.Errorf("setup %s %s: %w", stream, stp.cmd.CommandName(), err)
		}
		evs := domain.NewEvents(stream, stp.cmd.CommandName(), req, domain.NewV7, payloads)
		for _, ev := range evs {
			domain.Apply(state, ev.Data)
		}
		data, err := handler.Encode(evs)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, data...)
	}
	return out, len(steps), nil
}

// shopSetup is every setup command of a shop: its platform's, then the
// mix's own (staff quotas, the probe order).
func shopSetup(s *shop, orders int, now time.Time) []step {
	return append(s.plat.setup(s.ref, orders, now), s.plat.extra(s.ref, now)...)
}

func setupKey(s *shop, i int) string { return fmt.Sprintf("setup-%s-%d", s.ref.ShopID, i) }

// eachShop runs fn on every shop from clients goroutines; the first error
// stops it.
func (w *workload) eachShop(ctx context.Context, clients int, fn func(context.Context, *shop) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *shop)
	errc := make(chan error, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				if err := fn(ctx, s); err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}()
	}
feed:
	for _, s := range w.shops {
		select {
		case work <- s:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errc)
	return firstError(errc, ctx)
}

// firstError is the error a worker reported, else ctx's.
func firstError(errc <-chan error, ctx context.Context) error {
	if err := <-errc; err != nil {
		return err
	}
	return ctx.Err()
}
