package tokens

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/payoutledger/ledger/domain"
)

// Limits of the token file.
const (
	// MaxTokens bounds the file (revoked tokens included): about 250 bytes
	// each, so a full file stays a few MB and reloads in milliseconds.
	MaxTokens = 50_000
	// MaxNameLen bounds a token's name in bytes.
	MaxNameLen = 100
	// maxFileSize refuses a file that cannot be ours before reading it.
	maxFileSize = 32 << 20
	// fileVersion is the format of tokens.json.
	fileVersion = 1
)

// FileName is the token file's name under the data directory.
const FileName = "tokens.json"

// DefaultPath is the token file of a data directory: <dataDir>/tokens.json.
func DefaultPath(dataDir string) string { return filepath.Join(dataDir, FileName) }

// fileData is tokens.json.
type fileData struct {
	Version int         `json:"version"`
	Tokens  []fileEntry `json:"tokens"`
}

// fileEntry is one token as stored: its SHA-256, never the token.
type fileEntry struct {
	ID        string            `json:"id"`
	SHA256    string            `json:"sha256"` // hex of SHA-256(whole token)
	Kind      Kind              `json:"kind"`
	Platform  domain.PlatformID `json:"platform,omitempty"`
	ShopID    string            `json:"shop_id,omitempty"`
	Staff     string            `json:"staff,omitempty"`
	Role      domain.Role       `json:"role"`
	Name      string            `json:"name,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	RevokedAt *time.Time        `json:"revoked_at"`
}

func (e fileEntry) principal() Principal {
	return Principal{TokenID: e.ID, Kind: e.Kind, Platform: e.Platform, ShopID: e.ShopID, Staff: e.Staff, Role: e.Role, Name: e.Name}
}

func (e fileEntry) public() Entry {
	out := Entry{Principal: e.principal(), CreatedAt: e.CreatedAt}
	if e.RevokedAt != nil {
		t := *e.RevokedAt
		out.RevokedAt = &t
	}
	return out
}

// readFile reads and checks the token file. A missing file is an empty
// one: no token has been issued yet.
func readFile(path string) (fileData, os.FileInfo, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return fileData{Version: fileVersion}, nil, nil
	}
	if err != nil {
		return fileData{}, nil, fmt.Errorf("tokens: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileData{}, nil, fmt.Errorf("tokens: %w", err)
	}
	if fi.Size() > maxFileSize {
		return fileData{}, nil, fmt.Errorf("tokens: %s is %d bytes, more than a token file can be (%d)", path, fi.Size(), maxFileSize)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return fileData{}, nil, fmt.Errorf("tokens: read %s: %w", path, err)
	}
	var d fileData
	if err := json.Unmarshal(b, &d); err != nil {
		return fileData{}, nil, fmt.Errorf("tokens: %s: %w", path, err)
	}
	if err := d.check(); err != nil {
		return fileData{}, nil, fmt.Errorf("tokens: %s: %w", path, err)
	}
	return d, fi, nil
}

// check refuses a file edited into something Create would never write: a
// broken entry must fail loudly, not authenticate someone unexpected.
func (d fileData) check() error {
	if d.Version != fileVersion {
		return fmt.Errorf("format version %d, want %d", d.Version, fileVersion)
	}
	if len(d.Tokens) > MaxTokens {
		return fmt.Errorf("%d tokens, more than %d", len(d.Tokens), MaxTokens)
	}
	seen := make(map[string]bool, len(d.Tokens))
	for i, e := range d.Tokens {
		if !ValidTokenID(e.ID) {
			return fmt.Errorf("token %d: id %q is not 16 lower-case hex digits", i, e.ID)
		}
		if seen[e.ID] {
			return fmt.Errorf("token %s appears twice", e.ID)
		}
		seen[e.ID] = true
		if h, err := hex.DecodeString(e.SHA256); err != nil || len(e.SHA256) != hashHexLen || hex.EncodeToString(h) != e.SHA256 {
			return fmt.Errorf("token %s: sha256 is not 64 lower-case hex digits", e.ID)
		}
		if err := e.spec().validate(); err != nil {
			return fmt.Errorf("token %s: %w", e.ID, err)
		}
		if e.Kind == KindOperator && e.Role != domain.RoleOperator {
			return fmt.Errorf("token %s: an operator token has role %q", e.ID, e.Role)
		}
		if e.CreatedAt.IsZero() {
			return fmt.Errorf("token %s: no created_at", e.ID)
		}
	}
	return nil
}

func (e fileEntry) spec() Spec {
	s := Spec{Kind: e.Kind, Platform: e.Platform, ShopID: e.ShopID, Staff: e.Staff, Name: e.Name}
	if e.Kind == KindStaff {
		s.Role = e.Role
	}
	return s
}

// writeFile replaces the token file atomically: a reader (payoutd) sees
// the old file or the new one, and a crash leaves one of the two, never a
// torn file. Mode 0600: the hashes are not secrets, but who holds which
// token is nobody else's business.
func writeFile(path string, d fileData) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("tokens: encode: %w", err)
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp creates 0600 already; Chmod states it against the umask
	// and a future change of CreateTemp.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("tokens: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("tokens: fsync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	done = true
	return syncDir(dir)
}

// validName: printable text a listing can show on one line.
func validName(s string) bool {
	if len(s) > MaxNameLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
