package projections_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/projections"
)

// docs/projections.md documents every table and column of every
// projection: a column added without its documentation fails here.
func TestDocsDescribeEveryTableAndColumn(t *testing.T) {
	b, err := os.ReadFile("../docs/projections.md")
	require.NoError(t, err)
	doc := string(b)
	for _, f := range projections.All() {
		sc := f().Schema()
		require.Contains(t, doc, "(`"+sc.Projection+"`)", "projection %s", sc.Projection)
		for _, tb := range sc.Tables {
			i := strings.Index(doc, "#### `"+tb.Name+"`")
			require.GreaterOrEqual(t, i, 0, "table %s", tb.Name)
			section := doc[i:]
			if j := strings.Index(section[4:], "####"); j >= 0 {
				section = section[:j+4]
			}
			for _, c := range tb.Columns {
				require.Contains(t, section, "| `"+c.Name+"` | "+string(c.Type)+" |", "%s.%s", tb.Name, c.Name)
			}
		}
	}
}
