package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/tokens"
	"github.com/payoutledger/ledger/domain"
)

// instance is payoutd's Main running in this test process, on free ports.
type instance struct {
	api, nats string
	stop      context.CancelFunc
	done      chan int
	out       *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs Main with args and reads the addresses it prints, as a user
// reads them off the terminal.
func start(t *testing.T, args ...string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	in := &instance{stop: cancel, done: make(chan int, 1), out: &lockedBuffer{}}
	go func() {
		in.done <- Main(ctx, args, func(string) string { return "" }, pw, in.out)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		if _, rest, ok := strings.Cut(line, "API on http://"); ok {
			in.api = "http://" + strings.Fields(rest)[0]
		}
		if _, rest, ok := strings.Cut(line, "events on NATS at "); ok {
			in.nats = strings.TrimSuffix(strings.Fields(rest)[0], ",")
		}
		if in.api != "" && in.nats != "" {
			break
		}
	}
	go io.Copy(io.Discard, pr) // keep Main's later output flowing
	require.NotEmpty(t, in.api, "payoutd printed no API address; stderr:\n%s", in.out.String())
	t.Cleanup(func() { in.shutdown(t) })
	in.waitReady(t)
	return in
}

func (in *instance) shutdown(t *testing.T) int {
	t.Helper()
	in.stop()
	select {
	case code, ok := <-in.done:
		if !ok {
			return 0
		}
		close(in.done)
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("payoutd did not stop within 30 s")
		return -1
	}
}

func (in *instance) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(in.api + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("not ready after 20 s: %s", body)
			}
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func (in *instance) call(t *testing.T, method, path, token, key, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, in.api+path, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	a := answer{status: res.StatusCode, header: res.Header}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(raw, &a.body), "%s", raw)
	}
	return a
}

func (in *instance) must(t *testing.T, status int, method, path, token, key, body string) answer {
	t.Helper()
	a := in.call(t, method, path, token, key, body)
	require.Equal(t, status, a.status, "%s %s: %v", method, path, a.body)
	return a
}

