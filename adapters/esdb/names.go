package esdb

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultStreamPrefix is put in front of every ledger stream name to form
// its EventStoreDB stream name: "douyin.S1001" is stored in
// "ledger-douyin.S1001". EventStoreDB's $by_category projection splits on
// the first "-", so every ledger stream falls in the category "ledger".
const DefaultStreamPrefix = "ledger-"

// Bounds on names: EventStoreDB accepts much longer names, but a bound
// keeps a malformed caller from writing kilobyte stream names.
const (
	maxPrefixLen = 64
	maxStreamLen = 200
)

// ErrInvalidStreamName: a name is not a ledger stream name
// ("<category>.<id>", category of letters, digits, "_" and "-", id of
// printable ASCII without spaces), or an EventStoreDB stream name is not
// the image of one under the store's prefix. Append wraps it in
// eventstore.ErrInvalidAppend, ReadStream in eventstore.ErrStreamNotFound.
var ErrInvalidStreamName = errors.New("esdb: invalid ledger stream name")

// ValidatePrefix checks a stream prefix: non-empty, at most 64 bytes of
// letters, digits, "_", "-" and ".", and not starting with "$" (the
// EventStoreDB system namespace, which the store must never write).
// It returns an error wrapping ErrInvalidStreamName.
func ValidatePrefix(prefix string) error {
	if prefix == "" || len(prefix) > maxPrefixLen {
		return fmt.Errorf("%w: prefix %q must be 1 to %d bytes", ErrInvalidStreamName, prefix, maxPrefixLen)
	}
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; !isCategoryByte(c) && c != '.' {
			return fmt.Errorf("%w: prefix %q has byte %q (letters, digits, _ - . only)", ErrInvalidStreamName, prefix, c)
		}
	}
	return nil
}

// ValidateStreamName checks a ledger stream name "<category>.<id>". The
// category is what follows the domain's naming (a platform, e.g. "douyin"),
// the id anything printable after the first ".". It returns an error
// wrapping ErrInvalidStreamName.
func ValidateStreamName(stream string) error {
	if stream == "" || len(stream) > maxStreamLen {
		return fmt.Errorf("%w: %q must be 1 to %d bytes", ErrInvalidStreamName, stream, maxStreamLen)
	}
	cat, id, ok := strings.Cut(stream, ".")
	if !ok || cat == "" || id == "" {
		return fmt.Errorf("%w: %q is not <category>.<id>", ErrInvalidStreamName, stream)
	}
	for i := 0; i < len(cat); i++ {
		if !isCategoryByte(cat[i]) {
			return fmt.Errorf("%w: category of %q has byte %q (letters, digits, _ - only)", ErrInvalidStreamName, stream, cat[i])
		}
	}
	for i := 0; i < len(id); i++ {
		// Printable ASCII without space: no control bytes, no invisible
		// or look-alike Unicode in names auditors read.
		if c := id[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%w: id of %q has byte %q (printable ASCII only)", ErrInvalidStreamName, stream, c)
		}
	}
	return nil
}

// ToESDBName maps a ledger stream name to its EventStoreDB stream name
// (prefix + name). Errors: ErrInvalidStreamName for an invalid prefix or
// name.
func ToESDBName(prefix, stream string) (string, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return "", err
	}
	if err := ValidateStreamName(stream); err != nil {
		return "", err
	}
	return prefix + stream, nil
}

// FromESDBName is the inverse of ToESDBName: it strips the prefix and
// checks what remains is a ledger stream name. Errors: ErrInvalidStreamName
// when the EventStoreDB stream is not a ledger stream under this prefix
// (system streams, other applications' streams, another prefix).
func FromESDBName(prefix, name string) (string, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return "", err
	}
	stream, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return "", fmt.Errorf("%w: EventStoreDB stream %q lacks prefix %q", ErrInvalidStreamName, name, prefix)
	}
	if err := ValidateStreamName(stream); err != nil {
		return "", err
	}
	return stream, nil
}

func isCategoryByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}
