package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/tokens"
	"github.com/payoutledger/ledger/domain"
)

// createToken runs `payoutctl token create` and returns the token: stdout
// must hold it and nothing else, as TOKEN=$(payoutctl token create ...)
// needs.
func createToken(t *testing.T, args ...string) (token, stderr string) {
	t.Helper()
	code, out, errOut := ctl(t, append([]string{"token", "create"}, args...)...)
	require.Equal(t, 0, code, errOut)
	require.True(t, strings.HasSuffix(out, "\n"), out)
	token = strings.TrimSuffix(out, "\n")
	require.Len(t, token, tokens.TokenLen, "stdout is the token only: %q", out)
	require.True(t, strings.HasPrefix(token, "plt_"))
	require.NotContains(t, errOut, token, "the token goes to stdout only")
	return token, errOut
}

func TestTokenCreateListRevoke(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data") // created by the first token
	staffTok, errOut := createToken(t, "--data", data, "--shop", "douyin/S1001", "--staff", "alice", "--role", "main", "--name", "Alice Wang")
	staffID := staffTok[4:20]
	require.Contains(t, errOut, "token "+staffID+" for staff account alice (main) of shop douyin/S1001")
	require.Contains(t, errOut, "shown once")
	opsTok, errOut := createToken(t, "--operator", "--platform", "jd", "--data", data)
	opsID := opsTok[4:20]
	require.Contains(t, errOut, "the operator of platform jd")
	allTok, errOut := createToken(t, "--operator", "--data", data, "--name", "erp")
	require.Contains(t, errOut, `the operator of every platform, name "erp"`)

	// payoutd's side (polling the file faster than its default second):
	// the tokens verify to what was asked.
	st, err := tokens.Open(tokens.Config{DataDir: data, CheckInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	p, err := st.Verify(staffTok)
	require.NoError(t, err)
	require.Equal(t, tokens.Principal{TokenID: staffID, Kind: tokens.KindStaff, Platform: domain.PlatformDouyin, ShopID: "S1001",
		Staff: "alice", Role: domain.RoleMain, Name: "Alice Wang"}, p)
	p, err = st.Verify(opsTok)
	require.NoError(t, err)
	require.Equal(t, tokens.Principal{TokenID: opsID, Kind: tokens.KindOperator, Platform: domain.PlatformJD, Role: domain.RoleOperator}, p)
	p, err = st.Verify(allTok)
	require.NoError(t, err)
	require.Equal(t, domain.PlatformID(""), p.Platform)

	code, out, errOut := ctl(t, "token", "list", "--data", data)
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4)
	require.Regexp(t, `^ID\s+KIND\s+SHOP\s+STAFF\s+ROLE\s+NAME\s+CREATED\s+REVOKED$`, lines[0])
	require.Regexp(t, `^`+staffID+`\s+staff\s+douyin/S1001\s+alice\s+main\s+Alice Wang\s+\d{4}-\d\d-\d\dT\S+Z\s+-$`, lines[1])
	require.Regexp(t, `^`+opsID+`\s+operator\s+jd\s+-\s+operator\s+-\s+\S+\s+-$`, lines[2])
	require.Regexp(t, `\s+operator\s+\*\s+-\s+operator\s+erp\s+`, lines[3])
	for _, tok := range []string{staffTok, opsTok, allTok} {
		require.NotContains(t, out, tok[21:], "list never shows a secret")
		h := sha256.Sum256([]byte(tok))
		require.NotContains(t, out, hex.EncodeToString(h[:]), "nor a hash")
	}

	// Revoke: the ID may come before or after the flags.
	code, out, errOut = ctl(t, "token", "revoke", staffID, "--data", data)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "revoked token "+staffID+" (staff account alice (main) of shop douyin/S1001")
	require.Eventually(t, func() bool {
		_, err := st.Verify(staffTok)
		return errors.Is(err, tokens.ErrUnknown)
	}, 5*time.Second, 5*time.Millisecond, "an open store sees the revocation (payoutd without restart)")
	_, err = st.Verify(opsTok)
	require.NoError(t, err)
	code, out, errOut = ctl(t, "token", "revoke", "--data", data, staffID)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "was already revoked at")
	code, _, errOut = ctl(t, "token", "revoke", "--data", data, "0123456789abcdef")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "no token 0123456789abcdef in "+filepath.Join(data, "tokens.json"))

	code, out, _ = ctl(t, "token", "list", "--data", data)
	require.Equal(t, 0, code)
	require.Regexp(t, `(?m)^`+staffID+`\s.*Z\s+\d{4}-\d\d-\d\dT\S+Z$`, out, "revoked time listed")
	require.Regexp(t, `(?m)^`+opsID+`\s.*\s-$`, out)
}

