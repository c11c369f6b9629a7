//go:build unix

package jetstream

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDataDir takes an exclusive lock on dir, because two servers writing
// the same JetStream directory corrupt it and nats-server does not lock it
// itself. The kernel drops the lock when the process dies, kill -9
// included, so a crash never leaves a stale lock.
func lockDataDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("jetstream: data dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "ledger.lock"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("jetstream: data dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("jetstream: data dir %s is in use by another store (lock file %s)", dir, f.Name())
		}
		return nil, fmt.Errorf("jetstream: data dir lock: %w", err)
	}
	return func() { _ = f.Close() }, nil
}
