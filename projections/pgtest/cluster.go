// Package pgtest starts throwaway PostgreSQL clusters for tests, so that the
// PostgreSQL tests run in `make test` and in CI on any machine where the
// server binaries are installed, and never skip there.
//
// A cluster is initdb'd in a fresh directory under os.TempDir(), started
// with fsync off on a free 127.0.0.1 port (its unix socket in the same
// directory), and removed when it stops. Nothing is installed or configured
// by hand: the binaries of the Debian/Ubuntu packages
// (/usr/lib/postgresql/<version>/bin, the newest version wins) or any
// initdb and postgres on PATH are used. PGTEST_BINDIR overrides the search.
//
// PostgreSQL refuses to run as root. When the tests run as root the cluster
// runs as the `postgres` OS user (which the server package creates); the
// directory is chowned to it. As any other user the cluster runs as that
// user.
//
// Missing binaries or a missing `postgres` user fail the test with the fix
// in the message: a PostgreSQL test that cannot run is a failure, never a
// skip.
//
// Usage, one cluster per test package:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.NewDatabase(t) // a fresh, empty database
//		...
//	}
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// InstallHint is the fix named in every "cannot start PostgreSQL" failure.
const InstallHint = "install the server with `apt-get install postgresql-15` (or set PGTEST_BINDIR to a directory holding initdb and postgres)"

// Limits of a start: initdb and the first accepted connection must each
// happen within this time, or the start fails with the server's log.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 15 * time.Second
	portAttempts = 5 // a free port can be taken by another process before postgres binds it
)

// Cluster is one running throwaway PostgreSQL server. Stop removes it.
type Cluster struct {
	Version string // major version of the binaries, e.g. "15"
	BinDir  string
	Dir     string // the temporary directory: data/, the socket, postgres.log
	Port    int

	durable bool // StartWith(Options{Durable: true})

	cmd      *exec.Cmd
	exited   chan struct{} // closed when the postmaster exited
	waitErr  error         // valid once exited is closed
	stopOnce sync.Once
	stopErr  error
	mu       sync.Mutex
	seq      int
}

// DSN is the connection string of database db on the cluster, as the
// superuser `postgres` over TCP (trust authentication: the server listens
// on 127.0.0.1 only and lives as long as the tests).
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// Options of StartWith.
type Options struct {
	// Durable runs the server as production would (fsync, synchronous
	// commit, full-page writes on): for benchmarks that compare the
	// ledger's fsync-before-ack path with PostgreSQL. Tests leave it off
	// (throwaway data, faster).
	Durable bool
}

// Start initialises and starts a cluster with fsync off. The caller must
// Stop it. Errors say what failed and carry the server's log when it ran.
func Start() (*Cluster, error) { return StartWith(Options{}) }

// StartWith is Start with options.
func StartWith(opts Options) (*Cluster, error) {
	bin, version, err := findBinaries()
	if err != nil {
		return nil, err
	}
	runAs, err := serverCredential()
	if err != nil {
		return nil, err
	}
	removeStaleDirs()
	dir, err := makeDir(runAs)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Version: version, BinDir: bin, Dir: dir, durable: opts.Durable}
	if err := c.initdb(runAs); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	var lastErr error
	for range portAttempts {
		port, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		c.Port = port
		if lastErr = c.start(runAs); lastErr == nil {
			return c, nil
		}
		if !errors.Is(lastErr, errPortTaken) {
			break
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

// Stop shuts the server down (fast shutdown, then SIGKILL after a bound)
// and removes its directory. Safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		if c.cmd != nil && c.cmd.Process != nil {
			_ = c.cmd.Process.Signal(syscall.SIGINT) // fast shutdown: disconnect clients, checkpoint, exit
			select {
			case <-c.exited:
			case <-time.After(stopTimeout):
				_ = c.cmd.Process.Kill()
				<-c.exited
				c.stopErr = fmt.Errorf("pgtest: postgres did not stop within %s; killed", stopTimeout)
			}
		}
		if err := os.RemoveAll(c.Dir); err != nil && c.stopErr == nil {
			c.stopErr = fmt.Errorf("pgtest: remove %s: %w", c.Dir, err)
		}
	})
	return c.stopErr
}

