// Package tokens issues and verifies the bearer tokens of payoutd. A token
// is bound to one staff account of one shop (its main account or a
// sub-account) or to a platform operator. Only a hash of each token is
// stored: whoever reads the token file cannot act with it.
package tokens

import (
	"errors"

	"github.com/payoutledger/ledger/domain"
)

// Kind says what a token is bound to.
type Kind string

const (
	// KindStaff: one account (main or sub) of one shop.
	KindStaff Kind = "staff"
	// KindOperator: the platform side (records orders, buyer actions,
	// payment results). Bound to one platform, or to every platform when
	// Platform is empty (a multi-platform merchant's integration).
	KindOperator Kind = "operator"
)

// Principal is who a verified token speaks for.
type Principal struct {
	TokenID  string            `json:"token_id"` // public identifier, safe to log
	Kind     Kind              `json:"kind"`
	Platform domain.PlatformID `json:"platform,omitempty"` // staff: the shop's platform; operator: "" = all
	ShopID   string            `json:"shop_id,omitempty"`  // staff only
	Staff    string            `json:"staff,omitempty"`    // staff only: the account ID
	Role     domain.Role       `json:"role"`               // main | sub | operator
	Name     string            `json:"name,omitempty"`     // free text: who it was issued to
}

// Shop is the shop a staff token is bound to (zero for an operator).
func (p Principal) Shop() domain.ShopRef {
	return domain.ShopRef{Platform: p.Platform, ShopID: p.ShopID}
}

// Actor is the domain's view of the principal: the account that sends
// commands (its ID is recorded in every event it causes).
func (p Principal) Actor() domain.Actor {
	if p.Kind == KindOperator {
		id := p.Name
		if id == "" {
			id = "operator:" + p.TokenID
		}
		return domain.Actor{ID: id, Role: domain.RoleOperator}
	}
	return domain.Actor{ID: p.Staff, Role: p.Role}
}

// CanAccess reports whether the principal may read or act on shop: staff
// only their own shop, an operator every shop of its platform (or of all
// platforms).
func (p Principal) CanAccess(shop domain.ShopRef) bool {
	switch p.Kind {
	case KindStaff:
		return p.Platform == shop.Platform && p.ShopID == shop.ShopID
	case KindOperator:
		return p.Platform == "" || p.Platform == shop.Platform
	}
	return false
}

// Errors of Verify. Both answer HTTP 401; neither says which part failed.
var (
	ErrMalformed = errors.New("tokens: malformed bearer token")
	ErrUnknown   = errors.New("tokens: unknown or revoked token")
)
