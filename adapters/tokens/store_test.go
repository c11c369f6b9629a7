package tokens

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/domain"
)

var (
	t0       = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	alice    = Spec{Kind: KindStaff, Platform: domain.PlatformDouyin, ShopID: "S1001", Staff: "alice", Role: domain.RoleMain, Name: "Alice (admin)"}
	bob      = Spec{Kind: KindStaff, Platform: domain.PlatformDouyin, ShopID: "S1001", Staff: "bob", Role: domain.RoleSub}
	jdOps    = Spec{Kind: KindOperator, Platform: domain.PlatformJD, Name: "jd-integration"}
	allOps   = Spec{Kind: KindOperator}
	ctx      = context.Background()
	noReload = time.Hour // an interval no test reaches: the store never looks at the file by itself
)

// clock is an injected Config.Now the test moves by hand.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func openAt(t *testing.T, path string, cfg Config) *FileStore {
	t.Helper()
	cfg.Path = path
	s, err := Open(cfg)
	require.NoError(t, err)
	return s
}

func create(t *testing.T, s *FileStore, spec Spec) (string, Principal) {
	t.Helper()
	tok, p, err := s.Create(ctx, spec)
	require.NoError(t, err)
	return tok, p
}

func TestCreateVerifyRevoke(t *testing.T) {
	clk := &clock{now: t0}
	dir := t.TempDir()
	s, err := Open(Config{DataDir: dir, Now: clk.Now})
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "tokens.json"), s.Path())

	tokA, pA := create(t, s, alice)
	tokB, pB := create(t, s, bob)
	tokJ, pJ := create(t, s, jdOps)
	tokO, pO := create(t, s, allOps)
	for _, tok := range []string{tokA, tokB, tokJ, tokO} {
		require.Len(t, tok, TokenLen)
		require.True(t, strings.HasPrefix(tok, "plt_"), tok)
	}

	want := []struct {
		tok  string
		p    Principal
		want Principal
	}{
		{tokA, pA, Principal{Kind: KindStaff, Platform: domain.PlatformDouyin, ShopID: "S1001", Staff: "alice", Role: domain.RoleMain, Name: "Alice (admin)"}},
		{tokB, pB, Principal{Kind: KindStaff, Platform: domain.PlatformDouyin, ShopID: "S1001", Staff: "bob", Role: domain.RoleSub}},
		{tokJ, pJ, Principal{Kind: KindOperator, Platform: domain.PlatformJD, Role: domain.RoleOperator, Name: "jd-integration"}},
		{tokO, pO, Principal{Kind: KindOperator, Role: domain.RoleOperator}},
	}
	for _, w := range want {
		require.Equal(t, w.tok[4:20], w.p.TokenID, "the token ID is the token's public part")
		w.want.TokenID = w.p.TokenID
		require.Equal(t, w.want, w.p)
		got, err := s.Verify(w.tok)
		require.NoError(t, err)
		require.Equal(t, w.want, got)
		got, err = s.Authenticate(ctx, w.tok)
		require.NoError(t, err)
		require.Equal(t, w.want, got)
	}
	// The principals speak for whom they should.
	require.Equal(t, domain.Actor{ID: "alice", Role: domain.RoleMain}, pA.Actor())
	require.Equal(t, domain.Actor{ID: "jd-integration", Role: domain.RoleOperator}, pJ.Actor())
	require.True(t, pA.CanAccess(domain.ShopRef{Platform: domain.PlatformDouyin, ShopID: "S1001"}))
	require.False(t, pA.CanAccess(domain.ShopRef{Platform: domain.PlatformDouyin, ShopID: "S1002"}))
	require.False(t, pJ.CanAccess(domain.ShopRef{Platform: domain.PlatformDouyin, ShopID: "S1001"}))
	require.True(t, pO.CanAccess(domain.ShopRef{Platform: domain.PlatformDouyin, ShopID: "S1001"}))

	// Revoked: unknown at once, the others unaffected.
	clk.now = t0.Add(time.Hour)
	e, err := s.Revoke(ctx, pA.TokenID)
	require.NoError(t, err)
	require.Equal(t, t0.Add(time.Hour), *e.RevokedAt)
	_, err = s.Verify(tokA)
	require.ErrorIs(t, err, ErrUnknown)
	_, err = s.Verify(tokB)
	require.NoError(t, err)

	// Revoking twice changes nothing; an unknown ID is not found.
	clk.now = t0.Add(2 * time.Hour)
	e, err = s.Revoke(ctx, pA.TokenID)
	require.ErrorIs(t, err, ErrAlreadyRevoked)
	require.Equal(t, t0.Add(time.Hour), *e.RevokedAt, "the first revocation stands")
	_, err = s.Revoke(ctx, "0123456789abcdef")
	require.ErrorIs(t, err, ErrNotFound)

	list, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 4)
	require.Equal(t, pA, list[0].Principal)
	require.Equal(t, t0, list[0].CreatedAt)
	require.Equal(t, t0.Add(time.Hour), *list[0].RevokedAt)
	require.Equal(t, pO, list[3].Principal)
	require.Nil(t, list[3].RevokedAt)
}

