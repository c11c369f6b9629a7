//go:build unix

package projections

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive lock on the embedded store's directory: two
// processes appending to one projection's log would each commit from a
// checkpoint the other moved. The kernel drops the lock when the process
// dies, kill -9 included, so a crash never leaves a stale lock.
func lockDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("projections: views dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "views.lock"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("projections: views dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("projections: views dir %s is in use by another process (lock file %s)", dir, f.Name())
		}
		return nil, fmt.Errorf("projections: views dir lock: %w", err)
	}
	return func() { _ = f.Close() }, nil
}
