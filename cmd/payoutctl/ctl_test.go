package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/projections"
)

var (
	cst      = time.FixedZone("CST", 8*3600)
	day1     = time.Date(2026, 11, 23, 10, 0, 0, 0, cst)
	day2     = day1.Add(24 * time.Hour)
	ops      = domain.Actor{ID: "ops", Role: domain.RoleOperator}
	boss     = domain.Actor{ID: "admin", Role: domain.RoleMain}
	shopJD   = domain.Ref{ShopRef: domain.ShopRef{Platform: domain.PlatformJD, ShopID: "north"}}
	shopDY   = domain.Ref{ShopRef: domain.ShopRef{Platform: domain.PlatformDouyin, ShopID: "panda"}}
	untilArg = day1.Add(12 * time.Hour).Format(time.RFC3339) // between the two days
)

// ledger is a data directory written through the real handler: day 1
// (recorded on day 1), then day 2, whose first event touches no read
// model (an order registration).
type ledger struct {
	dir        string
	day1Events uint64
	events     uint64
}

func writeLedger(t *testing.T) ledger {
	t.Helper()
	ctx := context.Background()
	now := day1
	dir := t.TempDir()
	es, err := jetstream.Open(ctx, jetstream.Config{DataDir: dir, Clock: func() time.Time { return now }})
	require.NoError(t, err)
	defer es.Close()
	h := handler.New(es, handler.Config{Clock: func() time.Time { return now }})
	var n uint64
	do := func(a domain.Actor, c domain.Command) {
		t.Helper()
		res, err := h.Handle(ctx, c, handler.Meta{Actor: a})
		require.NoError(t, err, c.CommandName())
		n += uint64(len(res.Events))
	}
	d := decimal.RequireFromString
	order := func(ref domain.Ref, id string) {
		placed := now.Add(-48 * time.Hour)
		do(ops, domain.RegisterOrder{Ref: ref, OrderID: id, Buyer: "b", CashPaid: d("300"), Status: domain.OrderShipped,
			PaymentMode: "online", Channel: "douyin", PlacedAt: placed, PaidAt: &placed})
	}
	do(ops, domain.RegisterShop{Ref: shopJD, Name: "North", MainAccount: "admin", EntityType: "enterprise", CooperationMode: "sop", AfterSalesSelfService: true})
	do(boss, domain.OpenFundingAccount{Ref: shopJD, Kind: domain.AccountWallet})
	do(boss, domain.TopUp{Ref: shopJD, Kind: domain.AccountWallet, Amount: d("500")})
	do(boss, domain.EnrollShop{Ref: shopJD, AcceptAgreement: true})
	order(shopJD, "J1")
	do(boss, domain.InitiatePayout{Ref: shopJD, PayoutID: "P1", OrderID: "J1", Amount: d("30"), Type: domain.TypeShipping, Reason: "r", SMSVerified: true})
	do(boss, domain.InitiatePayout{Ref: shopJD, PayoutID: "P2", OrderID: "J1", Amount: d("12.5"), Type: domain.TypeService, Reason: "r", SMSVerified: true})
	do(ops, domain.MarkPayoutProcessing{Ref: shopJD, PayoutID: "P1"})
	do(ops, domain.MarkPayoutSucceeded{Ref: shopJD, PayoutID: "P1"})
	do(ops, domain.RegisterShop{Ref: shopDY, Name: "Panda", MainAccount: "admin"})
	do(boss, domain.OpenFundingAccount{Ref: shopDY, Kind: domain.AccountProceeds})
	do(ops, domain.CreditProceeds{Ref: shopDY, Amount: d("1000")})
	order(shopDY, "D1")
	do(boss, domain.InitiatePayout{Ref: shopDY, PayoutID: "Y1", OrderID: "D1", Amount: d("20"), Type: domain.TypeShipping, Reason: "r"})
	l := ledger{dir: dir, day1Events: n}
	now = day2
	order(shopDY, "D2") // touches no read model
	do(boss, domain.InitiatePayout{Ref: shopDY, PayoutID: "Y2", OrderID: "D2", Amount: d("25"), Type: domain.TypeService, Reason: "r"})
	do(ops, domain.RecordOrderRefund{Ref: shopDY, OrderID: "D2", RefundID: "R1", Amount: d("300")})
	do(ops, domain.MarkPayoutFailed{Ref: shopJD, PayoutID: "P2", Reason: "bank"})
	l.events = n
	return l
}

func ctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := dispatch(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelp(t *testing.T) {
	code, _, errOut := ctl(t)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "usage: payoutctl <subcommand>")
	code, out, _ := ctl(t, "--help")
	require.Equal(t, 0, code)
	for _, name := range []string{"replay", "verify", "reconcile"} {
		require.Contains(t, out, name)
		code, out, errOut := ctl(t, name, "--help")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "usage: payoutctl "+name)
		require.Contains(t, out, "-data")
	}
	code, _, errOut = ctl(t, "frobnicate")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "unknown subcommand")
	code, _, errOut = ctl(t, "replay", "--data", t.TempDir())
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "--views are required")
	code, _, errOut = ctl(t, "replay", "--data", t.TempDir(), "--views", t.TempDir())
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "holds no event store")
	code, _, errOut = ctl(t, "replay", "--data", t.TempDir(), "--views", t.TempDir(), "--until", "yesterday")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "RFC 3339")
}

func TestReplayThenVerify(t *testing.T) {
	l := writeLedger(t)
	views := filepath.Join(t.TempDir(), "views")
	code, out, errOut := ctl(t, "replay", "--data", l.dir, "--views", views)
	require.Equal(t, 0, code, errOut)
	require.Empty(t, errOut, "no progress line when stderr is not a terminal")
	require.Contains(t, out, fmt.Sprintf("replay: %d events (positions 1 to %d of %d) into 6 projections", l.events, l.events, l.events))
	require.Contains(t, out, fmt.Sprintf("payout_records       v1  checkpoint %d", l.events))
	require.Regexp(t, `events/s`, out)

	code, out, errOut = ctl(t, "verify", "--data", l.dir, "--views", views)
	require.Equal(t, 0, code, "%s\n%s", out, errOut)
	require.Contains(t, out, fmt.Sprintf("event log: %d events in 2 streams", l.events))
	require.Contains(t, out, "hash chains: every stream intact")
	require.Contains(t, out, fmt.Sprintf("projection payout_records v1 at position %d: ", l.events))
	require.Equal(t, 6, strings.Count(out, ", 0 differences"))
	require.Contains(t, out, "verify: 0 differences, every hash chain intact")

	// A second replay into the same directory is refused.
	code, _, errOut = ctl(t, "replay", "--data", l.dir, "--views", views)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "already holds read models")
	// The progress line, forced.
	code, _, errOut = ctl(t, "replay", "--data", l.dir, "--views", t.TempDir(), "--progress", "always")
	require.Equal(t, 0, code)
	require.Contains(t, errOut, fmt.Sprintf("replay %d / %d events 100.0%%", l.events, l.events))
	require.Contains(t, errOut, "ETA 0s")
}

// --until rebuilds the read models as of an instant: the events recorded
// at or before it; verify then compares at that checkpoint.
func TestReplayUntilAnInstant(t *testing.T) {
	l := writeLedger(t)
	views := t.TempDir()
	code, out, errOut := ctl(t, "replay", "--data", l.dir, "--views", views, "--until", untilArg)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, fmt.Sprintf("the log up to position %d", l.day1Events))
	require.Contains(t, out, fmt.Sprintf("quota_usage          v1  checkpoint %d", l.day1Events))
	code, out, _ = ctl(t, "verify", "--data", l.dir, "--views", views)
	require.Equal(t, 0, code, out)

	rm, err := projections.OpenEmbedded(views)
	require.NoError(t, err)
	defer rm.Close()
	sn, err := projections.ReadSnapshot(context.Background(), rm, projections.NewPayoutRecords().Schema())
	require.NoError(t, err)
	var ids []string
	for _, r := range sn.Rows["payout_records"] {
		ids = append(ids, r[2].(string)+":"+r[14].(string))
	}
	require.ElementsMatch(t, []string{"P1:succeeded", "P2:pending", "Y1:pending"}, ids, "as of day 1: no Y2, P2 not failed yet")
}

