package jetstream

import (
	"fmt"
	"strings"

	"github.com/payoutledger/ledger/eventstore"
)

// maxTokenLen bounds each subject token (category, id, event type).
const maxTokenLen = 128

// validToken reports whether s is a non-empty subject token of
// [A-Za-z0-9_-]: no dots, wildcards or spaces, so that a stream name can
// never widen a subject filter.
func validToken(s string) bool {
	if s == "" || len(s) > maxTokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validPrefix(p string) bool {
	for _, tok := range strings.Split(p, ".") {
		if !validToken(tok) {
			return false
		}
	}
	return true
}

// splitStream splits a ledger stream name "<category>.<id>".
func splitStream(stream string) (category, id string, ok bool) {
	category, id, ok = strings.Cut(stream, ".")
	return category, id, ok && validToken(category) && validToken(id)
}

// checkStream refuses a stream name this backend cannot map to subjects.
func checkStream(stream string) error {
	if _, _, ok := splitStream(stream); !ok {
		return fmt.Errorf("%w: stream name %q: want <category>.<id>, each [A-Za-z0-9_-]{1,%d}", eventstore.ErrInvalidAppend, stream, maxTokenLen)
	}
	return nil
}

// subjects builds the subjects of one configuration.
type subjects struct{ prefix string }

// event is the subject an event is published to.
func (s subjects) event(stream, eventType string) string {
	return s.prefix + "." + stream + "." + eventType
}

// filter matches every event of one ledger stream, and only those: the
// stream name is exactly two tokens and the event type exactly one.
func (s subjects) filter(stream string) string { return s.prefix + "." + stream + ".>" }

// all matches every event of the ledger.
func (s subjects) all() string { return s.prefix + ".>" }
