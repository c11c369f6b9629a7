package domain

import (
	"bytes"
	"encoding/gob"
	"fmt"
)

// StateVersion names the meaning of Apply. Bump it whenever Apply or the
// Shop state changes what a given event log produces: snapshots written
// under another version are then ignored and the state is replayed from
// the events (which stay the truth).
const StateVersion = 1

// EncodeState serialises a shop's decision state for a snapshot. gob keeps
// decimals exact (value and exponent), so a state restored from a snapshot
// equals, field for field, the state replayed from the events.
func EncodeState(s *Shop) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(s); err != nil {
		return nil, fmt.Errorf("encode shop state %s: %w", s.Ref.Stream(), err)
	}
	return buf.Bytes(), nil
}

// DecodeState restores a state written by EncodeState. Malformed input is
// an error, never a panic (gob recovers its own panics).
func DecodeState(b []byte) (*Shop, error) {
	s := NewShop(ShopRef{})
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(s); err != nil {
		return nil, fmt.Errorf("decode shop state: %w", err)
	}
	// gob leaves empty maps nil; Apply expects them.
	fresh := NewShop(s.Ref)
	if s.Accounts == nil {
		s.Accounts = fresh.Accounts
	}
	if s.Staff == nil {
		s.Staff = fresh.Staff
	}
	if s.Orders == nil {
		s.Orders = fresh.Orders
	}
	if s.Payouts == nil {
		s.Payouts = fresh.Payouts
	}
	if s.Collections == nil {
		s.Collections = fresh.Collections
	}
	if s.Warnings == nil {
		s.Warnings = fresh.Warnings
	}
	if s.Daily == nil {
		s.Daily = fresh.Daily
	}
	if s.StaffDaily == nil {
		s.StaffDaily = fresh.StaffDaily
	}
	return s, nil
}
