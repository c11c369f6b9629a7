package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// The cluster shared by the tests of one package: started by the first
// NewDatabase, stopped by Main after every test ran.
var shared struct {
	mu      sync.Mutex
	managed bool // Main is running the package's tests
	once    sync.Once
	cluster *Cluster
	err     error
	took    time.Duration
}

// Main runs the package's tests (m.Run) and then stops and removes the
// shared cluster, if a test started it. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// The cluster starts lazily, so `go test -run` of tests that need no
// database pays nothing.
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.managed = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	c := shared.cluster
	shared.mu.Unlock()
	if c != nil {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// Shared returns the package's cluster, starting it on first use. It
// fails the test (never skips) if PostgreSQL cannot be started, or if the
// package's TestMain does not call Main (the cluster would outlive the
// tests).
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.mu.Lock()
	managed := shared.managed
	shared.mu.Unlock()
	if !managed {
		t.Fatal("pgtest: the shared cluster needs `func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }` in this test package (it stops the cluster after the tests); or use pgtest.StartCluster(t) for a private one")
	}
	shared.once.Do(func() {
		start := time.Now()
		c, err := Start()
		shared.mu.Lock()
		shared.cluster, shared.err, shared.took = c, err, time.Since(start)
		shared.mu.Unlock()
	})
	if shared.err != nil {
		t.Fatalf("PostgreSQL is required by this test and could not be started: %v", shared.err)
	}
	return shared.cluster
}

// StartupTime is how long the shared cluster took to initdb and start
// (zero before it started).
func StartupTime() time.Duration {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	return shared.took
}

// NewDatabase creates a fresh, empty database on the shared cluster and
// returns its DSN; the database is dropped when the test ends (after the
// test's own cleanups registered later, such as closing its pool).
func NewDatabase(t testing.TB) string {
	t.Helper()
	c := Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name, err := c.CreateDatabase(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.DropDatabase(ctx, name); err != nil {
			t.Logf("pgtest: %v (the cluster is removed at the end anyway)", err)
		}
	})
	return c.DSN(name)
}

// StartCluster starts a private cluster for one test and stops and
// removes it when the test ends. Slower than the shared cluster (an initdb
// per call); for tests that stop or break the server.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := Start()
	if err != nil {
		t.Fatalf("PostgreSQL is required by this test and could not be started: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}
