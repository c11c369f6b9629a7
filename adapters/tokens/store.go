package tokens

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payoutledger/ledger/domain"
)

// Config configures a FileStore.
type Config struct {
	// DataDir is payoutd's data directory; the file is DataDir/tokens.json.
	DataDir string
	// Path overrides DataDir: the token file itself.
	Path string
	// Now stamps created_at and revoked_at; time.Now when nil.
	Now func() time.Time
	// CheckInterval: at most one stat of the file per interval on the
	// verify path, so a token created or revoked by another process is
	// seen within it. Default 1s.
	CheckInterval time.Duration
	// RecheckInterval: an unknown token makes Verify stat the file at once
	// (it may have just been created), at most once per interval however
	// many unknown tokens arrive. Default 50ms.
	RecheckInterval time.Duration
	// OnReloadError is told when the verify path cannot reload a changed
	// file (unreadable, or edited into something invalid); the store keeps
	// the tokens it had. Optional: payoutd logs it.
	OnReloadError func(error)
}

// FileStore keeps the tokens in one JSON file (DataDir/tokens.json, mode
// 0600): an ID, the SHA-256 of the token, what it is bound to, a name,
// created_at and revoked_at; never a token. Verify works on an in-memory
// copy that follows the file: another process's Create or Revoke (payoutctl
// beside a running payoutd) is seen within Config.CheckInterval, and an
// unknown token triggers an immediate, rate-limited check, so a token just
// created works at once. The file is not read on each request: a stat per
// interval, a read only when its identity, size or mtime changed.
//
// Writers (Create, Revoke) take an exclusive lock on tokens.json.lock, read
// the file, change it and replace it atomically, so concurrent writers in
// any number of processes lose nothing. Safe for concurrent use.
type FileStore struct {
	path, lockPath string
	now            func() time.Time
	checkEvery     time.Duration
	recheckEvery   time.Duration
	onReloadError  func(error)
	start          time.Time    // monotonic base of the two clocks below
	lastCheck      atomic.Int64 // ns since start: last stat
	lastRecheck    atomic.Int64 // ns since start: last stat caused by an unknown token
	snap           atomic.Pointer[snapshot]
	reloadMu       sync.Mutex // one stat-and-reload at a time
	writeMu        sync.Mutex // this instance's writers queue here, not on the file lock's polling
}

// snapshot is one version of the file, immutable once published.
type snapshot struct {
	active  map[string]activeToken // by ID; valid tokens only
	entries []fileEntry
	fi      os.FileInfo // nil: the file does not exist
}

type activeToken struct {
	hash      [sha256.Size]byte
	principal Principal
}

func newSnapshot(d fileData, fi os.FileInfo) *snapshot {
	s := &snapshot{active: make(map[string]activeToken, len(d.Tokens)), entries: d.Tokens, fi: fi}
	for _, e := range d.Tokens {
		if e.RevokedAt != nil {
			continue
		}
		var h [sha256.Size]byte
		_, _ = hex.Decode(h[:], []byte(e.SHA256)) // checked by fileData.check
		s.active[e.ID] = activeToken{hash: h, principal: e.principal()}
	}
	return s
}

