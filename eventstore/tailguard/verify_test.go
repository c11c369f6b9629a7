package tailguard_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/eventstore/tailguard"
)

// These tests run against the real embedded NATS server (JetStream file
// storage under t.TempDir()), as the ledger does.

var (
	operator = domain.Actor{ID: "ops", Role: domain.RoleOperator}
	admin    = domain.Actor{ID: "admin", Role: domain.RoleMain}
	clock    = func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) }
)

// openStore opens the embedded store on dir; the test may close it itself.
func openStore(t *testing.T, dir string) eventstore.Store {
	t.Helper()
	s, err := jetstream.Open(context.Background(), jetstream.Config{DataDir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func shopRef(id string) domain.Ref {
	return domain.Ref{ShopRef: domain.ShopRef{Platform: domain.PlatformJD, ShopID: id}}
}

func handle(t *testing.T, h *handler.Handler, a domain.Actor, c domain.Command) {
	t.Helper()
	_, err := h.Handle(context.Background(), c, handler.Meta{Actor: a})
	require.NoError(t, err, c.CommandName())
}

// newShop registers a shop and opens its wallet: two events.
func newShop(t *testing.T, h *handler.Handler, ref domain.Ref) {
	t.Helper()
	handle(t, h, operator, domain.RegisterShop{Ref: ref, Name: "shop", MainAccount: "admin", EntityType: "enterprise",
		CooperationMode: "sop", AfterSalesSelfService: true})
	handle(t, h, admin, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountWallet})
}

// topUps appends n top-ups of amount to the shop: n events.
func topUps(t *testing.T, h *handler.Handler, ref domain.Ref, n int, amount string) {
	t.Helper()
	for i := 0; i < n; i++ {
		handle(t, h, admin, domain.TopUp{Ref: ref, Kind: domain.AccountWallet, Amount: decimal.RequireFromString(amount)})
	}
}

func headOf(t *testing.T, s eventstore.Store, stream string) tailguard.Head {
	t.Helper()
	v, h, err := s.Head(context.Background(), stream)
	require.NoError(t, err)
	return tailguard.Head{Version: v, Hash: h}
}

// copyDir copies the tree at src to dst (cp -r): a backup of a closed
// store's data directory.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		}
		if !info.Mode().IsRegular() {
			return errors.New("unexpected file type: " + path)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	require.NoError(t, err)
}

// TestVerifyAfterAppendsThroughHandler: heads recorded by the handler's
// OnAppend and flushed to a file match the store, and Verify finds nothing.
func TestVerifyAfterAppendsThroughHandler(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, t.TempDir())
	heads := tailguard.FileStore{Path: filepath.Join(t.TempDir(), "heads.json")}
	guard := tailguard.New(heads, nil)
	h := handler.New(store, handler.Config{Clock: clock, OnAppend: guard.Record})

	a, b := shopRef("a"), shopRef("b")
	newShop(t, h, a)
	newShop(t, h, b)
	topUps(t, h, a, 3, "100")
	topUps(t, h, b, 1, "5")
	require.NoError(t, guard.Flush(ctx))

	saved, err := heads.Load(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]tailguard.Head{
		a.Stream(): headOf(t, store, a.Stream()),
		b.Stream(): headOf(t, store, b.Stream()),
	}, saved)
	require.Equal(t, uint64(5), saved[a.Stream()].Version)
	require.Equal(t, uint64(3), saved[b.Stream()].Version)

	findings, err := tailguard.Verify(ctx, store, saved)
	require.NoError(t, err)
	require.Empty(t, findings)

	// The store moved on past what was flushed: still nothing to report
	// (the recorded head is a prefix of the stream).
	topUps(t, h, a, 2, "1")
	findings, err = tailguard.Verify(ctx, store, saved)
	require.NoError(t, err)
	require.Empty(t, findings)
}

