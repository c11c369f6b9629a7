package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/adapters/tokens"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/faulttest"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/eventstore/integrity"
	"github.com/payoutledger/ledger/eventstore/tailguard"
	"github.com/payoutledger/ledger/projections"
)

// crashChildEnv, set to "1", turns the test binary into payoutd itself
// (Main with the binary's arguments): the crash test's child process.
const crashChildEnv = "PAYOUTD_CRASH_CHILD"

// Cycles of the crash test: PAYOUT_SOAK=1 (make soak) runs the long one.
const (
	crashCycles      = 5
	crashCyclesShort = 2
	crashCyclesSoak  = 50
	crashWorkers     = 6
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) == "1" {
		// No environment configuration: the child runs on its arguments
		// only, whatever PAYOUTD_* the developer's shell holds.
		os.Exit(Main(context.Background(), os.Args[1:], func(string) string { return "" }, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestKill9UnderLoadLosesNothing (5 cycles; 2 with -short; 50 with
// PAYOUT_SOAK=1; PAYOUT_CRASH_SEED=n replays a kill schedule) runs payoutd as a real child process on
// one data dir while several keep-alive HTTP clients send commands
// (orders, payouts and their lifecycle, funding) to shops of four
// platforms, each with a daily cap. Every 1-3 s (seeded) the child is
// killed with SIGKILL; with the child dead the test opens the store and
// checks, Jepsen-style, that no acknowledged command was lost, none was
// stored twice, no refused one is in the log, every chain verifies and no
// shop's daily total exceeds its cap; then it restarts the child on the
// same dir, compares the payout records the API serves with a fresh replay
// of the log, and retries every command whose outcome the clients never
// learned, with its idempotency key: the retry answers the first outcome
// (replayed, the very events in the log) or decides afresh when the first
// attempt left nothing, never appending a second time.
func TestKill9UnderLoadLosesNothing(t *testing.T) {
	cycles := crashCycles
	if testing.Short() {
		cycles = crashCyclesShort
	}
	if os.Getenv("PAYOUT_SOAK") == "1" {
		cycles = crashCyclesSoak
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PAYOUT_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "PAYOUT_CRASH_SEED")
		seed = v
	}
	t.Logf("crash test: %d cycles, seed %d (PAYOUT_CRASH_SEED=%d reproduces the kill schedule)", cycles, seed, seed)
	sched := rand.New(rand.NewPCG(seed, 0x6b696c6c))

	h := newCrashHarness(t, seed)
	c := h.startChild()
	h.setup(c.api)

	acked := 0
	for cycle := 1; cycle <= cycles; cycle++ {
		after := time.Second + time.Duration(sched.Int64N(int64(2*time.Second)))
		load := h.runLoad(cycle, c.api)
		time.Sleep(after)
		c.kill9(t)
		load.stopAndWait()
		t.Logf("cycle %d: killed after %s under load (%d requests sent, %d answered 5xx)", cycle, after.Round(time.Millisecond), load.sent.Load(), load.fiveXX.Load())

		in := h.inspect(fmt.Sprintf("cycle %d", cycle))
		require.Greater(t, in.report.Acknowledged, acked, "cycle %d: the clients got no acknowledgement before the kill", cycle)
		acked = in.report.Acknowledged

		c = h.startChild()
		h.compareRecords(c.api, in.records)
		h.retryUnknowns(c.api, in.byKey, cycle)
	}
	c.kill9(t)
	h.inspect("final")
	require.Zero(t, h.badAnswers.Load(), "answers that show a malformed request of the test (see the errors above)")
}

// --- the child process -------------------------------------------------

type crashChild struct {
	cmd    *exec.Cmd
	api    string
	out    *addrWatcher
	stderr *lockedBuffer
	exited chan struct{}
	err    error // Wait's, once exited is closed
}

// startChild starts payoutd on the harness's data dir, reads the API
// address it prints and waits for /readyz.
func (h *crashHarness) startChild() *crashChild {
	t := h.t
	t.Helper()
	c := &crashChild{out: &addrWatcher{addr: make(chan string, 1)}, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-data", h.dir, "-http", "127.0.0.1:0", "-nats-listen", "none", "-log-level", "warn")
	c.cmd.Env = append(os.Environ(), crashChildEnv+"=1")
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.stderr
	require.NoError(t, c.cmd.Start())
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.exited
	})
	select {
	case c.api = <-c.out.addr:
	case <-c.exited:
		require.FailNow(t, "payoutd exited before serving", "%v\nstdout:\n%s\nstderr:\n%s", c.err, c.out.String(), c.stderr.String())
	case <-time.After(3 * time.Minute):
		require.FailNow(t, "payoutd printed no API address within 3 minutes", "stderr:\n%s", c.stderr.String())
	}
	c.waitReady(t)
	return c
}

// waitReady polls /readyz: the read models and the timers caught up.
func (c *crashChild) waitReady(t *testing.T) {
	t.Helper()
	cl := &http.Client{Timeout: 30 * time.Second}
	defer cl.CloseIdleConnections()
	deadline := time.Now().Add(3 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-c.exited:
			require.FailNow(t, "payoutd exited before it was ready", "%v\nstderr:\n%s", c.err, c.stderr.String())
		default:
		}
		res, err := cl.Get(c.api + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
			last = string(body)
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.FailNow(t, "payoutd not ready within 3 minutes", "last /readyz: %s\nstderr:\n%s", last, c.stderr.String())
}

// kill9 kills the child with SIGKILL and waits for it; it must have been
// running until then.
func (c *crashChild) kill9(t *testing.T) {
	t.Helper()
	select {
	case <-c.exited:
		require.FailNow(t, "payoutd died before the kill", "%v\nstderr:\n%s", c.err, c.stderr.String())
	default:
	}
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
	<-c.exited
	var exit *exec.ExitError
	require.True(t, errors.As(c.err, &exit), "payoutd must die by the signal, got %v", c.err)
	require.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal(), "stderr:\n%s", c.stderr.String())
	// Under -race the child is instrumented too, but a killed child never
	// reaches the exit status that reports a race: read its report.
	require.NotContains(t, c.stderr.String(), "WARNING: DATA RACE", "payoutd under load")
	if out := strings.TrimSpace(c.stderr.String()); out != "" {
		t.Logf("payoutd's stderr until the kill:\n%s", out)
	}
}

// addrWatcher is the child's stdout: it hands over the API address from
// the line Main prints, as a user reads it off the terminal.
type addrWatcher struct {
	mu   sync.Mutex
	b    bytes.Buffer
	sent bool
	addr chan string
}

func (w *addrWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if !w.sent {
		for _, line := range strings.SplitAfter(w.b.String(), "\n") {
			if _, rest, ok := strings.Cut(line, "API on http://"); ok && strings.HasSuffix(line, "\n") {
				w.addr <- "http://" + strings.Fields(rest)[0]
				w.sent = true
				break
			}
		}
	}
	return len(p), nil
}

func (w *addrWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// --- shops and commands ------------------------------------------------

// crashShop is one shop of the workload and what the clients know of it.
type crashShop struct {
	platform    domain.PlatformID
	id          string
	register    string // extra RegisterShop fields
	account     domain.AccountKind
	fundPath    string // funding command path under the shop
	fundByOp    bool   // the operator funds it (proceeds credits); else the main account (top-ups)
	enroll      bool
	limits      string          // SetShopLimits body: the caps (d) checks
	dailyAmount decimal.Decimal // the daily amount cap set by limits
	dailyCount  int             // the daily count cap set by limits (0: none)
	dailyCodes  []string        // rejection codes of the daily caps
	maxCents    int64           // largest payout amount the workload asks, in cents
	payoutExtra string          // extra InitiatePayout fields
	channel     string          // order channel
	paths       [][]string      // lifecycle paths after initiation
	mainToken   string

	mu     sync.Mutex
	orders []string       // acknowledged orders
	open   []*crashPayout // acknowledged payouts not at the end of their path
	capped atomic.Int64   // daily-cap refusals seen
}

func (s *crashShop) ref() domain.ShopRef { return domain.ShopRef{Platform: s.platform, ShopID: s.id} }
func (s *crashShop) base() string        { return "/v1/shops/" + string(s.platform) + "/" + s.id }

type crashPayout struct {
	id   string
	path []string
	next int
}

// crashCmd is one command (one idempotency key) and what its clients
// learned of it.
type crashCmd struct {
	n                                    int64 // order of creation
	name, method, path, token, body, key string
	shop                                 *crashShop
	orderID, payoutID                    string       // RegisterOrder, InitiatePayout
	steps                                []string     // InitiatePayout: the lifecycle it will be taken through
	payout                               *crashPayout // a lifecycle step: its payout

	outcome faulttest.Outcome
	events  []uuid.UUID // acknowledged: the events the answer named
}

// crashAnswer is one HTTP attempt of a command.
type crashAnswer struct {
	status   int
	code     string
	replayed bool
	events   []domain.Event // ID and Version only
	err      error          // transport: the outcome is unknown
}

func (a crashAnswer) String() string {
	switch {
	case a.err != nil:
		return a.err.Error()
	case a.status/100 == 2:
		return fmt.Sprintf("HTTP %d replayed=%v %d events", a.status, a.replayed, len(a.events))
	}
	return fmt.Sprintf("HTTP %d %s", a.status, a.code)
}

type crashHarness struct {
	t      *testing.T
	dir    string
	seed   uint64
	op     string
	shops  []*crashShop
	ledger *faulttest.Ledger
	placed string

	mu   sync.Mutex
	cmds map[string]*crashCmd

	seq        atomic.Int64
	badAnswers atomic.Int64
}

func newCrashHarness(t *testing.T, seed uint64) *crashHarness {
	h := &crashHarness{t: t, dir: t.TempDir(), seed: seed, ledger: faulttest.NewLedger(), cmds: map[string]*crashCmd{},
		placed: time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339)}
	direct := [][]string{{"processing", "succeeded"}, {"processing", "failed"}, {"failed"}}
	h.shops = []*crashShop{
		{platform: domain.PlatformDouyin, id: "crash-dy", account: domain.AccountProceeds, fundPath: "/accounts/proceeds/credits", fundByOp: true,
			limits: `{"limits":{"daily_amount":"900"}}`, dailyAmount: decimal.RequireFromString("900"), dailyCodes: []string{"dy.shop.daily_amount"},
			maxCents: 3000, channel: "douyin", paths: direct},
		{platform: domain.PlatformPDD, id: "crash-pdd", account: domain.AccountProceeds, fundPath: "/accounts/proceeds/credits", fundByOp: true,
			limits: `{"limits":{"daily_amount":"700"}}`, dailyAmount: decimal.RequireFromString("700"), dailyCodes: []string{"pdd.shop.daily_amount"},
			maxCents: 3000, paths: direct},
		{platform: domain.PlatformJD, id: "crash-jd", register: `,"entity_type":"enterprise","cooperation_mode":"sop","after_sales_self_service":true`,
			account: domain.AccountWallet, fundPath: "/accounts/wallet/top-ups", enroll: true,
			limits: `{"limits":{"daily_amount":"800","daily_count":70}}`, dailyAmount: decimal.RequireFromString("800"), dailyCount: 70,
			dailyCodes: []string{"jd.limits"}, maxCents: 3000, payoutExtra: `,"sms_verified":true`, paths: direct},
		{platform: domain.Platform1688, id: "crash-1688", account: domain.AccountReserve, fundPath: "/accounts/reserve/top-ups", enroll: true,
			limits: `{"limits":{"daily_amount":"1200","daily_count":90}}`, dailyAmount: decimal.RequireFromString("1200"), dailyCount: 90,
			dailyCodes: []string{"1688.shop.daily_amount", "1688.shop.daily_count"}, maxCents: 4500, paths: [][]string{{"confirm"}}},
	}

	ts, err := tokens.Open(tokens.Config{DataDir: h.dir})
	require.NoError(t, err)
	h.op, _, err = ts.Create(context.Background(), tokens.Spec{Kind: tokens.KindOperator, Name: "crash-ops"})
	require.NoError(t, err)
	for _, s := range h.shops {
		s.mainToken, _, err = ts.Create(context.Background(), tokens.Spec{Kind: tokens.KindStaff, Platform: s.platform, ShopID: s.id,
			Staff: "admin", Role: domain.RoleMain, Name: "crash-" + s.id})
		require.NoError(t, err)
	}
	return h
}

// newCmd files a command under a fresh idempotency key.
func (h *crashHarness) newCmd(s *crashShop, name, method, path, token, body string) *crashCmd {
	n := h.seq.Add(1)
	c := &crashCmd{n: n, name: name, method: method, path: path, token: token, body: body, shop: s,
		key: fmt.Sprintf("crash-%d-%s", n, name)}
	h.mu.Lock()
	h.cmds[c.key] = c
	h.mu.Unlock()
	return c
}

// setup registers, funds, enrolls and caps every shop through the API.
func (h *crashHarness) setup(api string) {
	t := h.t
	cl := &http.Client{Timeout: 2 * time.Minute}
	defer cl.CloseIdleConnections()
	for _, s := range h.shops {
		cmds := []*crashCmd{
			h.newCmd(s, "RegisterShop", "POST", "/v1/shops", h.op,
				`{"platform":"`+string(s.platform)+`","shop_id":"`+s.id+`","name":"Crash `+s.id+`","main_account":"admin"`+s.register+`}`),
			h.newCmd(s, "OpenFundingAccount", "POST", s.base()+"/accounts", s.mainToken, `{"kind":"`+string(s.account)+`"}`),
			h.fundCmd(s, "100000"),
		}
		if s.enroll {
			cmds = append(cmds, h.newCmd(s, "EnrollShop", "POST", s.base()+"/enrollment", s.mainToken, `{"accept_agreement":true}`))
		}
		cmds = append(cmds, h.newCmd(s, "SetShopLimits", "PUT", s.base()+"/limits", s.mainToken, s.limits))
		for _, c := range cmds {
			a := h.send(cl, api, c)
			h.settle(c, a)
			require.Equal(t, http.StatusOK, a.status/100*100, "setup %s %s: %s", c.name, s.id, a)
		}
	}
}

func (h *crashHarness) fundCmd(s *crashShop, amount string) *crashCmd {
	tok, name := s.mainToken, "TopUp"
	if s.fundByOp {
		tok, name = h.op, "CreditProceeds"
	}
	return h.newCmd(s, name, "POST", s.base()+s.fundPath, tok, `{"amount":"`+amount+`"}`)
}

func (h *crashHarness) orderCmd(s *crashShop) *crashCmd {
	id := fmt.Sprintf("O%d", h.seq.Add(1))
	ch := ""
	if s.channel != "" {
		ch = `,"channel":"` + s.channel + `"`
	}
	c := h.newCmd(s, "RegisterOrder", "PUT", s.base()+"/orders/"+id, h.op,
		`{"buyer":"b-`+id+`","cash_paid":"90","other_paid":"0","status":"shipped","payment_mode":"online","payment_kind":"normal"`+ch+
			`,"placed_at":"`+h.placed+`","paid_at":"`+h.placed+`","group_formed_at":"`+h.placed+`"}`)
	c.orderID = id
	return c
}

var crashTypes = []string{"shipping", "price_difference", "service"}

func (h *crashHarness) payoutCmd(s *crashShop, order string, r *rand.Rand) *crashCmd {
	id := fmt.Sprintf("P%d", h.seq.Add(1))
	amount := decimal.New(100+r.Int64N(s.maxCents-99), -2).StringFixed(2)
	c := h.newCmd(s, "InitiatePayout", "POST", s.base()+"/payouts", s.mainToken,
		`{"payout_id":"`+id+`","order_id":"`+order+`","amount":"`+amount+`","type":"`+crashTypes[r.IntN(len(crashTypes))]+
			`","reason":"crash test"`+s.payoutExtra+`}`)
	c.orderID, c.payoutID, c.steps = order, id, s.paths[r.IntN(len(s.paths))]
	return c
}

func (h *crashHarness) stepCmd(s *crashShop, p *crashPayout) *crashCmd {
	step, body := p.path[p.next], ""
	if step == "failed" {
		body = `{"reason":"bank rejected the transfer"}`
	}
	c := h.newCmd(s, "Payout-"+step, "POST", s.base()+"/payouts/"+p.id+"/"+step, h.op, body)
	c.payout = p
	return c
}

// send makes one attempt of c.
func (h *crashHarness) send(cl *http.Client, api string, c *crashCmd) crashAnswer {
	req, err := http.NewRequest(c.method, api+c.path, strings.NewReader(c.body))
	if err != nil {
		return crashAnswer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Idempotency-Key", c.key)
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := cl.Do(req)
	if err != nil {
		return crashAnswer{err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return crashAnswer{err: fmt.Errorf("read the answer: %w", err)}
	}
	a := crashAnswer{status: res.StatusCode}
	if a.status/100 == 2 {
		var body struct {
			Replayed bool `json:"replayed"`
			Events   []struct {
				ID      uuid.UUID `json:"id"`
				Version uint64    `json:"version"`
			} `json:"events"`
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			return crashAnswer{err: fmt.Errorf("HTTP %d with an unreadable body %q: %w", a.status, raw, err)}
		}
		a.replayed = body.Replayed
		for _, e := range body.Events {
			a.events = append(a.events, domain.Event{ID: e.ID, Version: e.Version})
		}
		return a
	}
	var body struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(raw, &body)
	a.code = body.Code
	return a
}

// settle files an answer in the Jepsen ledger and in the command, and
// tells the workload what it learned. known is false when the outcome
// is unknown.
func (h *crashHarness) settle(c *crashCmd, a crashAnswer) (known bool) {
	stream := c.shop.ref().Stream()
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case a.err != nil:
		h.ledger.Record(c.key, stream, handler.Result{}, a.err)
		return false
	case a.status/100 == 2:
		h.ledger.Record(c.key, stream, handler.Result{Events: a.events}, nil)
		c.outcome = faulttest.Acknowledged
		c.events = c.events[:0]
		for _, e := range a.events {
			c.events = append(c.events, e.ID)
		}
		return true
	case a.status == http.StatusConflict:
		h.ledger.Record(c.key, stream, handler.Result{}, handler.ErrConflict)
	case a.status == http.StatusUnprocessableEntity || a.status == http.StatusNotFound && !strings.HasPrefix(a.code, "request."):
		h.ledger.Record(c.key, stream, handler.Result{}, &domain.Rejection{Code: a.code})
		if slices.Contains(c.shop.dailyCodes, a.code) {
			c.shop.capped.Add(1)
		}
	case a.status >= 500:
		// The server could not say (a failing store, a cancelled append):
		// as unknown as a cut connection.
		h.ledger.Record(c.key, stream, handler.Result{}, fmt.Errorf("HTTP %d %s", a.status, a.code))
		return false
	default:
		// 400, 401, 403, 413, 415: the test sent something malformed.
		h.badAnswers.Add(1)
		h.t.Errorf("%s %s (%s): %s", c.method, c.path, c.name, a)
		h.ledger.Record(c.key, stream, handler.Result{}, &domain.Rejection{Code: a.code})
	}
	if c.outcome != faulttest.Acknowledged {
		c.outcome = faulttest.Rejected
	}
	return true
}

// --- the load ----------------------------------------------------------

type crashLoad struct {
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	sent   atomic.Int64
	fiveXX atomic.Int64
}

func (l *crashLoad) stopAndWait() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// runLoad starts the clients; they run until stopAndWait. A client whose
// command got no answer stops sending until then: the child is dying (or
// the command is unknown anyway), and its next command may depend on it.
func (h *crashHarness) runLoad(cycle int, api string) *crashLoad {
	l := &crashLoad{stop: make(chan struct{})}
	h.t.Cleanup(l.stopAndWait) // a failed check must not leave clients running
	for w := range crashWorkers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			r := rand.New(rand.NewPCG(h.seed, uint64(cycle)<<16|uint64(w)))
			tr := &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				if !h.step(cl, api, r, l) {
					<-l.stop
					return
				}
			}
		}()
	}
	return l
}

