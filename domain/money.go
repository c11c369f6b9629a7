package domain

import (
	"github.com/shopspring/decimal"
)

// Amounts are CNY as decimal.Decimal (never float64). On the wire they are
// JSON strings of the exact value ("12.5" for 12.50), which
// shopspring/decimal produces by default; Money formats two places.

// ParseAmount parses a decimal string and checks it as an amount: at most
// two decimal places (money.precision; never rounded) and positive
// (money.non_positive). Malformed text is input.invalid.
func ParseAmount(s string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Zero, reject(CodeInputInvalid, "amount %q is not a decimal number", s)
	}
	return d, CheckAmount(d)
}

// CheckAmount enforces the money rules on an amount: more than two decimals
// is money.precision, zero or negative is money.non_positive.
//
// Reading: the test is on the value, so "10.500" (= 10.50) is accepted and
// "10.005" is rejected; nothing is ever rounded.
func CheckAmount(d decimal.Decimal) error {
	if !d.Equal(d.Truncate(2)) {
		return reject(CodeMoneyPrecision, "amount %s has more than two decimal places", d)
	}
	if !d.IsPositive() {
		return reject(CodeMoneyNonPositive, "amount %s is not positive", d)
	}
	return nil
}

// checkNonNegative is CheckAmount for values where zero is meaningful
// (a password-free threshold of 0 means "always verify").
func checkNonNegative(d decimal.Decimal) error {
	if !d.Equal(d.Truncate(2)) {
		return reject(CodeMoneyPrecision, "amount %s has more than two decimal places", d)
	}
	if d.IsNegative() {
		return reject(CodeMoneyNonPositive, "amount %s is negative", d)
	}
	return nil
}

// Money formats an amount with exactly two decimals.
func Money(d decimal.Decimal) string { return d.StringFixed(2) }

// dec is a small helper for literals in profiles and tests.
func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func decp(s string) *decimal.Decimal { d := dec(s); return &d }
