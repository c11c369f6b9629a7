package main

import (
	"context"
	"fmt"
	"time"

	"github.com/payoutledger/ledger/adapters/tokens"
	"github.com/payoutledger/ledger/domain"
)

// tokenBook holds the bearer tokens the HTTP sender speaks with: one per
// staff account of each shop (main and sub-accounts: a staff token
// reaches its own shop only) and the operators', for every platform.
// The token decides who acts (payoutd takes the actor from it), so each
// actor of the mix has its own. Read-only once built.
type tokenBook struct {
	staff     map[staffKey]string
	operators map[string]string // by actor ID: the operator token's name
}

type staffKey struct {
	shop domain.ShopRef
	id   string
	role domain.Role
}

func newTokenBook() *tokenBook {
	return &tokenBook{staff: map[staffKey]string{}, operators: map[string]string{}}
}

func (b *tokenBook) len() int { return len(b.staff) + len(b.operators) }

// token returns the token that speaks for actor on shop.
func (b *tokenBook) token(shop domain.ShopRef, actor domain.Actor) (string, error) {
	switch actor.Role {
	case domain.RoleOperator:
		if t, ok := b.operators[actor.ID]; ok {
			return t, nil
		}
	case domain.RoleMain, domain.RoleSub:
		if t, ok := b.staff[staffKey{shop, actor.ID, actor.Role}]; ok {
			return t, nil
		}
	case domain.RoleSystem:
		return "", fmt.Errorf("http: no token speaks for the system (%s): the timers' commands do not go through the API", actor.ID)
	}
	return "", fmt.Errorf("http: no token for %s %s on %s", actor.Role, actor.ID, shop.Stream())
}

// staffAccounts lists the accounts of a shop that send commands: its
// main account (RegisterShop) and the sub-accounts given a quota
// (GrantStaffQuota) by its setup.
func staffAccounts(s *shop, now time.Time) []domain.Actor {
	var out []domain.Actor
	for _, st := range shopSetup(s, 0, now) {
		switch c := st.cmd.(type) {
		case domain.RegisterShop:
			out = append(out, domain.Actor{ID: c.MainAccount, Role: domain.RoleMain})
		case domain.GrantStaffQuota:
			out = append(out, domain.Actor{ID: c.Staff, Role: domain.RoleSub})
		}
	}
	return out
}

// issueTokens creates, in the token file at path, the operator's token
// (every platform) and a token for every staff account of every shop of
// w, and returns them. The file is payoutd's (tokens.DefaultPath of its
// data directory): written before payoutd starts, or seen by a running
// one on its next check.
func issueTokens(ctx context.Context, path string, w *workload, now time.Time) (*tokenBook, error) {
	store, err := tokens.Open(tokens.Config{Path: path})
	if err != nil {
		return nil, err
	}
	book := newTokenBook()
	// One locked rewrite of the token file for all of them.
	specs := []tokens.Spec{{Kind: tokens.KindOperator, Name: operator.ID}}
	var keys []staffKey
	for _, s := range w.shops {
		for _, a := range staffAccounts(s, now) {
			specs = append(specs, tokens.Spec{Kind: tokens.KindStaff, Platform: s.ref.Platform, ShopID: s.ref.ShopID,
				Staff: a.ID, Role: a.Role, Name: "payoutbench"})
			keys = append(keys, staffKey{s.ref.ShopRef, a.ID, a.Role})
		}
	}
	toks, _, err := store.CreateMany(ctx, specs)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	book.operators[operator.ID] = toks[0]
	for i, k := range keys {
		book.staff[k] = toks[i+1]
	}
	return book, nil
}