// CreateDatabase creates a new empty database with a unique name derived
// from hint and returns its name.
func (c *Cluster) CreateDatabase(ctx context.Context, hint string) (string, error) {
	c.mu.Lock()
	c.seq++
	name := fmt.Sprintf("t%04d_%s", c.seq, sanitize(hint))
	c.mu.Unlock()
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: connect to create database: %w", err)
	}
	defer conn.Close(ctx)
	// FILE_COPY: with fsync off, copying template1's files is faster than
	// WAL-logging them (PostgreSQL 15's default).
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if v, _ := strconv.Atoi(c.Version); v >= 15 {
		stmt += " STRATEGY FILE_COPY"
	}
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return name, nil
}

// DropDatabase drops a database, disconnecting its remaining sessions.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: connect to drop database: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgtest: drop database %s: %w", name, err)
	}
	return nil
}

// --- start-up ------------------------------------------------------------------

var errPortTaken = errors.New("pgtest: port taken")

func (c *Cluster) dataDir() string { return filepath.Join(c.Dir, "data") }
func (c *Cluster) logPath() string { return filepath.Join(c.Dir, "postgres.log") }

func (c *Cluster) command(runAs *syscall.Credential, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.BinDir, name), args...)
	cmd.Dir = c.Dir // the server user may not be able to enter the test's working directory
	cmd.Env = []string{
		"PATH=" + c.BinDir + ":/usr/bin:/bin",
		"LC_ALL=C", "LANG=C", "TZ=UTC",
		"HOME=" + c.Dir,
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: runAs}
	return cmd
}

func (c *Cluster) initdb(runAs *syscall.Credential) error {
	cmd := c.command(runAs, "initdb",
		"-D", c.dataDir(), "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: initdb (%s) in %s failed: %v\n%s", c.BinDir, c.Dir, err, out)
	}
	return nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// start runs the postmaster in the foreground as a child of this process.
// The child gets SIGQUIT (immediate shutdown) if this process dies without
// stopping it (go test -timeout, a crash), so no server outlives its tests;
// the directory of such a run is removed by the next Start.
func (c *Cluster) start(runAs *syscall.Credential) error {
	logf, err := os.OpenFile(c.logPath(), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close()
	cmd := c.command(runAs, "postgres",
		"-D", c.dataDir(),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(c.Port),
		"-c", "unix_socket_directories="+c.Dir,
		"-c", "fsync="+onOff(c.durable),
		"-c", "synchronous_commit="+onOff(c.durable),
		"-c", "full_page_writes="+onOff(c.durable),
		"-c", "max_connections=200",
		"-c", "timezone=UTC",
		"-c", "log_min_messages=warning",
		"-c", "logging_collector=off",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	// The parent-death signal follows the OS thread that forked the child,
	// so fork from a thread that stays alive (locked, waiting) for as long
	// as the server runs.
	started := make(chan error, 1)
	c.exited = make(chan struct{})
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			runtime.UnlockOSThread()
			return
		}
		started <- nil
		c.waitErr = cmd.Wait()
		close(c.exited)
		runtime.UnlockOSThread()
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	c.cmd = cmd

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		select {
		case <-c.exited:
			log := c.logTail()
			if strings.Contains(log, "could not bind") || strings.Contains(log, "Address already in use") {
				return fmt.Errorf("%w: %d", errPortTaken, c.Port)
			}
			return fmt.Errorf("pgtest: postgres exited during start-up (%v); log %s:\n%s", c.waitErr, c.logPath(), log)
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-c.exited
			return fmt.Errorf("pgtest: postgres did not accept connections within %s; log:\n%s", startTimeout, c.logTail())
		case <-time.After(50 * time.Millisecond):
		}
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(pctx, c.DSN("postgres"))
		if err == nil {
			err = conn.Ping(pctx)
			conn.Close(pctx)
		}
		pcancel()
		if err == nil {
			return nil
		}
	}
}

