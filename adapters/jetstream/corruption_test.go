package jetstream_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/highwayhash"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/eventstore/integrity"
	"github.com/payoutledger/ledger/eventstore/tailguard"
)

// These tests damage the files of a closed embedded store the way a disk,
// a crash or an operator can, reopen it as payoutd does (jetstream.Open,
// then integrity.Check against the heads kept outside the data dir), and
// pin down, case by case, what nats-server v2.15.2 does with the damage
// and what the ledger reports. The rule they enforce: whenever the store
// serves a shorter or altered history, a check reports it, naming the
// stream and version or the position; where nothing can, the case says so
// (undetected) and docs/faults.md lists it.

// corrFixture is a closed store holding corrShops JD shops' events,
// appended through the command path, round robin so that the tail of the
// log mixes streams.
type corrFixture struct {
	dir     string                    // the data dir, closed
	backup  string                    // a copy of it taken after corrBackupAt events
	heads   map[string]tailguard.Head // recorded by the handler, flushed at Close
	early   map[string]tailguard.Head // flushed after corrEarlyFlushAt events
	log     []eventstore.RecordedEvent
	streams []string
}

const (
	corrShops        = 4
	corrRounds       = 70  // top-ups per shop; 2 set-up events each: 288 events
	corrBackupAt     = 200 // events in the backup copy
	corrEarlyFlushAt = 280 // events whose heads the early heads file holds
)

func buildCorrFixture(t *testing.T) *corrFixture {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	fx := &corrFixture{dir: filepath.Join(root, "data"), backup: filepath.Join(root, "backup")}
	headsFile := tailguard.FileStore{Path: filepath.Join(root, "heads.json")}
	clk := func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) }
	op := domain.Actor{ID: "ops", Role: domain.RoleOperator}
	admin := domain.Actor{ID: "admin", Role: domain.RoleMain}

	store, err := jetstream.Open(ctx, jetstream.Config{DataDir: fx.dir})
	require.NoError(t, err)
	guard := tailguard.New(headsFile, nil)
	h := handler.New(store, handler.Config{Clock: clk, OnAppend: guard.Record})
	events := 0
	do := func(a domain.Actor, c domain.Command) {
		t.Helper()
		res, err := h.Handle(ctx, c, handler.Meta{Actor: a, IdempotencyKey: fmt.Sprintf("k%d", events)})
		require.NoError(t, err, c.CommandName())
		events += len(res.Events)
		switch events {
		case corrBackupAt:
			// A backup of the closed data dir, as an operator takes one.
			require.NoError(t, store.Close())
			corrCopyDir(t, fx.dir, fx.backup)
			store, err = jetstream.Open(ctx, jetstream.Config{DataDir: fx.dir})
			require.NoError(t, err)
			h = handler.New(store, handler.Config{Clock: clk, OnAppend: guard.Record})
		case corrEarlyFlushAt:
			require.NoError(t, guard.Flush(ctx))
			fx.early = guard.Heads()
		}
	}
	refs := make([]domain.Ref, corrShops)
	for i := range refs {
		refs[i] = domain.Ref{ShopRef: domain.ShopRef{Platform: domain.PlatformJD, ShopID: fmt.Sprintf("c%d", i)}}
		fx.streams = append(fx.streams, refs[i].Stream())
		do(op, domain.RegisterShop{Ref: refs[i], Name: "shop", MainAccount: "admin", EntityType: "enterprise",
			CooperationMode: "sop", AfterSalesSelfService: true})
		do(admin, domain.OpenFundingAccount{Ref: refs[i], Kind: domain.AccountWallet})
	}
	for k := range corrRounds {
		for _, ref := range refs {
			do(admin, domain.TopUp{Ref: ref, Kind: domain.AccountWallet, Amount: decimal.New(int64(100+k), -2)})
		}
	}
	require.Equal(t, corrShops*(2+corrRounds), events)
	require.NotNil(t, fx.early)
	fx.log = readAll(t, store)
	require.Len(t, fx.log, events)
	require.NoError(t, guard.Close())
	require.NoError(t, store.Close())
	fx.heads, err = headsFile.Load(ctx)
	require.NoError(t, err)
	require.Len(t, fx.heads, corrShops)
	return fx
}