// TestEndToEnd drives the real payoutd over HTTP with tokens issued as
// payoutctl issues them, reads the events from NATS as a downstream
// consumer does, stops it gracefully, starts it again on the same data
// and finds everything there.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	ts, err := tokens.Open(tokens.Config{DataDir: dir})
	require.NoError(t, err)
	op, _, err := ts.Create(context.Background(), tokens.Spec{Kind: tokens.KindOperator, Name: "douyin-ops", Platform: domain.PlatformDouyin})
	require.NoError(t, err)
	admin, _, err := ts.Create(context.Background(), tokens.Spec{Kind: tokens.KindStaff, Platform: domain.PlatformDouyin, ShopID: "S1", Staff: "admin", Role: domain.RoleMain})
	require.NoError(t, err)
	other, _, err := ts.Create(context.Background(), tokens.Spec{Kind: tokens.KindStaff, Platform: domain.PlatformDouyin, ShopID: "S2", Staff: "admin2", Role: domain.RoleMain})
	require.NoError(t, err)

	args := []string{"-data", dir, "-http", "127.0.0.1:0", "-nats-listen", "127.0.0.1:-1", "-log-level", "warn"}
	in := start(t, args...)
	require.NotEmpty(t, in.nats, "the embedded NATS listener's URL is printed")

	// A downstream consumer, connected before anything happens.
	nc, err := nats.Connect(in.nats)
	require.NoError(t, err)
	defer nc.Close()
	js, err := njs.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, "LEDGER", njs.OrderedConsumerConfig{FilterSubjects: []string{"ledger.douyin.>"}})
	require.NoError(t, err)

	placed := time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339)
	base := "/v1/shops/douyin/S1"
	in.must(t, 201, "POST", "/v1/shops", op, "reg-S1", `{"platform":"douyin","shop_id":"S1","name":"Tea House","main_account":"admin"}`)
	in.must(t, 201, "POST", base+"/accounts", admin, "acct-S1", `{"kind":"proceeds"}`)
	in.must(t, 200, "POST", base+"/accounts/proceeds/credits", op, "credit-S1", `{"amount":"20000"}`)
	in.must(t, 200, "PUT", base+"/orders/O1", op, "order-O1", `{"buyer":"b1","cash_paid":"90","other_paid":"0","status":"shipped","payment_mode":"online","payment_kind":"normal","channel":"douyin","placed_at":"`+placed+`","paid_at":"`+placed+`"}`)
	payout := `{"payout_id":"P1","order_id":"O1","amount":"12.50","type":"shipping","reason":"return shipping"}`
	first := in.must(t, 201, "POST", base+"/payouts", admin, "pay-P1", payout)
	require.Equal(t, false, first.body["replayed"])

	// Refusals: a rule (422, with its RULES.md code), a missing token
	// (401), another shop's staff (403).
	over := in.must(t, 422, "POST", base+"/payouts", admin, "pay-P2", `{"payout_id":"P2","order_id":"O1","amount":"600","type":"service","reason":"too much"}`)
	require.True(t, strings.HasPrefix(over.body["code"].(string), "dy."), "a Douyin rule code: %v", over.body)
	in.must(t, 401, "GET", base+"/payouts", "", "", "")
	in.must(t, 403, "GET", base+"/payouts", other, "", "")

	// Every event reaches the consumer, with its CloudEvents headers and
	// the event ID as Nats-Msg-Id.
	var got []njs.Msg
	for len(got) < 5 {
		msgs, err := cons.Fetch(5-len(got), njs.FetchMaxWait(5*time.Second))
		require.NoError(t, err)
		for m := range msgs.Messages() {
			got = append(got, m)
		}
		require.NoError(t, msgs.Error())
	}
	wantTypes := []string{"ShopRegistered", "FundingAccountOpened", "ProceedsCredited", "OrderRegistered", "PayoutInitiated"}
	for i, m := range got {
		h := m.Headers()
		require.Equal(t, wantTypes[i], h.Get("ce-type"), "event %d", i)
		require.Equal(t, "ledger.douyin.S1."+wantTypes[i], m.Subject())
		require.NotEmpty(t, h.Get("ce-id"))
		require.Equal(t, h.Get("ce-id"), h.Get("Nats-Msg-Id"))
		require.Equal(t, "douyin.S1", h.Get("ce-source"))
		_, err := time.Parse(time.RFC3339Nano, h.Get("ce-time"))
		require.NoError(t, err)
		var body map[string]any
		require.NoError(t, json.Unmarshal(m.Data(), &body), "the body is the documented JSON")
	}
	firstEvents := first.body["events"].([]any)
	require.Equal(t, firstEvents[0].(map[string]any)["id"], got[4].Headers().Get("ce-id"), "the API answered the event the consumer received")

	// The read models follow; metrics count what happened.
	require.Eventually(t, func() bool {
		a := in.call(t, "GET", base+"/payouts/P1", admin, "", "")
		return a.status == 200 && a.body["amount"] == "12.50"
	}, 10*time.Second, 50*time.Millisecond)
	metrics := in.get(t, "/metrics")
	require.Contains(t, metrics, `payoutd_commands_total{command="InitiatePayout",outcome="ok"} 1`)
	require.Contains(t, metrics, fmt.Sprintf(`payoutd_commands_total{command="InitiatePayout",outcome="%s"} 1`, over.body["code"]))
	require.Contains(t, metrics, `payoutd_projection_lag_events{projection="payout_records"}`)
	require.Contains(t, metrics, "payoutd_append_duration_seconds_count")

	require.Equal(t, 0, in.shutdown(t), "a graceful stop exits 0")

	// Started again on the same data: the retry answers the first outcome
	// and the read models are there at once.
	in2 := start(t, args...)
	again := in2.must(t, 201, "POST", base+"/payouts", admin, "pay-P1", payout)
	require.Equal(t, true, again.body["replayed"])
	require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	rec := in2.must(t, 200, "GET", base+"/payouts/P1", admin, "", "")
	require.Equal(t, "12.50", rec.body["amount"])
}

func (in *instance) get(t *testing.T, path string) string {
	t.Helper()
	res, err := http.Get(in.api + path)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode, "%s", b)
	return string(b)
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"-no-such-flag"},
		{"-sync", "sometimes", "-data", t.TempDir(), "-http", "127.0.0.1:0", "-nats-listen", "none"},
		{"-replicas", "3"},
		{"-holidays", "2026-13-01"},
		{"extra-argument"},
	} {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), args, func(string) string { return "" }, &out, &errOut)
		require.Contains(t, []int{1, 2}, code, "%v: %s", args, errOut.String())
		require.NotEmpty(t, errOut.String(), "%v says why", args)
	}
}

func TestEnvironmentConfiguresWhatFlagsDoNot(t *testing.T) {
	var out, errOut bytes.Buffer
	env := map[string]string{"PAYOUTD_SYNC": "sometimes"}
	code := Main(context.Background(), []string{"-data", t.TempDir()}, func(k string) string { return env[k] }, &out, &errOut)
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut.String(), "sometimes")
}