// do sends c once and settles it.
func (h *crashHarness) do(cl *http.Client, api string, c *crashCmd, l *crashLoad) bool {
	l.sent.Add(1)
	a := h.send(cl, api, c)
	if a.err == nil && a.status >= 500 {
		l.fiveXX.Add(1)
	}
	known := h.settle(c, a)
	if a.status/100 == 2 {
		h.learn(c)
	}
	return known
}

// learn updates the workload's view after an acknowledgement.
func (h *crashHarness) learn(c *crashCmd) {
	s := c.shop
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case c.name == "RegisterOrder":
		s.orders = append(s.orders, c.orderID)
	case c.name == "InitiatePayout":
		s.open = append(s.open, &crashPayout{id: c.payoutID, path: c.steps})
	case c.payout != nil:
		c.payout.next++
		if c.payout.next < len(c.payout.path) {
			s.open = append(s.open, c.payout)
		}
	}
}

// step is one client action: a new order and a payout on it, another
// payout on a known order (per-order rules, duplicates), a lifecycle step,
// or funding. It reports false when an outcome was unknown.
func (h *crashHarness) step(cl *http.Client, api string, r *rand.Rand, l *crashLoad) bool {
	s := h.shops[r.IntN(len(h.shops))]
	switch x := r.IntN(100); {
	case x < 10:
		s.mu.Lock()
		var order string
		if len(s.orders) > 0 {
			order = s.orders[r.IntN(len(s.orders))]
		}
		s.mu.Unlock()
		if order != "" {
			return h.do(cl, api, h.payoutCmd(s, order, r), l)
		}
	case x < 50:
		s.mu.Lock()
		var p *crashPayout
		if n := len(s.open); n > 0 {
			i := r.IntN(n)
			p = s.open[i]
			s.open = slices.Delete(s.open, i, i+1)
		}
		s.mu.Unlock()
		if p != nil {
			// Taken out while in flight; learn puts it back if it has
			// further steps. A refused step ends its path.
			return h.do(cl, api, h.stepCmd(s, p), l)
		}
	case x < 55:
		return h.do(cl, api, h.fundCmd(s, "300"), l)
	}
	o := h.orderCmd(s)
	if !h.do(cl, api, o, l) {
		return false
	}
	if h.cmdOutcome(o) != faulttest.Acknowledged {
		return true
	}
	return h.do(cl, api, h.payoutCmd(s, o.orderID, r), l)
}