// at returns the pristine event at a position (1-based).
func (fx *corrFixture) at(pos uint64) eventstore.RecordedEvent { return fx.log[pos-1] }

// nextOf returns the position of the stream's next event after pos.
func (fx *corrFixture) nextOf(pos uint64) uint64 {
	st := fx.at(pos).Stream
	for _, e := range fx.log[pos:] {
		if e.Stream == st {
			return e.Position
		}
	}
	return 0
}

// truncatedTo is what the recorded heads report when only the first n
// positions survive: each stream that lost events, truncated after its
// last surviving version.
func (fx *corrFixture) truncatedTo(n int) []corrWant {
	kept := map[string]uint64{}
	for _, e := range fx.log[:n] {
		kept[e.Stream] = e.Version
	}
	var out []corrWant
	for _, st := range fx.streams {
		if kept[st] < fx.heads[st].Version {
			out = append(out, corrWant{integrity.KindTruncated, st, kept[st] + 1, 0})
		}
	}
	return out
}

// corrWant is an expected finding (its Detail is for people).
type corrWant struct {
	kind     integrity.Kind
	stream   string
	version  uint64
	position uint64
}

func corrGot(r integrity.Report) []corrWant {
	var out []corrWant
	for _, f := range r.Findings {
		out = append(out, corrWant{f.Kind, f.Stream, f.Version, f.Position})
	}
	return out
}

// corrLastOf returns the position of the stream's last event.
func (fx *corrFixture) lastOf(stream string) uint64 {
	for i := len(fx.log) - 1; i >= 0; i-- {
		if fx.log[i].Stream == stream {
			return fx.log[i].Position
		}
	}
	return 0
}

// blockRecord is one message record of a JetStream message block file
// (nats-server filestore.go, writeMsgRecord): rl uint32 (high bit: has
// headers), seq uint64, ts int64, subject length uint16, subject, header
// length uint32 and headers, body, then an 8-byte highwayhash of seq, ts,
// subject, headers and body.
type blockRecord struct {
	off, hdr, body, sum, end int
}

func parseBlock(t *testing.T, b []byte) []blockRecord {
	t.Helper()
	var out []blockRecord
	for off := 0; off < len(b); {
		require.GreaterOrEqual(t, len(b)-off, 22+8, "record header at %d", off)
		rl := binary.LittleEndian.Uint32(b[off:])
		require.NotZero(t, rl&(1<<31), "every ledger message has headers")
		rl &^= 1 << 31
		slen := int(binary.LittleEndian.Uint16(b[off+20:]))
		p := off + 22 + slen
		r := blockRecord{off: off, hdr: p + 4, end: off + int(rl)}
		r.body = r.hdr + int(binary.LittleEndian.Uint32(b[p:]))
		r.sum = r.end - 8
		require.LessOrEqual(t, r.end, len(b))
		out = append(out, r)
		off = r.end
	}
	return out
}

// resum recomputes a record's checksum as the server would (key: sha256 of
// "<stream>-<block index>"): a deliberate edit the server cannot tell from
// the original.
func resum(t *testing.T, b []byte, r blockRecord, block int) {
	key := sha256.Sum256([]byte(fmt.Sprintf("%s-%d", jetstream.DefaultStreamName, block)))
	hh, err := highwayhash.NewDigest64(key[:])
	require.NoError(t, err)
	hh.Write(b[r.off+4 : r.off+20])
	hh.Write(b[r.off+22 : r.hdr-4])
	hh.Write(b[r.hdr:r.sum])
	copy(b[r.sum:r.end], hh.Sum(nil))
}

func streamDir(dataDir string) string {
	return filepath.Join(dataDir, "jetstream", "$G", "streams", jetstream.DefaultStreamName)
}

// onlyBlock returns the path of the stream's message block: a few hundred
// events fit in one (nats-server uses 8 MB blocks for a limits stream).
func onlyBlock(t *testing.T, dataDir string) string {
	t.Helper()
	blocks, err := filepath.Glob(filepath.Join(streamDir(dataDir), "msgs", "*.blk"))
	require.NoError(t, err)
	require.Len(t, blocks, 1, "the fixture fits in one block")
	return blocks[0]
}

