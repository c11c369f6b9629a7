package handler_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// crashChildEnv, when set to "<data dir>|<ack file>|<cycle>", turns the
// test binary into the crash test's child.
const crashChildEnv = "LEDGER_HANDLER_CRASH_CHILD"

func TestMain(m *testing.M) {
	if arg := os.Getenv(crashChildEnv); arg != "" {
		os.Exit(crashChild(arg))
	}
	code := m.Run()
	for _, closeStore := range benchStores {
		closeStore()
	}
	os.Exit(code)
}

const (
	crashShops = 8
	crashCap   = "10000" // per shop and day
)

func crashRef(i int) domain.Ref {
	return domain.Ref{ShopRef: domain.ShopRef{Platform: domain.PlatformJD, ShopID: fmt.Sprintf("crash%d", i)}}
}

// TestKill9AcknowledgedCommandsSurvive runs the handler with group commit
// in a child process (this test binary re-executed) under 48 concurrent
// clients that append each acknowledged payout to a file right after its
// acknowledgement. The child is killed with SIGKILL at a random moment,
// twice on one data dir. Then: every acknowledged payout is stored exactly
// once, no payout is stored twice, every stream's hash chain verifies, and
// a fresh replay keeps every shop's day under its cap and holds exactly
// the acknowledged payouts plus at most those in flight at the kill.
func TestKill9AcknowledgedCommandsSurvive(t *testing.T) {
	dir := t.TempDir()
	acksFile := filepath.Join(t.TempDir(), "acks")
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for cycle := 1; cycle <= 2; cycle++ {
		runChildAndKill(t, dir, acksFile, cycle, time.Duration(300+rng.Intn(1200))*time.Millisecond)
	}
	acked := readAcks(t, acksFile)
	require.NotEmpty(t, acked)

	s, err := jetstream.Open(t.Context(), jetstream.Config{DataDir: dir})
	require.NoError(t, err, "reopen after kill -9")
	defer s.Close()
	stored := map[string]int{} // payout ID -> times stored
	for i := 0; i < crashShops; i++ {
		ref := crashRef(i)
		v := eventstore.ChainVerifier{Stream: ref.Stream()}
		for from := uint64(1); ; {
			recs, err := s.ReadStream(t.Context(), ref.Stream(), from, 1000)
			require.NoError(t, err)
			for _, r := range recs {
				require.NoError(t, v.Check(r))
				ev, err := handler.Decode(r)
				require.NoError(t, err)
				if p, ok := ev.Data.(domain.PayoutInitiated); ok {
					stored[p.PayoutID]++
				}
				from = r.Version + 1
			}
			if len(recs) < 1000 {
				break
			}
		}
		state, err := handler.New(s, handler.Config{Clock: func() time.Time { return start }}).State(t.Context(), ref.ShopRef)
		require.NoError(t, err)
		for day := 1; day <= 2; day++ {
			total := state.DayTotals(start.AddDate(0, 0, day).In(shanghai).Format("2006-01-02")).Amount
			require.False(t, total.GreaterThan(dec(crashCap)), "shop %d day %d: %s above the cap", i, day, total)
		}
	}
	for id, n := range stored {
		require.Equal(t, 1, n, "payout %s stored %d times", id, n)
	}
	for id := range acked {
		require.Equal(t, 1, stored[id], "acknowledged payout %s lost", id)
	}
	t.Logf("%d acknowledged payouts survived two kills; %d stored (the rest were in flight)", len(acked), len(stored))
}

// runChildAndKill starts the child, waits for it to be ready and to have
// acknowledged something, lets it run for d and kills it with SIGKILL.
func runChildAndKill(t *testing.T, dir, acks string, cycle int, d time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9AcknowledgedCommandsSurvive$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%s|%d", crashChildEnv, dir, acks, cycle))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && line != "READY\n" {
			err = fmt.Errorf("child: %s", line)
		}
		ready <- err
		_, _ = bufio.NewReader(out).WriteTo(os.Stderr)
	}()
	select {
	case err := <-ready:
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			require.NoError(t, err)
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		require.FailNow(t, "child not ready within 60 s")
	}
	time.Sleep(d)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	err = cmd.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "child must die by the signal, got %v", err)
	require.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal())
}

