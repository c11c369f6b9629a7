package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/eventstore"
)

// tailLedger is an embedded store with a listener, as payoutd runs it;
// tail connects there as a reader, without credentials.
func tailLedger(t *testing.T) (*jetstream.Store, string) {
	t.Helper()
	s, err := jetstream.Open(t.Context(), jetstream.Config{DataDir: t.TempDir(), ListenAddr: "127.0.0.1:-1"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, s.ClientURL()
}

func appendEvents(t *testing.T, s eventstore.Store, stream string, expected eventstore.ExpectedVersion, types ...string) []eventstore.EventData {
	t.Helper()
	var evs []eventstore.EventData
	for _, typ := range types {
		evs = append(evs, eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: typ, SchemaVersion: 1, Data: []byte(`{"amount":"12.50"}`)})
	}
	_, err := s.Append(context.Background(), stream, expected, evs)
	require.NoError(t, err)
	return evs
}

func TestTailPrintsStoredEventsOfTheSubject(t *testing.T) {
	s, url := tailLedger(t)
	dy := appendEvents(t, s, "douyin.S1", eventstore.NoStream, "PayoutInitiated", "PayoutApproved")
	appendEvents(t, s, "jd.S2", eventstore.NoStream, "PayoutInitiated")

	var out, errOut bytes.Buffer
	code := runTail([]string{"--url", url, "--subject", "ledger.douyin.>", "--from-start", "--count", "2"}, &out, &errOut)
	require.Equal(t, exitOK, code, errOut.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2)
	for i, typ := range []string{"PayoutInitiated", "PayoutApproved"} {
		f := strings.Fields(lines[i])
		require.Len(t, f, 6, lines[i])
		require.Equal(t, "ledger.douyin.S1."+typ, f[1])
		require.Equal(t, typ, f[2])
		require.Equal(t, dy[i].ID.String(), f[3])
		_, err := time.Parse(time.RFC3339Nano, f[4])
		require.NoError(t, err)
		require.Equal(t, `{"amount":"12.50"}`, f[5])
	}

	out.Reset()
	code = runTail([]string{"--url", url, "--subject", "ledger.*.*.PayoutInitiated", "--since", "1h", "--count", "2", "--json"}, &out, &errOut)
	require.Equal(t, exitOK, code, errOut.String())
	dec := json.NewDecoder(&out)
	var got []tailLine
	for dec.More() {
		var l tailLine
		require.NoError(t, dec.Decode(&l))
		got = append(got, l)
	}
	require.Len(t, got, 2)
	require.Equal(t, []string{"douyin.S1", "jd.S2"}, []string{got[0].Stream, got[1].Stream})
	require.Equal(t, dy[0].ID.String(), got[0].ID)
	require.Equal(t, uint64(1), got[0].Position)
	require.JSONEq(t, `{"amount":"12.50"}`, string(got[0].Data))
}

// syncBuffer is written by tail's goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// --new prints only what is stored after it started, and an interrupt
// (the context SIGINT cancels) stops it cleanly.
func TestTailNewFollowsUntilInterrupted(t *testing.T) {
	s, url := tailLedger(t)
	appendEvents(t, s, "douyin.S1", eventstore.NoStream, "PayoutInitiated")
	o, done, _ := parseTail([]string{"--url", url, "--subject", "ledger.>", "--new"}, io.Discard, io.Discard)
	require.False(t, done)
	ctx, interrupt := context.WithCancel(t.Context())
	var out syncBuffer
	res := make(chan error, 1)
	go func() { res <- tail(ctx, o, &out) }()

	// The consumer starts at the stream's end, some time after tail was
	// started: append until it shows one.
	v := eventstore.ExpectedVersion(1)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "PayoutApproved"); v++ {
		require.True(t, time.Now().Before(deadline), "tail printed nothing")
		appendEvents(t, s, "douyin.S1", v, "PayoutApproved")
		time.Sleep(20 * time.Millisecond)
	}
	interrupt()
	require.NoError(t, <-res)
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		require.NotContains(t, sc.Text(), "PayoutInitiated")
	}
}

func TestTailFlags(t *testing.T) {
	for name, args := range map[string][]string{
		"no subject":        {"--from-start"},
		"two start points":  {"--subject", "ledger.>", "--from-start", "--new"},
		"negative count":    {"--subject", "ledger.>", "--count", "-1"},
		"negative since":    {"--subject", "ledger.>", "--since", "-1m"},
		"stray argument":    {"--subject", "ledger.>", "extra"},
		"unknown flag":      {"--subject", "ledger.>", "--follow"},
		"since not a delay": {"--subject", "ledger.>", "--since", "yesterday"},
	} {
		var out, errOut bytes.Buffer
		require.Equal(t, exitUsage, runTail(args, &out, &errOut), name)
	}
	var out bytes.Buffer
	require.Equal(t, exitOK, runTail([]string{"--help"}, &out, io.Discard))
	require.Contains(t, out.String(), "ordered consumer")
	// No server there: a clear error, status 1.
	var errOut bytes.Buffer
	require.Equal(t, exitProblems, runTail([]string{"--url", "nats://127.0.0.1:1", "--subject", "ledger.>"}, io.Discard, &errOut))
	require.Contains(t, errOut.String(), "connect")
}