func (h *crashHarness) cmdOutcome(c *crashCmd) faulttest.Outcome {
	h.mu.Lock()
	defer h.mu.Unlock()
	return c.outcome
}

// --- checks with the child dead ---------------------------------------

type crashInspection struct {
	report  faulttest.Report
	byKey   map[string][]uuid.UUID   // idempotency key -> its events, in log order
	records map[string][]crashRecord // shop stream -> payout records of a fresh replay
}

// inspect opens the dead child's store and checks it: the integrity of
// the log against the recorded heads, the Jepsen accounting, every
// acknowledged command by event ID and idempotency key, and the daily
// caps on a fresh replay of the read models. The store is closed again
// before it returns.
func (h *crashHarness) inspect(label string) crashInspection {
	t := h.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	store, err := jetstream.Open(ctx, jetstream.Config{DataDir: h.dir})
	require.NoError(t, err, "%s: open the store after kill -9", label)
	defer store.Close()

	heads, err := tailguard.FileStore{Path: filepath.Join(h.dir, "ledger-heads.json")}.Load(ctx)
	require.NoError(t, err, "%s: recorded stream heads", label)
	irep, err := integrity.Check(ctx, store, heads, integrity.Options{Mode: integrity.Full})
	require.NoError(t, err, "%s: integrity check", label)
	require.NoError(t, irep.Err(), "%s", label)

	rep, err := h.ledger.Check(ctx, store)
	require.NoError(t, err, "%s: accounting", label)
	t.Logf("%s: %s; integrity: %d events in %d streams, %d recorded heads verified", label, rep, irep.Events, irep.Streams, irep.Heads)
	require.Zero(t, rep.Lost, "%s: acknowledged commands lost: %v", label, rep.Anomalies)
	require.Zero(t, rep.Duplicated, "%s: commands or events stored twice: %v", label, rep.Anomalies)
	require.Zero(t, rep.RejectedPresent, "%s: refused commands in the log: %v", label, rep.Anomalies)
	require.Empty(t, rep.Anomalies, label)

	in := crashInspection{report: rep, byKey: map[string][]uuid.UUID{}}
	keyOf := map[uuid.UUID]string{}
	for from := uint64(1); ; {
		recs, err := store.ReadAll(ctx, from, 5000)
		require.NoError(t, err, "%s: read the log", label)
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			from = r.Position + 1
			ev, err := handler.Decode(r)
			require.NoError(t, err, "%s: decode %s v%d", label, r.Stream, r.Version)
			_, dup := keyOf[r.ID]
			require.False(t, dup, "%s: event %s stored twice", label, r.ID)
			keyOf[r.ID] = ev.IdempotencyKey
			if ev.IdempotencyKey != "" {
				in.byKey[ev.IdempotencyKey] = append(in.byKey[ev.IdempotencyKey], r.ID)
			}
		}
	}
	// Every acknowledged command by its event IDs: each in the log once,
	// under the command's key, and the key holds exactly those events.
	h.mu.Lock()
	for key, c := range h.cmds {
		if c.outcome != faulttest.Acknowledged {
			continue
		}
		for _, id := range c.events {
			got, ok := keyOf[id]
			require.True(t, ok, "%s: event %s of acknowledged %s %q is not in the log", label, id, c.name, key)
			require.Equal(t, key, got, "%s: event %s stored under another key", label, id)
		}
		require.True(t, slices.Equal(c.events, in.byKey[key]), "%s: acknowledged %s %q names events %v, the log holds %v under its key",
			label, c.name, key, c.events, in.byKey[key])
	}
	h.mu.Unlock()

	in.records = h.replay(ctx, store, label)
	h.checkCaps(in.records, label)
	require.NoError(t, store.Close(), "%s: close the store before restarting payoutd", label)
	return in
}