// readAcks reads "<payout ID> <amount>" lines; a last line without its
// newline was cut by the kill and does not count.
func readAcks(t *testing.T, path string) map[string]decimal.Decimal {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	out := map[string]decimal.Decimal{}
	lines := strings.Split(string(b), "\n")
	for _, line := range lines[:len(lines)-1] {
		f := strings.Fields(line)
		require.Len(t, f, 2, "ack line %q", line)
		_, dup := out[f[0]]
		require.False(t, dup, "payout %s acknowledged twice", f[0])
		out[f[0]] = dec(f[1])
	}
	return out
}

// crashChild sets the shops up (idempotently: the second child replays
// the first's setup), then runs clients until killed. Each client writes
// "<payout ID> <amount>\n" to the ack file, one write per line, only after
// Handle returned success.
func crashChild(arg string) int {
	parts := strings.Split(arg, "|")
	if len(parts) != 3 {
		fmt.Printf("bad %s %q\n", crashChildEnv, arg)
		return 2
	}
	dir, ackPath, cycle := parts[0], parts[1], parts[2]
	ctx := context.Background()
	store, err := jetstream.Open(ctx, jetstream.Config{DataDir: dir})
	if err != nil {
		fmt.Printf("open: %v\n", err)
		return 2
	}
	acks, err := os.OpenFile(ackPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Printf("ack file: %v\n", err)
		return 2
	}
	day := 1
	if cycle == "2" {
		day = 2
	}
	now := start.AddDate(0, 0, day)
	h := handler.New(store, handler.Config{Clock: func() time.Time { return now }})
	const orders = 40
	for i := 0; i < crashShops; i++ {
		ref := crashRef(i)
		steps := []struct {
			a domain.Actor
			c domain.Command
		}{
			{operator, domain.RegisterShop{Ref: ref, Name: "shop", MainAccount: "admin", EntityType: "enterprise", CooperationMode: "sop", AfterSalesSelfService: true}},
			{admin, domain.OpenFundingAccount{Ref: ref, Kind: domain.AccountWallet}},
			{admin, domain.TopUp{Ref: ref, Kind: domain.AccountWallet, Amount: dec("10000000")}},
			{admin, domain.EnrollShop{Ref: ref, AcceptAgreement: true, Limits: domain.Limits{DailyAmount: decp(crashCap)}}},
		}
		for k := 0; k < orders; k++ {
			steps = append(steps, struct {
				a domain.Actor
				c domain.Command
			}{operator, domain.RegisterOrder{Ref: ref, OrderID: fmt.Sprintf("O%d", k), Buyer: "b", CashPaid: dec("500"),
				Status: domain.OrderPaid, PlacedAt: start}})
		}
		for k, st := range steps {
			if _, err := h.Handle(ctx, st.c, handler.Meta{Actor: st.a, IdempotencyKey: fmt.Sprintf("setup-%d-%d", i, k)}); err != nil {
				fmt.Printf("setup %s: %v\n", st.c.CommandName(), err)
				return 2
			}
		}
	}
	var failMu sync.Mutex
	fail := func(err error) {
		failMu.Lock()
		fmt.Fprintf(os.Stderr, "crash child: %v\n", err)
		os.Exit(3)
	}
	client := func(n int) {
		rng := rand.New(rand.NewSource(int64(n) + time.Now().UnixNano()))
		for k := 0; ; k++ {
			ref := crashRef(rng.Intn(crashShops))
			id := fmt.Sprintf("c%s-%d-%d", cycle, n, k)
			amount := decimal.New(int64(100+rng.Intn(2900)), -2)
			_, err := h.Handle(ctx, payout(ref, id, fmt.Sprintf("O%d", rng.Intn(orders)), amount.String()),
				handler.Meta{Actor: admin, IdempotencyKey: id})
			var rej *domain.Rejection
			switch {
			case err == nil:
				if _, err := acks.WriteString(id + " " + amount.String() + "\n"); err != nil {
					fail(err)
				}
			case errors.As(err, &rej) && rej.Code == "jd.limits":
			case errors.Is(err, handler.ErrConflict):
			default:
				fail(err)
			}
		}
	}
	for n := 0; n < 48; n++ {
		go client(n)
	}
	fmt.Println("READY")
	select {} // until SIGKILL
}
