//go:build unix

package tokens

import (
	"fmt"
	"os"
)

// syncDir makes the rename durable: until the directory is fsynced, a
// power loss can bring back the old file.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("tokens: fsync %s: %w", dir, err)
	}
	return nil
}