func editBlock(t *testing.T, dataDir string, edit func(b []byte, recs []blockRecord) []byte) {
	t.Helper()
	path := onlyBlock(t, dataDir)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b = edit(b, parseBlock(t, b))
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

func flipFileByte(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Greater(t, len(b), at)
	b[at] ^= 0x01
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

func corrCopyDir(t *testing.T, src, dst string) {
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
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
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

// TestDiskDamageIsReportedNeverServedSilently is issue 6's corruption
// table. For every kind of damage it records what nats-server did (the
// stream state it reports) and asserts what integrity.Check reports in
// both modes, with the recorded heads and without them.
func TestDiskDamageIsReportedNeverServedSilently(t *testing.T) {
	fx := buildCorrFixture(t)
	const mid = 101 // a position in the middle of the log
	midEv, lastEv := fx.at(mid), fx.log[len(fx.log)-1]
	total := uint64(len(fx.log))
	quickOpts := integrity.Options{Mode: integrity.Quick, TailEvents: 20}

	type serverSaw struct{ msgs, lastSeq, numDeleted uint64 }
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		heads  map[string]tailguard.Head // nil: fx.heads
		// server: the stream state nats-server reports after recovery.
		server serverSaw
		// served: events the store returns, identical to the pristine ones.
		served int
		quick  []corrWant
		full   []corrWant
		// onlyHeads: without the recorded heads, nothing finds the damage.
		onlyHeads bool
		// undetected: nothing finds it, heads included (docs/faults.md).
		undetected bool
		// then: further assertions on the reopened store.
		then func(t *testing.T, s *jetstream.Store)
	}{
		{
			name: "a body bit flipped in the middle: the server skips the message",
			damage: func(t *testing.T, dir string) {
				editBlock(t, dir, func(b []byte, r []blockRecord) []byte { b[r[mid-1].body+20] ^= 0x04; return b })
			},
			server: serverSaw{total, total, 0}, served: int(total) - 1,
			quick: nil, // below the last 20 events of its stream and of the log: Full only
			full: []corrWant{
				{integrity.KindGap, "", 0, mid},
				{integrity.KindGap, midEv.Stream, midEv.Version, fx.nextOf(mid)},
			},
			then: func(t *testing.T, s *jetstream.Store) {
				// The command path refuses the shop rather than serve it short.
				_, err := s.ReadStream(ctx10(t), midEv.Stream, 1, 1000)
				require.ErrorIs(t, err, eventstore.ErrChainBroken)
			},
		},
		{
			name: "a body bit flipped in the last message: the stream's head reads as empty",
			damage: func(t *testing.T, dir string) {
				editBlock(t, dir, func(b []byte, r []blockRecord) []byte { b[r[len(r)-1].body+20] ^= 0x04; return b })
			},
			server: serverSaw{total, total, 0}, served: int(total) - 1,
			quick: []corrWant{
				{integrity.KindTruncated, lastEv.Stream, 1, 0},
				{integrity.KindTruncated, lastEv.Stream, 1, fx.lastOf(lastEv.Stream) - corrShops},
			},
			full: []corrWant{
				{integrity.KindTruncated, lastEv.Stream, 1, 0},
				{integrity.KindTruncated, lastEv.Stream, 1, fx.lastOf(lastEv.Stream) - corrShops},
			},
			then: func(t *testing.T, s *jetstream.Store) {
				// Why it must not be served: the server takes an append at
				// version 0 of a stream that holds 71 readable events.
				v, _, err := s.Head(ctx10(t), lastEv.Stream)
				require.NoError(t, err)
				require.Zero(t, v)
				_, err = s.Append(ctx10(t), lastEv.Stream, eventstore.NoStream, newEvs("Forked", 1))
				require.NoError(t, err, "nats-server accepted a second version 1")
			},
		},
		{
			name: "an amount edited with the checksum recomputed: the server serves it",
			damage: func(t *testing.T, dir string) {
				editBlock(t, dir, func(b []byte, r []blockRecord) []byte {
					last := r[len(r)-1]
					i := strings.Index(string(b[last.body:last.sum]), `"amount":"`)
					require.GreaterOrEqual(t, i, 0)
					b[last.body+i+len(`"amount":"`)] = '9' // 1.69 becomes 9.69, still valid JSON
					resum(t, b, last, 1)
					return b
				})
			},
			server: serverSaw{total, total, 0}, served: int(total) - 1,
			quick: []corrWant{
				{integrity.KindAltered, lastEv.Stream, lastEv.Version, total},
				{integrity.KindAltered, lastEv.Stream, lastEv.Version, total},
				{integrity.KindAltered, lastEv.Stream, lastEv.Version, total},
			},
			full: []corrWant{
				{integrity.KindAltered, lastEv.Stream, lastEv.Version, total},
				{integrity.KindAltered, lastEv.Stream, lastEv.Version, total},
			},
		},
		{
			name: "a bit flipped in the Ledger-Hash header: the server skips the message",
			damage: func(t *testing.T, dir string) {
				editBlock(t, dir, func(b []byte, r []blockRecord) []byte {
					hdr := string(b[r[mid-1].hdr:r[mid-1].body])
					i := strings.Index(hdr, jetstream.HeaderHash+": ")
					require.GreaterOrEqual(t, i, 0)
					b[r[mid-1].hdr+i+len(jetstream.HeaderHash)+2] ^= 0x01
					return b
				})
			},
			server: serverSaw{total, total, 0}, served: int(total) - 1,
			full: []corrWant{
				{integrity.KindGap, "", 0, mid},
				{integrity.KindGap, midEv.Stream, midEv.Version, fx.nextOf(mid)},
			},
		},
		{
			name: "a bit flipped in a record checksum: the server skips the message",
			damage: func(t *testing.T, dir string) {
				editBlock(t, dir, func(b []byte, r []blockRecord) []byte { b[r[mid-1].sum] ^= 0x80; return b })
			},
			server: serverSaw{total, total, 0}, served: int(total) - 1,
			full: []corrWant{
				{integrity.KindGap, "", 0, mid},
				{integrity.KindGap, midEv.Stream, midEv.Version, fx.nextOf(mid)},
			},
		},
		{
			name: "a body bit flipped, then recovery without index.db (as after a crash): the server truncates the block there",
			damage: func(t *testing.T, dir string) {
				editBlock(t, dir, func(b []byte, r []blockRecord) []byte { b[r[mid-1].body+20] ^= 0x04; return b })
				require.NoError(t, os.Remove(filepath.Join(streamDir(dir), "msgs", "index.db")))
			},
			server: serverSaw{mid - 1, mid - 1, 0}, served: mid - 1,
			quick: fx.truncatedTo(mid - 1), full: fx.truncatedTo(mid - 1), onlyHeads: true,
		},
		{
			name: "the last block cut by 5 bytes: the server drops its last message",
			damage: func(t *testing.T, dir string) {
				editBlock(t, dir, func(b []byte, _ []blockRecord) []byte { return b[:len(b)-5] })
			},
			server: serverSaw{total - 1, total, 1}, served: int(total) - 1,
			quick: fx.truncatedTo(int(total) - 1), full: fx.truncatedTo(int(total) - 1), onlyHeads: true,
		},
		{
			name: "the last block cut by one whole message",
			damage: func(t *testing.T, dir string) {
				editBlock(t, dir, func(b []byte, r []blockRecord) []byte { return b[:r[len(r)-1].off] })
			},
			server: serverSaw{total - 1, total, 1}, served: int(total) - 1,
			quick: fx.truncatedTo(int(total) - 1), full: fx.truncatedTo(int(total) - 1), onlyHeads: true,
		},
		{
			name: "the last block cut by ten messages",
			damage: func(t *testing.T, dir string) {
				editBlock(t, dir, func(b []byte, r []blockRecord) []byte { return b[:r[len(r)-10].off] })
			},
			server: serverSaw{total - 10, total, 10}, served: int(total) - 10,
			quick: fx.truncatedTo(int(total) - 10), full: fx.truncatedTo(int(total) - 10), onlyHeads: true,
		},
		{
			name: "the last (here: only) block file removed: the server starts an empty stream",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.Remove(onlyBlock(t, dir)))
			},
			server: serverSaw{0, total, 0}, served: 0,
			quick: fx.truncatedTo(0), full: fx.truncatedTo(0), onlyHeads: true,
		},
		{
			name: "an older copy of the data dir restored",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.RemoveAll(dir))
				corrCopyDir(t, fx.backup, dir)
			},
			server: serverSaw{corrBackupAt, corrBackupAt, 0}, served: corrBackupAt,
			quick: fx.truncatedTo(corrBackupAt), full: fx.truncatedTo(corrBackupAt), onlyHeads: true,
		},
		{
			name: "index.db bit flipped: the server rebuilds it from the blocks",
			damage: func(t *testing.T, dir string) {
				flipFileByte(t, filepath.Join(streamDir(dir), "msgs", "index.db"), 10)
			},
			server: serverSaw{total, total, 0}, served: int(total),
		},
		{
			name: "index.db removed: the server rebuilds it from the blocks",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.Remove(filepath.Join(streamDir(dir), "msgs", "index.db")))
			},
			server: serverSaw{total, total, 0}, served: int(total),
		},
		{
			name: "meta.inf bit flipped: the server drops the stream definition, Open re-creates it over the same blocks",
			damage: func(t *testing.T, dir string) {
				flipFileByte(t, filepath.Join(streamDir(dir), "meta.inf"), 20)
			},
			server: serverSaw{total, total, 0}, served: int(total),
		},
		{
			name: "meta.inf removed: Open re-creates the stream over the same blocks",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.Remove(filepath.Join(streamDir(dir), "meta.inf")))
			},
			server: serverSaw{total, total, 0}, served: int(total),
		},
		{
			name: "the tail lost after the last flush of the heads: UNDETECTED",
			damage: func(t *testing.T, dir string) {
				editBlock(t, dir, func(b []byte, r []blockRecord) []byte { return b[:r[corrEarlyFlushAt+3].off] })
			},
			heads:  fx.early,
			server: serverSaw{corrEarlyFlushAt + 3, total, total - corrEarlyFlushAt - 3}, served: corrEarlyFlushAt + 3,
			undetected: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			corrCopyDir(t, fx.dir, dir)
			c.damage(t, dir)
			heads := c.heads
			if heads == nil {
				heads = fx.heads
			}

			// payoutd's start: Open (no case makes the server refuse), then
			// the check against the heads kept outside the data dir.
			s, err := jetstream.Open(t.Context(), jetstream.Config{DataDir: dir})
			require.NoError(t, err, "nats-server v2.15.2 starts on every one of these")
			defer s.Close()
			info, err := jetstream.StreamOf(s).Info(ctx10(t))
			require.NoError(t, err)
			require.Equal(t, c.server, serverSaw{info.State.Msgs, info.State.LastSeq, uint64(info.State.NumDeleted)}, "what the server recovered")

			served := readAll(t, s)
			same := 0
			for _, e := range served {
				if e.Position <= total {
					p := fx.at(e.Position)
					if p.ID == e.ID && p.Hash == e.Hash && string(p.Data) == string(e.Data) {
						same++
					}
				}
			}
			require.Equal(t, c.served, same, "pristine events the store serves")
			damaged := same < len(fx.log)

			quick, err := integrity.Check(t.Context(), s, heads, quickOpts)
			require.NoError(t, err)
			full, err := integrity.Check(t.Context(), s, heads, integrity.Options{Mode: integrity.Full})
			require.NoError(t, err)
			for _, f := range full.Findings {
				t.Logf("full: %s", f)
			}
			require.Equal(t, c.quick, corrGot(quick), "quick check")
			require.Equal(t, c.full, corrGot(full), "full check")
			require.Equal(t, len(c.full) == 0, full.Err() == nil)
			if len(c.full) > 0 {
				require.ErrorIs(t, full.Err(), integrity.ErrDamaged)
			}

			switch {
			case c.undetected:
				require.True(t, damaged)
				require.True(t, quick.OK() && full.OK())
				t.Logf("UNDETECTED: %d acknowledged events lost and nothing reports it (their heads were not flushed yet)", len(fx.log)-same)
			case damaged:
				require.False(t, full.OK(), "a shorter or altered history must be reported")
				bare, err := integrity.Check(t.Context(), s, nil, integrity.Options{Mode: integrity.Full})
				require.NoError(t, err)
				if c.onlyHeads {
					require.True(t, bare.OK(), "without recorded heads this damage is invisible: %v", bare.Findings)
					t.Logf("detected only by the recorded heads: %d events lost, the rest of the log is consistent", len(fx.log)-same)
				} else {
					require.False(t, bare.OK(), "found without recorded heads too")
				}
			default:
				require.True(t, quick.OK() && full.OK())
			}
			if c.then != nil {
				c.then(t, s)
			}
		})
	}
}
