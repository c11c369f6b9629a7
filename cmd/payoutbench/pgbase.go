package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/projections/pgtest"
)

// Kinds of the PostgreSQL baseline.
const (
	kindPG        = "postgres.initiate_payout"
	kindPGOneShop = "postgres.initiate_payout_one_shop"
)

// pgMaxConns stays below pgtest's max_connections (200): more clients
// than that share the pool's connections.
const pgMaxConns = 180

// pgDailyCap: the shops' daily cap, far above what a run reaches (the
// check runs, as the ledger's does, and never refuses).
var pgDailyCap = decimal.NewFromInt(1_000_000_000)

// pgBaseline is a naive PostgreSQL InitiatePayout: a table of shops with
// the day's total, a table of payouts, and one transaction per payout:
// SELECT ... FOR UPDATE the shop's row, check the daily cap, INSERT the
// payout, UPDATE the total, COMMIT. The cluster is a throwaway one
// started by projections/pgtest in its durable mode (fsync,
// synchronous_commit and full_page_writes on: the same durability as the
// ledger's fsync before every acknowledgement; Settings records it).
type pgBaseline struct {
	cluster  *pgtest.Cluster
	dsn      string
	shops    []string
	settings map[string]string
	seq      uint64
	seed     uint64
}

func startPG(ctx context.Context, shops int, seed uint64) (*pgBaseline, error) {
	c, err := pgtest.StartWith(pgtest.Options{Durable: true})
	if err != nil {
		return nil, err
	}
	pb := &pgBaseline{cluster: c, seed: seed, settings: map[string]string{"version": c.Version}}
	db, err := c.CreateDatabase(ctx, "payoutbench")
	if err != nil {
		c.Stop()
		return nil, err
	}
	pb.dsn = c.DSN(db)
	conn, err := pgx.Connect(ctx, pb.dsn)
	if err != nil {
		c.Stop()
		return nil, err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `
CREATE TABLE shops (
	id          text PRIMARY KEY,
	day         date NOT NULL,
	daily_total numeric(18,2) NOT NULL DEFAULT 0,
	daily_cap   numeric(18,2) NOT NULL
);
CREATE TABLE payouts (
	id         text PRIMARY KEY,
	shop_id    text NOT NULL REFERENCES shops(id),
	order_id   text NOT NULL,
	amount     numeric(18,2) NOT NULL CHECK (amount > 0),
	created_at timestamptz NOT NULL DEFAULT now()
);`)
	if err != nil {
		c.Stop()
		return nil, fmt.Errorf("postgres baseline: schema: %w", err)
	}
	for i := range shops {
		pb.shops = append(pb.shops, fmt.Sprintf("S%05d", i))
	}
	if _, err := conn.Exec(ctx, `INSERT INTO shops (id, day, daily_cap) SELECT s, current_date, $2::numeric FROM unnest($1::text[]) s`,
		pb.shops, pgDailyCap.String()); err != nil {
		c.Stop()
		return nil, fmt.Errorf("postgres baseline: shops: %w", err)
	}
	for _, name := range []string{"fsync", "synchronous_commit", "full_page_writes", "wal_sync_method"} {
		var v string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err != nil {
			c.Stop()
			return nil, err
		}
		pb.settings[name] = v
	}
	// Sessions of the measured runs set synchronous_commit=on themselves.
	pb.settings["synchronous_commit"] = "on (set per session)"
	return pb, nil
}

func (pb *pgBaseline) close() { pb.cluster.Stop() }

// durable: the cluster fsyncs its commits (pgtest's does not).
func (pb *pgBaseline) durable() bool { return pb.settings["fsync"] == "on" }

var errPGCap = errors.New("postgres baseline: over the daily cap")

// slice runs clients clients until b, each payout on a random shop of
// shops (one shop: all on it).
func (pb *pgBaseline) slice(ctx context.Context, clients int, shops []string, b bound, maxSamples int) (slice, error) {
	cfg, err := pgxpool.ParseConfig(pb.dsn)
	if err != nil {
		return slice{}, err
	}
	cfg.MaxConns = int32(min(clients, pgMaxConns))
	cfg.MinConns = cfg.MaxConns
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return slice{}, err
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return slice{}, err
	}
	g, stop := startGate(ctx, b)
	defer stop()
	tallies := make([]*tally, clients)
	recs := make([]*recorder, clients)
	pb.seq++
	n := pb.seq
	elapsed, cpu := runClients(clients, func(i int) {
		t, rec := newTally(), newRecorder(maxSamples/clients, pb.seed+n<<32+uint64(i))
		tallies[i], recs[i] = t, rec
		rng := rand.New(rand.NewPCG(pb.seed^0x7f4a7c15, n<<32|uint64(i)))
		for k := 0; g.next(); k++ {
			shop := shops[rng.IntN(len(shops))]
			amount := decimal.New(int64(100+rng.IntN(900)), -2)
			id := fmt.Sprintf("P%d-%d-%d", n, i, k)
			start := time.Now()
			err := pb.initiate(ctx, pool, shop, id, amount)
			d := time.Since(start)
			switch {
			case err == nil:
				t.ok++
				t.events++
				rec.add(d)
			case errors.Is(err, errPGCap):
				t.rejections["daily_cap"]++
			default:
				t.errs[errorClass(err)]++
			}
		}
	})
	return slice{tallies: tallies, recs: recs, elapsed: elapsed, cpu: cpu}, nil
}

// initiate is the naive InitiatePayout: one transaction, the shop's row
// locked while its day's total is checked and raised.
func (pb *pgBaseline) initiate(ctx context.Context, pool *pgxpool.Pool, shop, id string, amount decimal.Decimal) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) // after Commit: a no-op
	var total, dailyCap string
	var day, today time.Time
	if err := tx.QueryRow(ctx, `SELECT day, current_date, daily_total::text, daily_cap::text FROM shops WHERE id = $1 FOR UPDATE`, shop).
		Scan(&day, &today, &total, &dailyCap); err != nil {
		return err
	}
	used, err := decimal.NewFromString(total)
	if err != nil {
		return err
	}
	limit, err := decimal.NewFromString(dailyCap)
	if err != nil {
		return err
	}
	if !day.Equal(today) {
		used = decimal.Zero
	}
	if used.Add(amount).GreaterThan(limit) {
		return errPGCap
	}
	if _, err := tx.Exec(ctx, `INSERT INTO payouts (id, shop_id, order_id, amount) VALUES ($1, $2, $3, $4::numeric)`,
		id, shop, "O1", amount.String()); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE shops SET day = $2, daily_total = $3::numeric WHERE id = $1`,
		shop, today, used.Add(amount).String()); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