// crashRecord is the comparable part of a payout record: what the API
// serves and a replay computes, times in UTC.
type crashRecord struct {
	PayoutID      string `json:"payout_id"`
	OrderID       string `json:"order_id"`
	Staff         string `json:"staff"`
	StaffRole     string `json:"staff_role"`
	Type          string `json:"type"`
	Amount        string `json:"amount"`
	Funding       string `json:"funding"`
	Route         string `json:"route"`
	Status        string `json:"status"`
	Day           string `json:"day"`
	InitiatedAt   string `json:"initiated_at"`
	UpdatedAt     string `json:"updated_at"`
	DeadlineAt    string `json:"deadline_at"`
	SucceededAt   string `json:"succeeded_at"`
	FailureReason string `json:"failure_reason"`
}

func utc(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func utcp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return utc(*t)
}

// replay builds the read models afresh from the log (a memory store,
// StopAtHead) and returns every shop's payout records.
func (h *crashHarness) replay(ctx context.Context, store eventstore.Store, label string) map[string][]crashRecord {
	t := h.t
	rt, err := projections.New(projections.Config{Source: store, Store: projections.NewMemoryStore(), DensePositions: true, StopAtHead: true},
		projections.All()...)
	require.NoError(t, err)
	require.NoError(t, rt.Run(ctx), "%s: replay", label)
	out := map[string][]crashRecord{}
	err = projections.View(rt, projections.PayoutRecordsName, func(p *projections.PayoutRecords) error {
		for _, s := range h.shops {
			recs, err := p.Search(projections.RecordsFilter{Platform: s.platform, ShopID: s.id})
			if err != nil {
				return err
			}
			rows := make([]crashRecord, 0, len(recs))
			for _, r := range recs {
				rows = append(rows, crashRecord{PayoutID: r.PayoutID, OrderID: r.OrderID, Staff: r.Staff, StaffRole: string(r.StaffRole),
					Type: string(r.Type), Amount: domain.Money(r.Amount), Funding: string(r.Funding), Route: string(r.Route),
					Status: string(r.Status), Day: r.Day, InitiatedAt: utc(r.InitiatedAt), UpdatedAt: utc(r.UpdatedAt),
					DeadlineAt: utcp(r.DeadlineAt), SucceededAt: utcp(r.SucceededAt), FailureReason: r.FailureReason})
			}
			sortRecords(rows)
			out[s.ref().Stream()] = rows
		}
		return nil
	})
	require.NoError(t, err, "%s: read the replayed records", label)
	return out
}

