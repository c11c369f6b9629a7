package tokens

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// The token format: "plt_<id>_<secret>".
//
//   - "plt_" makes a leaked token recognisable (secret scanners, logs).
//   - id: 8 random bytes, 16 lower-case hex digits. Public: it names the
//     token in logs, listings and revocations, and it is the lookup key.
//   - secret: 32 random bytes (256 bits) from crypto/rand, base64url
//     without padding (43 characters).
//
// Every token has exactly TokenLen bytes, so anything else is rejected
// before hashing and a 10 KB header costs one length comparison.
const (
	tokenPrefix = "plt_"
	idBytes     = 8
	secretBytes = 32
	idLen       = 2 * idBytes                              // 16
	secretLen   = (secretBytes*8 + 5) / 6                  // 43
	idStart     = len(tokenPrefix)                         // 4
	sepAt       = idStart + idLen                          // 20
	secretStart = sepAt + 1                                // 21
	TokenLen    = len(tokenPrefix) + idLen + 1 + secretLen // 64: the length of every token
	hashHexLen  = 2 * sha256.Size                          // 64
)

// b64 refuses encodings whose unused trailing bits are not zero, so each
// secret has exactly one spelling.
var b64 = base64.RawURLEncoding.Strict()

// newID returns a fresh random token ID.
func newID() string {
	var b [idBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return hex.EncodeToString(b[:])
}

// newToken returns a fresh token with the given ID.
func newToken(id string) string {
	var b [secretBytes]byte
	_, _ = rand.Read(b[:])
	return tokenPrefix + id + "_" + b64.EncodeToString(b[:])
}

// parseToken checks the token's shape and returns its ID (a substring of
// tok, no allocation). It reports false for anything that is not exactly
// a token: wrong length, prefix, separator, an ID not of lower-case hex, a
// secret with a character outside base64url or with non-zero padding bits.
func parseToken(tok string) (id string, ok bool) {
	if len(tok) != TokenLen || tok[:idStart] != tokenPrefix || tok[sepAt] != '_' {
		return "", false
	}
	id = tok[idStart:sepAt]
	if !ValidTokenID(id) {
		return "", false
	}
	s := tok[secretStart:]
	for i := 0; i < len(s); i++ {
		if !isB64URL(s[i]) {
			return "", false
		}
	}
	// 43 characters carry 258 bits for 256: the last character's 2 low
	// bits must be zero. Its index in the alphabet is checked here rather
	// than by decoding, which would allocate on every request.
	if b64Index(s[len(s)-1])&0x3 != 0 {
		return "", false
	}
	return id, true
}

// ValidTokenID reports whether id has the shape of a token ID: 16
// lower-case hex digits.
func ValidTokenID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isB64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// b64Index is c's value in the base64url alphabet (c is one of it).
func b64Index(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A'
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26
	case '0' <= c && c <= '9':
		return c - '0' + 52
	case c == '-':
		return 62
	}
	return 63 // '_'
}

// hashToken is what the file stores: the SHA-256 of the whole token.
func hashToken(tok string) [sha256.Size]byte { return sha256.Sum256([]byte(tok)) }