func TestVerifyRejectsEveryMalformedOrForeignToken(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "tokens.json"), Config{CheckInterval: noReload})
	tok, _ := create(t, s, alice)
	other, _ := create(t, s, bob)
	// A token issued by another store: well formed, unknown here.
	foreign, _ := create(t, openAt(t, filepath.Join(t.TempDir(), "tokens.json"), Config{}), alice)

	id, secret := tok[4:20], tok[21:]
	replaceAt := func(s string, i int, c string) string { return s[:i] + c + s[i+len(c):] }
	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", ErrMalformed},
		{"the whole header value", "Bearer " + tok, ErrMalformed},
		{"wrong prefix", "pxt" + tok[3:], ErrMalformed},
		{"upper-case prefix", "PLT" + tok[3:], ErrMalformed},
		{"one byte short", tok[:TokenLen-1], ErrMalformed},
		{"one byte long", tok + "A", ErrMalformed},
		{"trailing newline", tok[:TokenLen-1] + "\n", ErrMalformed},
		{"short id", "plt_" + id[:15] + "_" + secret + "A", ErrMalformed},
		{"long id", "plt_" + id + "0_" + secret[:42], ErrMalformed},
		{"upper-case hex id", "plt_" + strings.ToUpper("abcdef0123456789") + "_" + secret, ErrMalformed},
		{"id not hex", replaceAt(tok, 4, "g"), ErrMalformed},
		{"separator missing", replaceAt(tok, 20, "-"), ErrMalformed},
		{"secret with '+' (standard base64)", replaceAt(tok, 30, "+"), ErrMalformed},
		{"secret with '/'", replaceAt(tok, 30, "/"), ErrMalformed},
		{"secret padded with '='", tok[:TokenLen-1] + "=", ErrMalformed},
		{"secret with non-zero padding bits", tok[:TokenLen-1] + nonZeroPadding(tok[TokenLen-1]), ErrMalformed},
		{"secret with a space", replaceAt(tok, 40, " "), ErrMalformed},
		{"secret with NUL", replaceAt(tok, 40, "\x00"), ErrMalformed},
		{"unicode of the same byte length", replaceAt(tok, 40, "é"), ErrMalformed},
		{"unicode id", "plt_" + "ａｂ" + id[6:] + "_" + secret, ErrMalformed},
		{"invalid UTF-8", replaceAt(tok, 40, "\xff"), ErrMalformed},
		{"10 KB", strings.Repeat("A", 10<<10), ErrMalformed},
		{"10 KB starting like a token", tok + strings.Repeat("A", 10<<10), ErrMalformed},
		{"id of another token, wrong secret", "plt_" + other[4:20] + "_" + secret, ErrUnknown},
		{"right id, secret changed in one character", replaceAt(tok, 30, flip(tok[30])), ErrUnknown},
		{"well formed, never issued", "plt_0123456789abcdef_" + secret, ErrUnknown},
		{"issued by another store", foreign, ErrUnknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := s.Verify(c.token)
			require.ErrorIs(t, err, c.want)
			require.Equal(t, Principal{}, p)
		})
	}
	_, err := s.Verify(tok)
	require.NoError(t, err, "the genuine token still works")
}

// nonZeroPadding is a last secret character whose low 2 bits are set: it
// decodes (non-strictly) to the same bytes as c, so it must be refused.
func nonZeroPadding(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return string(alphabet[b64Index(c)|1])
}