func sortRecords(rows []crashRecord) {
	slices.SortFunc(rows, func(a, b crashRecord) int { return strings.Compare(a.PayoutID, b.PayoutID) })
}

// checkCaps: (d) no shop's counting payouts of a day exceed its caps.
func (h *crashHarness) checkCaps(records map[string][]crashRecord, label string) {
	t := h.t
	for _, s := range h.shops {
		type day struct {
			amount decimal.Decimal
			count  int
		}
		days := map[string]*day{}
		for _, r := range records[s.ref().Stream()] {
			if !domain.PayoutStatus(r.Status).Counts() {
				continue
			}
			d := days[r.Day]
			if d == nil {
				d = &day{}
				days[r.Day] = d
			}
			d.amount = d.amount.Add(decimal.RequireFromString(r.Amount))
			d.count++
		}
		for name, d := range days {
			require.False(t, d.amount.GreaterThan(s.dailyAmount), "%s: %s on %s holds %s in counting payouts, above its cap %s",
				label, s.ref().Stream(), name, d.amount, s.dailyAmount)
			if s.dailyCount > 0 {
				require.LessOrEqual(t, d.count, s.dailyCount, "%s: %s on %s: counting payouts above the daily count", label, s.ref().Stream(), name)
			}
			t.Logf("%s: %s %s: %s of %s in %d counting payouts (%d daily-cap refusals so far)", label, s.ref().Stream(), name,
				domain.Money(d.amount), domain.Money(s.dailyAmount), d.count, s.capped.Load())
		}
	}
}