// verify prints every difference between the live read models and a
// rebuild: a changed column, a row missing, a row too many.
func TestVerifyReportsEveryDifference(t *testing.T) {
	ctx := context.Background()
	l := writeLedger(t)
	views := t.TempDir()
	code, _, errOut := ctl(t, "replay", "--data", l.dir, "--views", views, "--until", untilArg)
	require.Equal(t, 0, code, errOut)

	// Tamper with the live payout records: the next event (day 2's first,
	// an order registration) changes no read model, so a rebuild to
	// day1Events+1 equals the untampered rows.
	rm, err := projections.OpenEmbedded(views)
	require.NoError(t, err)
	sc := projections.NewPayoutRecords().Schema()
	sn, err := projections.ReadSnapshot(ctx, rm, sc)
	require.NoError(t, err)
	t1 := sc.Table("payout_records")
	var p1, p2 projections.Row
	for _, r := range sn.Rows["payout_records"] {
		switch r[2] {
		case "P1":
			p1 = projections.CloneRow(r)
		case "P2":
			p2 = r
		}
	}
	p1[14] = "failed"
	p9 := projections.CloneRow(p2)
	p9[2] = "P9"
	require.NoError(t, rm.Commit(ctx, projections.Batch{Schema: sc, From: l.day1Events, To: l.day1Events + 1,
		Changes: []projections.TableChanges{{Table: t1.Name, Upserts: []projections.Row{p1, p9}, Deletes: []projections.Key{t1.KeyOf(p2)}}}}))
	require.NoError(t, rm.Close())

	code, out, _ := ctl(t, "verify", "--data", l.dir, "--views", views)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, fmt.Sprintf("projection payout_records v1 at position %d: 5 rows, 3 differences", l.day1Events+1)) // 3 payouts, 2 shops
	require.Contains(t, out, `payout_records.payout_records [jd,north,P1] status: "failed" live, "succeeded" rebuilt`)
	require.Contains(t, out, `payout_records.payout_records [jd,north,P2]: only in the rebuild: ("jd", "north", "P2"`)
	require.Contains(t, out, `payout_records.payout_records [jd,north,P9]: only in the live store: ("jd", "north", "P9"`)
	require.Equal(t, 5, strings.Count(out, ", 0 differences"), "the other projections are intact")
	require.Contains(t, out, "verify: 3 problems")
}

// tamper alters what a real store returns: one event's body changed, one
// removed, or two of a stream swapped.
type tamper struct {
	projections.Source
	mode string
	at   uint64 // position
}

func (t tamper) ReadAll(ctx context.Context, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	recs, err := t.Source.ReadAll(ctx, from, max)
	out := append([]eventstore.RecordedEvent(nil), recs...)
	for i, r := range out {
		if r.Position != t.at {
			continue
		}
		switch t.mode {
		case "alter":
			out[i].Data = bytes.Replace(r.Data, []byte(`"30"`), []byte(`"300"`), 1)
		case "remove":
			return append(out[:i], out[i+1:]...), err
		case "swap": // with the next event of the same stream
			for j := i + 1; j < len(out); j++ {
				if out[j].Stream == r.Stream {
					out[i], out[j] = out[j], out[i]
					break
				}
			}
		}
		break
	}
	return out, err
}

func TestVerifyDetectsAlteredRemovedReorderedEvents(t *testing.T) {
	ctx := context.Background()
	l := writeLedger(t)
	es, err := jetstream.Open(ctx, jetstream.Config{DataDir: l.dir})
	require.NoError(t, err)
	defer es.Close()
	clean, err := verifyLog(ctx, es, nil)
	require.NoError(t, err)
	require.Empty(t, clean.Problems)
	require.Equal(t, int(l.events), clean.Events)

	// P1's initiation (30, on jd.north) is the 6th event of jd.north.
	var p1 eventstore.RecordedEvent
	recs, err := es.ReadStream(ctx, "jd.north", 6, 1)
	require.NoError(t, err)
	p1 = recs[0]
	require.Equal(t, "PayoutInitiated", p1.Type)
	for mode, want := range map[string]string{
		"alter":  "event content does not match its hash (altered)",
		"remove": "expected version 6, found 7 (removed or reordered event)",
		"swap":   "expected version 6, found 7 (removed or reordered event)",
	} {
		res, err := verifyLog(ctx, tamper{Source: es, mode: mode, at: p1.Position}, nil)
		require.NoError(t, err)
		require.NotEmpty(t, res.Problems, mode)
		got := res.Problems[0]
		require.Equal(t, "jd.north", got.Stream, mode)
		require.Equal(t, uint64(6), got.Version, mode)
		require.Equal(t, want, got.Reason, mode)
		require.Len(t, res.Problems, 1, "one report per broken stream (%s): %+v", mode, res.Problems)
	}
}
