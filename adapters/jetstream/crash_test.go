package jetstream_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/jetstream"
	"github.com/payoutledger/ledger/eventstore"
)

// crashChildEnv, when set to a data dir, turns the test binary into the
// crash test's child: it appends under load until it is killed.
const crashChildEnv = "LEDGER_JETSTREAM_CRASH_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	os.Exit(m.Run())
}

// TestKill9AcknowledgedAppendsSurvive re-executes this test binary as a
// child that appends from several goroutines (single events, multi-event
// appends, multi-stream batches, contended appends on one stream) and
// prints every acknowledged event. The parent kills it with SIGKILL
// mid-load, reopens the data dir and checks that every acknowledged event
// is there exactly once at its version, that no event ID appears twice in
// the whole log, and that every stream's hash chain verifies. Twice, so
// that the second child also starts from a recovered store.
func TestKill9AcknowledgedAppendsSurvive(t *testing.T) {
	dir := t.TempDir()
	acked := map[uuid.UUID]ackLine{}
	for cycle := 1; cycle <= 2; cycle++ {
		lines := runAndKill(t, dir, 1500*time.Millisecond)
		for _, a := range lines {
			if prev, dup := acked[a.id]; dup {
				require.FailNow(t, "the child acknowledged one event twice", "%v and %v", prev, a)
			}
			acked[a.id] = a
		}
		require.NotEmpty(t, lines, "cycle %d: the child acknowledged nothing before the kill", cycle)

		s, err := jetstream.Open(t.Context(), jetstream.Config{DataDir: dir})
		require.NoError(t, err, "reopen after kill -9")
		byStream := verifyAll(t, s)
		total := 0
		for _, recs := range byStream {
			total += len(recs)
		}
		for _, a := range acked {
			recs := byStream[a.stream]
			require.GreaterOrEqual(t, uint64(len(recs)), a.version, "acknowledged %s v%d lost", a.stream, a.version)
			require.Equal(t, a.id, recs[a.version-1].ID, "acknowledged %s v%d holds another event", a.stream, a.version)
		}
		t.Logf("cycle %d: %d acknowledged appends survived; log holds %d events in %d streams", cycle, len(lines), total, len(byStream))
		require.NoError(t, s.Close())
	}
}

type ackLine struct {
	stream  string
	version uint64
	id      uuid.UUID
}

// runAndKill starts the child on dir, lets it run for d after it is ready,
// kills it with SIGKILL and returns the acknowledgements it printed in
// full lines.
func runAndKill(t *testing.T, dir string, d time.Duration) []ackLine {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9AcknowledgedAppendsSurvive$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	ready := make(chan struct{})
	type result struct {
		acks []ackLine
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var acks []ackLine
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				// A last line without its newline was cut by the kill: the
				// child had not finished reporting it, so it does not count.
				if errors.Is(err, io.EOF) {
					err = nil
				}
				done <- result{acks, err}
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "READY":
				close(ready)
			case strings.HasPrefix(line, "ACK "):
				a, err := parseAck(line)
				if err != nil {
					done <- result{acks, err}
					return
				}
				acks = append(acks, a)
			default:
				done <- result{acks, fmt.Errorf("child: %s", line)}
				return
			}
		}
	}()
	select {
	case <-ready:
	case res := <-done:
		require.FailNow(t, "child exited before it was ready", "%v", res.err)
	case <-time.After(60 * time.Second):
		require.FailNow(t, "child not ready within 60 s")
	}
	time.Sleep(d)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	killed = true
	// Read to the end (the pipe closes when the child dies) before Wait,
	// which closes the pipe.
	res := <-done
	err = cmd.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "child must die by the signal, got %v", err)
	require.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal())
	require.NoError(t, res.err)
	return res.acks
}

func parseAck(line string) (ackLine, error) {
	f := strings.Fields(line)
	if len(f) != 4 {
		return ackLine{}, fmt.Errorf("bad ack line %q", line)
	}
	v, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return ackLine{}, fmt.Errorf("bad ack line %q: %w", line, err)
	}
	id, err := uuid.Parse(f[3])
	if err != nil {
		return ackLine{}, fmt.Errorf("bad ack line %q: %w", line, err)
	}
	return ackLine{stream: f[1], version: v, id: id}, nil
}

// crashChild is the child's main: it appends until killed and prints
// "ACK <stream> <version> <event ID>" for each acknowledged event, one
// write per line, only after Append or AppendBatch returned.
func crashChild(dir string) int {
	ctx := context.Background()
	s, err := jetstream.Open(ctx, jetstream.Config{DataDir: dir})
	if err != nil {
		fmt.Printf("open: %v\n", err)
		return 2
	}
	var mu sync.Mutex
	report := func(rs []eventstore.AppendResult, reqs []eventstore.AppendRequest) {
		var b strings.Builder
		for i, r := range rs {
			for k, e := range reqs[i].Events {
				fmt.Fprintf(&b, "ACK %s %d %s\n", r.Stream, r.FirstVersion+uint64(k), e.ID)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		_, _ = os.Stdout.WriteString(b.String())
	}
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf("append: %v\n", err)
		os.Exit(2)
	}
	head := func(st string) uint64 {
		v, _, err := s.Head(ctx, st)
		if err != nil {
			fail(err)
		}
		return v
	}
	// writer appends to its own streams at versions it tracks itself.
	writer := func(name string, nstreams, perStream, perBatch int) {
		streams := make([]string, nstreams)
		versions := make([]uint64, nstreams)
		for i := range streams {
			streams[i] = fmt.Sprintf("crash.%s-%d", name, i)
			versions[i] = head(streams[i])
		}
		for k := 0; ; k += perBatch {
			var reqs []eventstore.AppendRequest
			for j := range perBatch {
				i := (k + j) % nstreams
				reqs = append(reqs, eventstore.AppendRequest{Stream: streams[i], Expected: eventstore.ExpectedVersion(versions[i]), Events: newEvs("Crash", perStream)})
			}
			var rs []eventstore.AppendResult
			var err error
			if perBatch == 1 {
				var r eventstore.AppendResult
				r, err = s.Append(ctx, reqs[0].Stream, reqs[0].Expected, reqs[0].Events)
				rs = []eventstore.AppendResult{r}
			} else {
				rs, err = s.AppendBatch(ctx, reqs)
			}
			if err != nil {
				fail(err)
			}
			for j, r := range rs {
				versions[(k+j)%nstreams] = r.LastVersion
			}
			report(rs, reqs)
		}
	}
	// contender is the command path on one shared stream.
	contender := func() {
		const st = "crash.shared"
		for {
			reqs := []eventstore.AppendRequest{{Stream: st, Expected: eventstore.ExpectedVersion(head(st)), Events: newEvs("Contended", 1)}}
			r, err := s.Append(ctx, st, reqs[0].Expected, reqs[0].Events)
			if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
				continue
			}
			if err != nil {
				fail(err)
			}
			report([]eventstore.AppendResult{r}, reqs)
		}
	}
	go writer("single-a", 4, 1, 1)
	go writer("single-b", 4, 1, 1)
	go writer("multi", 3, 3, 1)
	go writer("batch", 5, 2, 3)
	go contender()
	go contender()
	fmt.Println("READY")
	select {} // until SIGKILL
}
