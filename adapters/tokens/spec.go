package tokens

import (
	"errors"
	"fmt"
	"time"

	"github.com/payoutledger/ledger/domain"
)

// Errors of Create and Revoke (Verify's are in principal.go). Stable:
// callers branch on them with errors.Is.
var (
	// ErrInvalidSpec: Create was asked for a token no one can hold (an
	// unknown platform, a malformed shop or staff ID, a role other than
	// main|sub for staff, fields that do not belong to the kind). The
	// wrapped message says which.
	ErrInvalidSpec = errors.New("tokens: invalid token spec")
	// ErrNotFound: no token has that ID.
	ErrNotFound = errors.New("tokens: no such token")
	// ErrAlreadyRevoked: Revoke of a revoked token; nothing changed.
	ErrAlreadyRevoked = errors.New("tokens: token already revoked")
	// ErrFull: the file holds MaxTokens tokens.
	ErrFull = errors.New("tokens: token file full")
)

// Spec is what a new token is bound to.
//
//   - KindStaff: Platform, ShopID and Staff (IDs of the domain's alphabet,
//     [A-Za-z0-9_-]{1,64}) and Role main or sub.
//   - KindOperator: Platform one platform, or "" for every platform; no
//     ShopID, Staff; Role empty or operator.
//
// Name is free text (who holds it), at most MaxNameLen bytes of printable
// characters. An operator token's Name is its actor ID in the events it
// causes (Principal.Actor).
type Spec struct {
	Kind     Kind
	Platform domain.PlatformID
	ShopID   string
	Staff    string
	Role     domain.Role
	Name     string
}

func (s Spec) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, a...))
	}
	if !validName(s.Name) {
		return bad("name: at most %d bytes of printable text", MaxNameLen)
	}
	switch s.Kind {
	case KindStaff:
		if _, ok := domain.LookupProfile(s.Platform); !ok {
			return bad("platform %q is not one of %v", s.Platform, domain.Platforms())
		}
		if !validID(s.ShopID) {
			return bad("shop ID %q: want 1 to 64 of [A-Za-z0-9_-]", s.ShopID)
		}
		if !validID(s.Staff) {
			return bad("staff ID %q: want 1 to 64 of [A-Za-z0-9_-]", s.Staff)
		}
		if s.Role != domain.RoleMain && s.Role != domain.RoleSub {
			return bad("role %q: a staff token is for a main or a sub account", s.Role)
		}
	case KindOperator:
		if s.Platform != "" {
			if _, ok := domain.LookupProfile(s.Platform); !ok {
				return bad("platform %q is not one of %v", s.Platform, domain.Platforms())
			}
		}
		if s.ShopID != "" || s.Staff != "" {
			return bad("an operator token is bound to no shop and no staff account")
		}
		if s.Role != "" && s.Role != domain.RoleOperator {
			return bad("role %q: an operator token has the operator role", s.Role)
		}
	default:
		return bad("kind %q: want %q or %q", s.Kind, KindStaff, KindOperator)
	}
	return nil
}

// validID is the domain's ID rule ([A-Za-z0-9_-]{1,64}: IDs become
// subject tokens and URL path segments). domain exports it only through
// ParseStream, which checks the part after the first dot with it; a dot
// in s fails there too.
func validID(s string) bool {
	_, ok := domain.ParseStream("x." + s)
	return ok
}

// Entry is a token as List shows it: never its hash.
type Entry struct {
	Principal Principal // Principal.TokenID is the token's ID
	CreatedAt time.Time
	RevokedAt *time.Time // nil while the token is valid
}