// Open opens the token file of cfg (which need not exist yet: no token
// issued) and reads it. It fails when the file cannot be read or is not a
// valid token file. Open creates nothing; Create creates the file.
func Open(cfg Config) (*FileStore, error) {
	path := cfg.Path
	if path == "" {
		if cfg.DataDir == "" {
			return nil, errors.New("tokens: Config.DataDir or Config.Path is required")
		}
		path = DefaultPath(cfg.DataDir)
	}
	s := &FileStore{
		path:          path,
		lockPath:      path + ".lock",
		now:           cfg.Now,
		checkEvery:    cfg.CheckInterval,
		recheckEvery:  cfg.RecheckInterval,
		onReloadError: cfg.OnReloadError,
		start:         time.Now(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.checkEvery <= 0 {
		s.checkEvery = time.Second
	}
	if s.recheckEvery <= 0 {
		s.recheckEvery = 50 * time.Millisecond
	}
	d, fi, err := readFile(path)
	if err != nil {
		return nil, err
	}
	s.snap.Store(newSnapshot(d, fi))
	s.lastCheck.Store(s.since())
	s.lastRecheck.Store(s.since() - int64(s.recheckEvery)) // the first unknown token may look at once
	return s, nil
}

// Path is the token file.
func (s *FileStore) Path() string { return s.path }

func (s *FileStore) since() int64 { return int64(time.Since(s.start)) }

// Verify returns the principal of a bearer token. ErrMalformed for
// anything not shaped like a token (checked before hashing: an over-long
// or garbage header costs a length check); ErrUnknown for a well-formed
// token that was never issued, was revoked, or whose secret does not
// match its ID. The stored hash is compared in constant time.
func (s *FileStore) Verify(token string) (Principal, error) {
	id, ok := parseToken(token)
	if !ok {
		return Principal{}, ErrMalformed
	}
	h := hashToken(token)
	s.maybeReload()
	if p, ok := s.snap.Load().match(id, &h); ok {
		return p, nil
	}
	// Maybe created a moment ago by payoutctl: look once more, at most
	// once per RecheckInterval, so a flood of bad tokens costs no I/O.
	if s.recheckDue() {
		s.reloadMu.Lock()
		s.reloadReported()
		s.reloadMu.Unlock()
		if p, ok := s.snap.Load().match(id, &h); ok {
			return p, nil
		}
	}
	return Principal{}, ErrUnknown
}

// Authenticate is Verify for the HTTP layer: bearer is the credential of
// "Authorization: Bearer <bearer>". It does no I/O beyond an occasional
// stat (see FileStore), so it ignores ctx.
func (s *FileStore) Authenticate(_ context.Context, bearer string) (Principal, error) {
	return s.Verify(bearer)
}

func (sn *snapshot) match(id string, h *[sha256.Size]byte) (Principal, bool) {
	t, ok := sn.active[id]
	if !ok || subtle.ConstantTimeCompare(t.hash[:], h[:]) != 1 {
		return Principal{}, false
	}
	return t.principal, true
}

// maybeReload stats the file when CheckInterval has passed since the last
// stat. Concurrent callers do not wait for one another: whoever gets the
// lock checks, the others use the current snapshot.
func (s *FileStore) maybeReload() {
	if s.since()-s.lastCheck.Load() < int64(s.checkEvery) {
		return
	}
	if !s.reloadMu.TryLock() {
		return
	}
	defer s.reloadMu.Unlock()
	if s.since()-s.lastCheck.Load() < int64(s.checkEvery) {
		return // another caller has just checked
	}
	s.reloadReported()
}

// recheckDue reports whether this unknown token may cause a stat: one
// caller per RecheckInterval wins.
func (s *FileStore) recheckDue() bool {
	now := s.since()
	last := s.lastRecheck.Load()
	return now-last >= int64(s.recheckEvery) && s.lastRecheck.CompareAndSwap(last, now)
}

// reloadReported is reload on the verify path: an error keeps the current
// tokens and goes to OnReloadError. Caller holds reloadMu.
func (s *FileStore) reloadReported() {
	if err := s.reload(); err != nil && s.onReloadError != nil {
		s.onReloadError(err)
	}
}

// reload publishes the file's content if it changed since the snapshot:
// another inode (every write renames a new file in), size or mtime.
// Caller holds reloadMu.
func (s *FileStore) reload() error {
	s.lastCheck.Store(s.since())
	cur := s.snap.Load()
	fi, err := os.Stat(s.path)
	if errors.Is(err, os.ErrNotExist) {
		if cur.fi != nil { // deleted: every token with it
			s.snap.Store(newSnapshot(fileData{Version: fileVersion}, nil))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	if cur.fi != nil && os.SameFile(cur.fi, fi) && cur.fi.Size() == fi.Size() && cur.fi.ModTime().Equal(fi.ModTime()) {
		return nil
	}
	d, rfi, err := readFile(s.path)
	if err != nil {
		return err
	}
	s.snap.Store(newSnapshot(d, rfi))
	return nil
}

// update runs a read-modify-write of the file under the file lock, then
// publishes the result to this instance's Verify at once.
func (s *FileStore) update(ctx context.Context, change func(*fileData) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	// The data directory may not exist yet: payoutctl can issue the first
	// tokens before payoutd ever ran (0750 as jetstream's).
	if err := os.MkdirAll(filepath.Dir(s.path), 0o750); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	release, err := lockFile(ctx, s.lockPath)
	if err != nil {
		return err
	}
	defer release()
	d, _, err := readFile(s.path)
	if err != nil {
		return err
	}
	if err := change(&d); err != nil {
		return err
	}
	if err := writeFile(s.path, d); err != nil {
		return err
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	return s.reload()
}

// Create issues a token for spec and returns it with its principal. The
// token is returned only here: the file keeps its SHA-256. Errors:
// ErrInvalidSpec (wrapped with the reason), ErrFull, a file or lock error
// (ctx ends the wait for the lock).
func (s *FileStore) Create(ctx context.Context, spec Spec) (string, Principal, error) {
	toks, ps, err := s.CreateMany(ctx, []Spec{spec})
	if err != nil {
		return "", Principal{}, err
	}
	return toks[0], ps[0], nil
}

// CreateMany is Create for several tokens in one locked rewrite of the
// file (provisioning a shop's staff, benchmarks): all are created or none.
// Errors: as Create; an invalid spec names its index.
func (s *FileStore) CreateMany(ctx context.Context, specs []Spec) ([]string, []Principal, error) {
	for i := range specs {
		if specs[i].Kind == KindOperator && specs[i].Role == "" {
			specs[i].Role = domain.RoleOperator
		}
		if err := specs[i].validate(); err != nil {
			if len(specs) == 1 {
				return nil, nil, err
			}
			return nil, nil, fmt.Errorf("spec %d: %w", i, err)
		}
	}
	tokens := make([]string, len(specs))
	ps := make([]Principal, len(specs))
	err := s.update(ctx, func(d *fileData) error {
		if len(d.Tokens)+len(specs) > MaxTokens {
			return fmt.Errorf("%w: %d tokens (revoked ones included), %d more asked", ErrFull, len(d.Tokens), len(specs))
		}
		taken := make(map[string]bool, len(d.Tokens)+len(specs))
		for _, e := range d.Tokens {
			taken[e.ID] = true
		}
		now := s.now().UTC()
		for i, spec := range specs {
			id := newID()
			for taken[id] {
				id = newID()
			}
			taken[id] = true
			tokens[i] = newToken(id)
			h := hashToken(tokens[i])
			e := fileEntry{
				ID: id, SHA256: hex.EncodeToString(h[:]),
				Kind: spec.Kind, Platform: spec.Platform, ShopID: spec.ShopID, Staff: spec.Staff, Role: spec.Role, Name: spec.Name,
				CreatedAt: now,
			}
			d.Tokens = append(d.Tokens, e)
			ps[i] = e.principal()
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return tokens, ps, nil
}

// Revoke revokes the token with this ID: from then on Verify answers
// ErrUnknown for it here at once, and in other processes within their
// CheckInterval. Errors: ErrNotFound; ErrAlreadyRevoked (with the entry,
// unchanged); a file or lock error.
func (s *FileStore) Revoke(ctx context.Context, id string) (Entry, error) {
	var out Entry
	err := s.update(ctx, func(d *fileData) error {
		for i := range d.Tokens {
			e := &d.Tokens[i]
			if e.ID != id {
				continue
			}
			if e.RevokedAt != nil {
				out = e.public()
				return ErrAlreadyRevoked
			}
			t := s.now().UTC()
			e.RevokedAt = &t
			out = e.public()
			return nil
		}
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	})
	if err != nil && !errors.Is(err, ErrAlreadyRevoked) {
		return Entry{}, err
	}
	return out, err
}

// List returns every token of the file, revoked ones included, in the
// order they were created; never a hash. It reads the file if it changed.
func (s *FileStore) List(ctx context.Context) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.reloadMu.Lock()
	err := s.reload()
	sn := s.snap.Load()
	s.reloadMu.Unlock()
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(sn.entries))
	for i, e := range sn.entries {
		out[i] = e.public()
	}
	return out, nil
}
