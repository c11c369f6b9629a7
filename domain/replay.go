package domain

// Replay builds a shop's state from its events in stream order, with the
// same Apply the live path uses.
func Replay(ref ShopRef, events []Payload) *Shop {
	s := NewShop(ref)
	for _, e := range events {
		Apply(s, e)
	}
	return s
}

// Execute decides a command and, if accepted, applies the events to s, so
// that several commands on one shop can be decided in order, each against
// the state the earlier ones produced (group commit, tests, simulations).
// On rejection s is unchanged.
func Execute(s *Shop, cmd Command, req Request) ([]Payload, error) {
	evs, err := Decide(s, cmd, req)
	if err != nil {
		return nil, err
	}
	for _, e := range evs {
		Apply(s, e)
	}
	return evs, nil
}
