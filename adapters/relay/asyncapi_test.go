package relay_test

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/domain"
)

// keysUnder returns the keys one level below the block that path names in
// a YAML document indented by two spaces per level (docs/asyncapi.yaml's
// layout): path is the chain of keys from the top, e.g. "components",
// "messages". Enough for a file this repository writes; no YAML module.
func keysUnder(t *testing.T, doc string, path ...string) []string {
	t.Helper()
	key := regexp.MustCompile(`^( *)([A-Za-z0-9_-]+):`)
	depth := 0 // how many keys of path are open
	var keys []string
	sc := bufio.NewScanner(strings.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		m := key.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		level := len(m[1]) / 2
		if level < depth { // the open block ended
			if depth == len(path) {
				break
			}
			depth = level
		}
		switch {
		case depth < len(path) && level == depth && m[2] == path[depth]:
			depth++
		case depth == len(path) && level == depth:
			keys = append(keys, m[2])
		}
	}
	require.NoError(t, sc.Err())
	slices.Sort(keys)
	return keys
}

// Every event type the domain registers is documented in
// docs/asyncapi.yaml (channel, operation message list, message and data
// schema), and nothing else is.
func TestAsyncAPIDocumentsEveryEventType(t *testing.T) {
	raw, err := os.ReadFile("../../docs/asyncapi.yaml")
	require.NoError(t, err)
	doc := string(raw)
	require.True(t, strings.HasPrefix(doc, "#") && strings.Contains(doc, "\nasyncapi: 3.0.0\n"))

	want := domain.EventTypes()
	slices.Sort(want)
	require.NotEmpty(t, want)
	require.Equal(t, want, keysUnder(t, doc, "components", "messages"), "components.messages")
	require.Equal(t, want, keysUnder(t, doc, "channels", "ledgerEvents", "messages"), "channels.ledgerEvents.messages")
	var data []string
	for _, k := range keysUnder(t, doc, "components", "schemas") {
		if name, ok := strings.CutSuffix(k, "Data"); ok {
			data = append(data, name)
		}
	}
	require.Equal(t, want, data, "components.schemas.<EventType>Data")
	for _, typ := range want {
		require.Contains(t, doc, "      - $ref: '#/channels/ledgerEvents/messages/"+typ+"'\n", "operation lists %s", typ)
		require.Contains(t, doc, "                $ref: '#/components/schemas/"+typ+"Data'\n", "message %s has its payload", typ)
	}
	for _, h := range []string{"Ledger-Stream", "Ledger-Version", "Ledger-Event-Id", "Ledger-Event-Type", "Ledger-Schema-Version",
		"Ledger-Prev-Hash", "Ledger-Hash", "Ledger-Recorded-At", "Ledger-Position", "ce-id", "ce-type", "ce-source", "ce-time", "ce-specversion", "Nats-Msg-Id"} {
		require.Contains(t, keysUnder(t, doc, "components", "schemas", "LedgerHeaders", "properties"), h)
	}
}