func TestTokenFileFlag(t *testing.T) {
	file := filepath.Join(t.TempDir(), "elsewhere.json")
	tok, _ := createToken(t, "--tokens", file, "--shop", "jd/north", "--staff", "bob", "--role", "sub")
	st, err := tokens.Open(tokens.Config{Path: file})
	require.NoError(t, err)
	_, err = st.Verify(tok)
	require.NoError(t, err)
	fi, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	code, _, errOut := ctl(t, "token", "list", "--data", t.TempDir())
	require.Equal(t, 0, code)
	require.Contains(t, errOut, "no token in")
}

func TestTokenUsageErrorsExit2(t *testing.T) {
	data := t.TempDir()
	staff := []string{"token", "create", "--data", data}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no token subcommand", []string{"token"}, "usage: payoutctl token <create|list|revoke>"},
		{"unknown token subcommand", []string{"token", "mint"}, `unknown subcommand "mint"`},
		{"create: neither --shop nor --operator", staff, "--shop (a staff token) or --operator is required"},
		{"create: both", append(staff, "--operator", "--shop", "jd/north"), "exclude each other"},
		{"create: shop without slash", append(staff, "--shop", "north", "--staff", "a", "--role", "main"), "want PLATFORM/SHOP-ID"},
		{"create: shop without staff", append(staff, "--shop", "jd/north", "--role", "main"), "needs --staff and --role"},
		{"create: shop without role", append(staff, "--shop", "jd/north", "--staff", "a"), "needs --staff and --role"},
		{"create: staff role operator", append(staff, "--shop", "jd/north", "--staff", "a", "--role", "operator"), "a staff token is for a main or a sub account"},
		{"create: unknown platform", append(staff, "--shop", "amazon/north", "--staff", "a", "--role", "main"), `platform "amazon" is not one of`},
		{"create: shop ID outside the alphabet", append(staff, "--shop", "jd/no rth", "--staff", "a", "--role", "main"), "shop ID"},
		{"create: --platform with --shop", append(staff, "--shop", "jd/north", "--staff", "a", "--role", "main", "--platform", "jd"), "--platform is for --operator"},
		{"create: operator with staff", append(staff, "--operator", "--staff", "a"), "--staff and --role are for a staff token"},
		{"create: operator of an unknown platform", append(staff, "--operator", "--platform", "amazon"), `platform "amazon"`},
		{"create: name with a newline", append(staff, "--operator", "--name", "a\nb"), "name"},
		{"create: unknown flag", append(staff, "--admin"), "flag provided but not defined"},
		{"create: stray argument", append(staff, "--operator", "extra"), `unexpected argument "extra"`},
		{"list: stray argument", []string{"token", "list", "--data", data, "all"}, `unexpected argument "all"`},
		{"revoke: no ID", []string{"token", "revoke", "--data", data}, "the ID of the token to revoke is required"},
		{"revoke: the token instead of its ID", []string{"token", "revoke", "--data", data, "plt_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, "not the token itself"},
		{"revoke: not an ID", []string{"token", "revoke", "--data", data, "0123ABCD"}, "is not a token ID"},
		{"revoke: two IDs", []string{"token", "revoke", "--data", data, "0123456789abcdef", "fedcba9876543210"}, "unexpected argument"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := ctl(t, c.args...)
			require.Equal(t, 2, code, errOut)
			require.Contains(t, errOut, c.want)
			require.Empty(t, out, "nothing on stdout: no token")
		})
	}
	entries, err := os.ReadDir(data)
	require.NoError(t, err)
	for _, e := range entries {
		require.NotEqual(t, "tokens.json", e.Name(), "no usage error issued a token")
	}
}

func TestTokenHelp(t *testing.T) {
	code, out, _ := ctl(t, "--help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "token")
	code, out, _ = ctl(t, "token", "--help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "usage: payoutctl token <create|list|revoke>")
	for _, sub := range []string{"create", "list", "revoke"} {
		code, out, errOut := ctl(t, "token", sub, "--help")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "usage: payoutctl token "+sub)
		require.Contains(t, out, "-data")
		require.Contains(t, out, "-tokens")
	}
}