// TestVerifyReportsTruncatedLog: a log that lost its tail (here: the data
// directory replaced by an older copy of itself, as a disk that dropped its
// last writes or a restored backup) still verifies as a chain and is
// served by the handler; only the heads kept outside show what is missing.
// If the short log is then appended to, the recorded head no longer
// matches the event at its version.
func TestVerifyReportsTruncatedLog(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	backup := filepath.Join(t.TempDir(), "backup")
	heads := tailguard.FileStore{Path: filepath.Join(t.TempDir(), "heads.json")}
	a, b := shopRef("a"), shopRef("b")

	// State A: a at 4 events, b at 3.
	store := openStore(t, dir)
	guard := tailguard.New(heads, nil)
	h := handler.New(store, handler.Config{Clock: clock, OnAppend: guard.Record})
	newShop(t, h, a)
	newShop(t, h, b)
	topUps(t, h, a, 2, "100")
	topUps(t, h, b, 1, "100")
	require.NoError(t, guard.Close())
	headA := headOf(t, store, a.Stream())
	require.Equal(t, uint64(4), headA.Version)
	require.NoError(t, store.Close())
	copyDir(t, dir, backup)

	// State B: the next run appends 3 more to a and flushes its heads.
	store = openStore(t, dir)
	saved, err := heads.Load(ctx)
	require.NoError(t, err)
	findings, err := tailguard.Verify(ctx, store, saved)
	require.NoError(t, err)
	require.Empty(t, findings, "state A is whole")
	guard = tailguard.New(heads, saved)
	require.NoError(t, guard.Start(ctx, time.Hour)) // only Close flushes here
	h = handler.New(store, handler.Config{Clock: clock, OnAppend: guard.Record})
	topUps(t, h, a, 3, "7")
	headB := headOf(t, store, a.Stream())
	require.Equal(t, uint64(7), headB.Version)
	require.NoError(t, guard.Close())
	require.NoError(t, store.Close())

	// The disk comes back with state A.
	require.NoError(t, os.RemoveAll(dir))
	copyDir(t, backup, dir)
	store = openStore(t, dir)
	require.Equal(t, headA, headOf(t, store, a.Stream()), "the store lost its tail")

	// Nothing else notices: the chain verifies and the shop is served.
	recs, err := store.ReadStream(ctx, a.Stream(), 1, 100)
	require.NoError(t, err)
	verifier := eventstore.ChainVerifier{Stream: a.Stream()}
	for _, r := range recs {
		require.NoError(t, verifier.Check(r))
	}
	shop, err := handler.New(store, handler.Config{Clock: clock}).State(ctx, a.ShopRef)
	require.NoError(t, err)
	require.Equal(t, uint64(4), shop.Version)

	// The heads kept outside do.
	saved, err = heads.Load(ctx)
	require.NoError(t, err)
	require.Equal(t, headB, saved[a.Stream()])
	findings, err = tailguard.Verify(ctx, store, saved)
	require.NoError(t, err)
	require.Equal(t, []tailguard.Finding{{
		Kind: tailguard.KindTruncated, Stream: a.Stream(), Recorded: 7, Found: 4, RecordedHash: headB.Hash,
	}}, findings)
	require.Equal(t, `tailguard: stream "jd.a" truncated: recorded version 7, the store holds 4`, findings[0].String())

	// Served anyway, the short log grows other events at versions 5 to 8:
	// the event at the recorded version is not the recorded one.
	h = handler.New(store, handler.Config{Clock: clock})
	topUps(t, h, a, 4, "9")
	findings, err = tailguard.Verify(ctx, store, saved)
	require.NoError(t, err)
	require.Len(t, findings, 1)
	f := findings[0]
	require.Equal(t, tailguard.KindAltered, f.Kind)
	require.Equal(t, a.Stream(), f.Stream)
	require.Equal(t, uint64(7), f.Recorded)
	require.Equal(t, uint64(8), f.Found)
	require.Equal(t, headB.Hash, f.RecordedHash)
	recs, err = store.ReadStream(ctx, a.Stream(), 7, 1)
	require.NoError(t, err)
	require.Equal(t, recs[0].Hash, f.FoundHash)
	require.NotEqual(t, f.RecordedHash, f.FoundHash)
}

