package tokens

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTokenFormat(t *testing.T) {
	require.Equal(t, base64.RawURLEncoding.EncodedLen(secretBytes), secretLen)
	require.Equal(t, 64, TokenLen)
	seen := map[string]bool{}
	for range 200 {
		id := newID()
		require.True(t, ValidTokenID(id), id)
		tok := newToken(id)
		got, ok := parseToken(tok)
		require.True(t, ok, tok)
		require.Equal(t, id, got)
		secret, err := b64.DecodeString(tok[secretStart:])
		require.NoError(t, err)
		require.Len(t, secret, secretBytes, "256 bits of secret")
		require.False(t, seen[tok[secretStart:]])
		seen[tok[secretStart:]] = true
	}
	// parseToken's own check of the padding bits agrees with the strict
	// decoder on every character of the alphabet; any other byte is
	// refused (the decoder itself would skip '\r' and '\n').
	prefix := newToken(newID())[:TokenLen-1]
	for c := range 256 {
		tok := prefix + string([]byte{byte(c)})
		_, ok := parseToken(tok)
		if !isB64URL(byte(c)) {
			require.False(t, ok, "last byte %q", c)
			continue
		}
		_, err := b64.DecodeString(tok[secretStart:])
		require.Equal(t, err == nil, ok, "last byte %q", c)
	}
}

// FuzzVerify: whatever arrives in the Authorization header, Verify neither
// panics nor accepts anything but the issued token, and answers only
// ErrMalformed or ErrUnknown.
func FuzzVerify(f *testing.F) {
	s, err := Open(Config{Path: filepath.Join(f.TempDir(), "tokens.json"), CheckInterval: noReload})
	require.NoError(f, err)
	tok, p, err := s.Create(ctx, alice)
	require.NoError(f, err)
	f.Add(tok)
	f.Add(tok[:TokenLen-1] + "B")
	f.Add("plt_" + p.TokenID + "_" + strings.Repeat("A", secretLen))
	f.Fuzz(func(t *testing.T, in string) {
		got, err := s.Verify(in)
		if in == tok {
			require.NoError(t, err)
			require.Equal(t, p, got)
			return
		}
		require.Equal(t, Principal{}, got)
		_, wellFormed := parseToken(in)
		switch {
		case errors.Is(err, ErrMalformed):
			require.False(t, wellFormed)
		case errors.Is(err, ErrUnknown):
			require.True(t, wellFormed)
		default:
			t.Fatalf("Verify(%q) = %v, want ErrMalformed or ErrUnknown", in, err)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	// A realistic file, written in one go: Verify looks up one of many.
	path := filepath.Join(b.TempDir(), "tokens.json")
	d := fileData{Version: fileVersion}
	var tok string
	for i := range 1000 {
		id := newID()
		tk := newToken(id)
		h := hashToken(tk)
		d.Tokens = append(d.Tokens, fileEntry{ID: id, SHA256: hex.EncodeToString(h[:]), Kind: alice.Kind, Platform: alice.Platform,
			ShopID: alice.ShopID, Staff: alice.Staff, Role: alice.Role, CreatedAt: t0})
		if i == 500 {
			tok = tk
		}
	}
	require.NoError(b, writeFile(path, d))
	s, err := Open(Config{Path: path})
	require.NoError(b, err)
	cases := []struct {
		name, token string
		want        error
	}{
		{"valid", tok, nil},
		{"wrong secret", tok[:30] + flip(tok[30]) + tok[31:], ErrUnknown},
		{"malformed 10KB", strings.Repeat("A", 10<<10), ErrMalformed},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Verify(c.token); !errors.Is(err, c.want) {
					b.Fatal(err)
				}
			}
		})
	}
}