// flip is another base64url character.
func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestCreateRefusesInvalidSpecs(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "tokens.json"), Config{})
	with := func(f func(*Spec)) Spec { sp := alice; f(&sp); return sp }
	cases := []struct {
		name string
		spec Spec
	}{
		{"no kind", with(func(s *Spec) { s.Kind = "" })},
		{"unknown kind", with(func(s *Spec) { s.Kind = "admin" })},
		{"staff: unknown platform", with(func(s *Spec) { s.Platform = "amazon" })},
		{"staff: no platform", with(func(s *Spec) { s.Platform = "" })},
		{"staff: no shop", with(func(s *Spec) { s.ShopID = "" })},
		{"staff: shop ID outside the domain's alphabet", with(func(s *Spec) { s.ShopID = "S1.001" })},
		{"staff: shop ID longer than 64", with(func(s *Spec) { s.ShopID = strings.Repeat("s", 65) })},
		{"staff: no staff", with(func(s *Spec) { s.Staff = "" })},
		{"staff: staff ID with a slash", with(func(s *Spec) { s.Staff = "a/b" })},
		{"staff: operator role", with(func(s *Spec) { s.Role = domain.RoleOperator })},
		{"staff: system role", with(func(s *Spec) { s.Role = domain.RoleSystem })},
		{"staff: no role", with(func(s *Spec) { s.Role = "" })},
		{"name too long", with(func(s *Spec) { s.Name = strings.Repeat("n", MaxNameLen+1) })},
		{"name with a newline", with(func(s *Spec) { s.Name = "a\nb" })},
		{"name not UTF-8", with(func(s *Spec) { s.Name = "\xff" })},
		{"operator: unknown platform", Spec{Kind: KindOperator, Platform: "amazon"}},
		{"operator: with a shop", Spec{Kind: KindOperator, ShopID: "S1001"}},
		{"operator: with a staff account", Spec{Kind: KindOperator, Staff: "alice"}},
		{"operator: main role", Spec{Kind: KindOperator, Role: domain.RoleMain}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok, _, err := s.Create(ctx, c.spec)
			require.ErrorIs(t, err, ErrInvalidSpec)
			require.Empty(t, tok)
		})
	}
	list, err := s.List(ctx)
	require.NoError(t, err)
	require.Empty(t, list, "nothing was written")
	_, err = os.Stat(s.Path())
	require.ErrorIs(t, err, os.ErrNotExist)
	// Every platform of the domain is accepted.
	for _, p := range domain.Platforms() {
		_, _, err := s.Create(ctx, with(func(s *Spec) { s.Platform = p }))
		require.NoError(t, err, p)
	}
}

func TestFileHoldsOnlyHashesWithMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "tokens.json") // data/ does not exist yet
	s := openAt(t, path, Config{})
	var toks []string
	for _, sp := range []Spec{alice, bob, jdOps} {
		tok, _ := create(t, s, sp)
		toks = append(toks, tok)
	}
	_, err := s.Revoke(ctx, toks[1][4:20])
	require.NoError(t, err)

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, tok := range toks {
		require.NotContains(t, string(raw), tok)
		require.NotContains(t, string(raw), tok[21:], "the secret part")
		require.NotContains(t, string(raw), tok[21:37], "not even a piece of the secret")
		h := sha256.Sum256([]byte(tok))
		require.Contains(t, string(raw), hex.EncodeToString(h[:]))
	}
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// No temporary file is left behind.
	names, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	for _, n := range names {
		require.Contains(t, []string{"tokens.json", "tokens.json.lock"}, n.Name())
	}
}

func TestOpenRefusesAnInvalidFile(t *testing.T) {
	good := func() fileData {
		return fileData{Version: fileVersion, Tokens: []fileEntry{{
			ID: "0123456789abcdef", SHA256: strings.Repeat("ab", 32), Kind: KindStaff, Platform: domain.PlatformJD,
			ShopID: "north", Staff: "admin", Role: domain.RoleMain, CreatedAt: t0,
		}}}
	}
	cases := []struct {
		name   string
		mutate func(*fileData)
		raw    string
	}{
		{name: "not JSON", raw: "plt_0123456789abcdef_"},
		{name: "empty file", raw: ""},
		{name: "unknown version", mutate: func(d *fileData) { d.Version = 2 }},
		{name: "bad id", mutate: func(d *fileData) { d.Tokens[0].ID = "XYZ" }},
		{name: "duplicate id", mutate: func(d *fileData) { d.Tokens = append(d.Tokens, d.Tokens[0]) }},
		{name: "short hash", mutate: func(d *fileData) { d.Tokens[0].SHA256 = "abcd" }},
		{name: "upper-case hash", mutate: func(d *fileData) { d.Tokens[0].SHA256 = strings.Repeat("AB", 32) }},
		{name: "a token in place of the hash", mutate: func(d *fileData) { d.Tokens[0].SHA256 = "plt_0123456789abcdef_" + strings.Repeat("A", 43) }},
		{name: "unknown kind", mutate: func(d *fileData) { d.Tokens[0].Kind = "root" }},
		{name: "staff with operator role", mutate: func(d *fileData) { d.Tokens[0].Role = domain.RoleOperator }},
		{name: "operator with main role", mutate: func(d *fileData) {
			d.Tokens[0].Kind, d.Tokens[0].ShopID, d.Tokens[0].Staff = KindOperator, "", ""
		}},
		{name: "no created_at", mutate: func(d *fileData) { d.Tokens[0].CreatedAt = time.Time{} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens.json")
			if c.mutate != nil {
				d := good()
				c.mutate(&d)
				require.NoError(t, writeFile(path, d))
			} else {
				require.NoError(t, os.WriteFile(path, []byte(c.raw), 0o600))
			}
			_, err := Open(Config{Path: path})
			require.Error(t, err)
		})
	}
	t.Run("the good file opens", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tokens.json")
		require.NoError(t, writeFile(path, good()))
		_, err := Open(Config{Path: path})
		require.NoError(t, err)
	})
	_, err := Open(Config{})
	require.Error(t, err, "neither DataDir nor Path")
}
