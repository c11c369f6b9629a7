package httpapi_test

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/httpapi"
)

// documentedRoutes reads the paths section of docs/openapi.yaml with a
// strict line parser (no YAML library is a direct dependency): path keys
// at two spaces, operation keys at four. Anything else at four spaces
// under a path fails the test, so the parser cannot silently miss an
// operation.
func documentedRoutes(t *testing.T) map[string]bool {
	f, err := os.Open("../../docs/openapi.yaml")
	require.NoError(t, err)
	defer f.Close()
	out := map[string]bool{}
	in, path := false, ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " ")
		switch {
		case line == "paths:":
			in = true
			continue
		case !in || line == "" || strings.HasPrefix(strings.TrimSpace(line), "#"):
			continue
		case !strings.HasPrefix(line, " "):
			in = false // the next top-level key
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		key, _, hasColon := strings.Cut(strings.TrimSpace(line), ":")
		switch indent {
		case 2:
			require.True(t, hasColon && strings.HasPrefix(key, "/v1/"), "line %d: a path key expected: %q", n, line)
			path = key
		case 4:
			switch key {
			case "parameters", "summary", "description":
			case "get", "put", "post", "delete", "patch":
				k := strings.ToUpper(key) + " " + path
				require.False(t, out[k], "line %d: %s documented twice", n, k)
				out[k] = true
			default:
				t.Fatalf("line %d: unexpected key %q under %s", n, key, path)
			}
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// TestOpenAPIDocumentsEveryRoute: every route is documented and every
// documented operation is a route.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := documentedRoutes(t)
	routes := map[string]bool{}
	for _, r := range httpapi.Routes() {
		k := r.Method + " " + r.Pattern
		routes[k] = true
		require.True(t, doc[k], "route %s is not in docs/openapi.yaml", k)
	}
	for k := range doc {
		require.True(t, routes[k], "docs/openapi.yaml documents %s, which is no route", k)
	}
}