// --- checks with the child restarted ----------------------------------

// compareRecords: (c) the restarted payoutd, ready, serves the payout
// records of a fresh replay of the log. Nothing writes meanwhile (the
// clients are stopped and nothing is due to the timers), so the two must
// meet; the wait only absorbs a projection applying its last page.
func (h *crashHarness) compareRecords(api string, want map[string][]crashRecord) {
	t := h.t
	t.Helper()
	cl := &http.Client{Timeout: time.Minute}
	defer cl.CloseIdleConnections()
	for _, s := range h.shops {
		var got []crashRecord
		deadline := time.Now().Add(time.Minute)
		for {
			got = h.apiRecords(cl, api, s)
			if slices.Equal(got, want[s.ref().Stream()]) || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		require.Equal(t, want[s.ref().Stream()], got, "%s: the API's payout records differ from a replay of the log", s.ref().Stream())
	}
}

func (h *crashHarness) apiRecords(cl *http.Client, api string, s *crashShop) []crashRecord {
	t := h.t
	req, err := http.NewRequest("GET", api+s.base()+"/payouts?limit="+strconv.Itoa(domain.MaxRecordsPage), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+h.op)
	res, err := cl.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", raw)
	var body struct {
		Records []struct {
			crashRecord
			InitiatedAt time.Time  `json:"initiated_at"`
			UpdatedAt   time.Time  `json:"updated_at"`
			DeadlineAt  *time.Time `json:"deadline_at"`
			SucceededAt *time.Time `json:"succeeded_at"`
		} `json:"records"`
		Count int `json:"count"`
	}
	require.NoError(t, json.Unmarshal(raw, &body))
	require.Less(t, body.Count, domain.MaxRecordsPage, "one page holds every record of the shop")
	out := make([]crashRecord, 0, len(body.Records))
	for _, r := range body.Records {
		c := r.crashRecord
		c.InitiatedAt, c.UpdatedAt, c.DeadlineAt, c.SucceededAt = utc(r.InitiatedAt), utc(r.UpdatedAt), utcp(r.DeadlineAt), utcp(r.SucceededAt)
		out = append(out, c)
	}
	sortRecords(out)
	return out
}

// retryUnknowns: (b) every command whose outcome is unknown is sent again
// with its idempotency key and body. One whose events are in the log is
// answered with them, replayed; one that left nothing is decided afresh
// (accepted or refused). Never a second set of events: the next
// inspection's accounting counts duplicates.
func (h *crashHarness) retryUnknowns(api string, byKey map[string][]uuid.UUID, cycle int) {
	t := h.t
	t.Helper()
	h.mu.Lock()
	var unknown []*crashCmd
	for _, c := range h.cmds {
		if c.outcome == faulttest.Unknown {
			unknown = append(unknown, c)
		}
	}
	h.mu.Unlock()
	slices.SortFunc(unknown, func(a, b *crashCmd) int { return cmp.Compare(a.n, b.n) })
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	var replayed, fresh, refused int
	for _, c := range unknown {
		stored := byKey[c.key]
		a := h.send(cl, api, c)
		require.NoError(t, a.err, "retry of %s %q: the restarted payoutd must answer", c.name, c.key)
		require.Less(t, a.status, 500, "retry of %s %q: %s", c.name, c.key, a)
		switch {
		case len(stored) > 0:
			require.Equal(t, 2, a.status/100, "retry of %s %q, whose events are in the log: %s", c.name, c.key, a)
			require.True(t, a.replayed, "retry of %s %q, whose events are in the log, must replay them", c.name, c.key)
			ids := make([]uuid.UUID, len(a.events))
			for i, e := range a.events {
				ids[i] = e.ID
			}
			require.Equal(t, stored, ids, "retry of %s %q answers the events in the log", c.name, c.key)
			replayed++
		case a.status/100 == 2:
			require.False(t, a.replayed, "retry of %s %q replayed events the log does not hold", c.name, c.key)
			fresh++
		default:
			refused++
		}
		h.settle(c, a)
		if a.status/100 == 2 && !a.replayed {
			h.learn(c)
		}
	}
	t.Logf("cycle %d: %d unknown commands retried after the restart: %d replayed their stored events, %d accepted afresh, %d refused afresh",
		cycle, len(unknown), replayed, fresh, refused)
}