func (c *Cluster) logTail() string {
	b, err := os.ReadFile(c.logPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// --- the environment ---------------------------------------------------------------

// findBinaries returns the directory of the newest initdb+postgres pair.
func findBinaries() (dir, version string, err error) {
	if d := os.Getenv("PGTEST_BINDIR"); d != "" {
		if !hasServer(d) {
			return "", "", fmt.Errorf("pgtest: PGTEST_BINDIR=%s holds no initdb and postgres executables", d)
		}
		return d, versionOf(d), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	type cand struct {
		dir string
		v   float64
	}
	var cands []cand
	for _, d := range dirs {
		if !hasServer(d) {
			continue
		}
		v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		if err != nil {
			continue
		}
		cands = append(cands, cand{d, v})
	}
	if len(cands) > 0 {
		sort.Slice(cands, func(i, j int) bool { return cands[i].v > cands[j].v })
		return cands[0].dir, filepath.Base(filepath.Dir(cands[0].dir)), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if hasServer(d) {
			return d, versionOf(d), nil
		}
	}
	return "", "", fmt.Errorf("pgtest: no PostgreSQL server binaries (initdb, postgres) in /usr/lib/postgresql/*/bin or on PATH; %s", InstallHint)
}

func hasServer(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// versionOf asks postgres --version ("postgres (PostgreSQL) 15.8 ...").
func versionOf(dir string) string {
	out, err := exec.Command(filepath.Join(dir, "postgres"), "--version").Output()
	if err != nil {
		return ""
	}
	f := strings.Fields(string(out))
	if len(f) < 3 {
		return ""
	}
	major, _, _ := strings.Cut(f[2], ".")
	return major
}

// serverCredential: PostgreSQL refuses to run as root, so as root the
// server runs as the `postgres` OS user; otherwise as the current user
// (nil: no change).
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: tests run as root and PostgreSQL refuses to run as root, but there is no `postgres` OS user to run it as (%v); %s", err, InstallHint)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("pgtest: user postgres has a non-numeric uid/gid %s/%s", u.Uid, u.Gid)
	}
	// No supplementary groups: the server must not keep root's.
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

const dirPrefix = "pgtest-"

// makeDir creates the cluster's directory, owned by the server's user.
// As root, the server user must be able to reach it: a TMPDIR under a
// private home would not do, so /tmp is used instead in that case.
func makeDir(runAs *syscall.Credential) (string, error) {
	base := os.TempDir()
	if runAs != nil && !worldSearchable(base) {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, dirPrefix)
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	// The owner file lets a later run remove this directory if this
	// process dies without stopping its cluster.
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("pgtest: %w", err)
	}
	if runAs != nil {
		if err := os.Chown(dir, int(runAs.Uid), int(runAs.Gid)); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("pgtest: chown %s to postgres: %w", dir, err)
		}
	}
	return dir, nil
}

// worldSearchable: every directory from / to dir lets others through.
func worldSearchable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// removeStaleDirs removes the directories of earlier runs whose test
// process is gone (killed before it could stop its cluster; its server
// got SIGQUIT when it died). Directories of live processes, such as the
// other test packages of a parallel `go test ./...`, are left alone.
func removeStaleDirs() {
	for _, base := range []string{os.TempDir(), "/tmp"} {
		dirs, _ := filepath.Glob(filepath.Join(base, dirPrefix+"*"))
		for _, d := range dirs {
			b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
			if err != nil {
				continue // being created right now, or not ours
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || pid <= 0 || processAlive(pid) {
				continue
			}
			if pm, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
				if first, _, _ := strings.Cut(string(pm), "\n"); first != "" {
					if spid, err := strconv.Atoi(strings.TrimSpace(first)); err == nil && processAlive(spid) {
						continue // its server is still shutting down
					}
				}
			}
			os.RemoveAll(d)
		}
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// sanitize keeps a database name readable: lower-case letters, digits and
// underscores, at most 40 of them.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return b.String()
}