// TestVerifyReportsAlteredHead: a recorded hash that the event at its
// version does not carry is "altered", at the head and below it; a stream
// the store does not have is "truncated" to 0; store errors are errors.
func TestVerifyReportsAlteredHead(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, t.TempDir())
	h := handler.New(store, handler.Config{Clock: clock})
	a := shopRef("a")
	newShop(t, h, a)
	topUps(t, h, a, 2, "3")
	head := headOf(t, store, a.Stream())
	require.Equal(t, uint64(4), head.Version)
	recs, err := store.ReadStream(ctx, a.Stream(), 2, 1)
	require.NoError(t, err)
	second := recs[0].Hash

	wrong := head.Hash
	wrong[0] ^= 1
	cases := []struct {
		name  string
		heads map[string]tailguard.Head
		want  []tailguard.Finding
	}{
		{"the right head", map[string]tailguard.Head{a.Stream(): head}, nil},
		{"the right hash below the head", map[string]tailguard.Head{a.Stream(): {Version: 2, Hash: second}}, nil},
		{"a wrong hash at the head", map[string]tailguard.Head{a.Stream(): {Version: 4, Hash: wrong}},
			[]tailguard.Finding{{Kind: tailguard.KindAltered, Stream: a.Stream(), Recorded: 4, Found: 4, RecordedHash: wrong, FoundHash: head.Hash}}},
		{"a wrong hash below the head", map[string]tailguard.Head{a.Stream(): {Version: 2, Hash: head.Hash}},
			[]tailguard.Finding{{Kind: tailguard.KindAltered, Stream: a.Stream(), Recorded: 2, Found: 4, RecordedHash: head.Hash, FoundHash: second}}},
		{"one version past the head", map[string]tailguard.Head{a.Stream(): {Version: 5, Hash: head.Hash}},
			[]tailguard.Finding{{Kind: tailguard.KindTruncated, Stream: a.Stream(), Recorded: 5, Found: 4, RecordedHash: head.Hash}}},
		{"a stream the store lost whole", map[string]tailguard.Head{a.Stream(): head, "jd.gone": {Version: 1, Hash: second}},
			[]tailguard.Finding{{Kind: tailguard.KindTruncated, Stream: "jd.gone", Recorded: 1, Found: 0, RecordedHash: second}}},
		{"findings in stream order", map[string]tailguard.Head{"jd.z": {Version: 1, Hash: second}, a.Stream(): {Version: 4, Hash: wrong}, "jd.b": {Version: 1, Hash: second}},
			[]tailguard.Finding{
				{Kind: tailguard.KindAltered, Stream: a.Stream(), Recorded: 4, Found: 4, RecordedHash: wrong, FoundHash: head.Hash},
				{Kind: tailguard.KindTruncated, Stream: "jd.b", Recorded: 1, Found: 0, RecordedHash: second},
				{Kind: tailguard.KindTruncated, Stream: "jd.z", Recorded: 1, Found: 0, RecordedHash: second},
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			findings, err := tailguard.Verify(ctx, store, c.heads)
			require.NoError(t, err)
			require.Equal(t, c.want, findings)
		})
	}

	// An event whose body was changed in place but still carries the
	// recorded hash: its content does not hash to it.
	altered := tamperingStore{Store: store, tamper: func(e *eventstore.RecordedEvent) { e.Data[len(e.Data)-2] ^= 1 }}
	findings, err := tailguard.Verify(ctx, altered, map[string]tailguard.Head{a.Stream(): head})
	require.NoError(t, err)
	require.Equal(t, []tailguard.Finding{{Kind: tailguard.KindAltered, Stream: a.Stream(), Recorded: 4, Found: 4,
		RecordedHash: head.Hash, FoundHash: head.Hash}}, findings)

	// A store that claims a version but has no event there is an error,
	// not a clean result.
	missing := tamperingStore{Store: store, empty: true}
	_, err = tailguard.Verify(ctx, missing, map[string]tailguard.Head{a.Stream(): head})
	require.ErrorContains(t, err, "returns no event at 4")

	require.NoError(t, store.Close())
	_, err = tailguard.Verify(ctx, store, map[string]tailguard.Head{a.Stream(): head})
	require.ErrorIs(t, err, eventstore.ErrClosed)
}

// tamperingStore changes what ReadStream returns: each event through
// tamper, or nothing at all when empty.
type tamperingStore struct {
	eventstore.Store
	tamper func(*eventstore.RecordedEvent)
	empty  bool
}

func (s tamperingStore) ReadStream(ctx context.Context, stream string, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	recs, err := s.Store.ReadStream(ctx, stream, from, max)
	if s.empty {
		return nil, err
	}
	for i := range recs {
		if s.tamper != nil {
			s.tamper(&recs[i])
		}
	}
	return recs, err
}
