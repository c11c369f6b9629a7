//go:build !unix

package projections

import (
	"fmt"
	"os"
)

// lockDir only creates dir where flock is not available: running two
// processes on one views dir there is the operator's responsibility.
func lockDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("projections: views dir: %w", err)
	}
	return func() {}, nil
}
