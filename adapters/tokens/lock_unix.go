//go:build unix

package tokens

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockFile takes an exclusive flock on path (created if missing), so that
// two writers (two `payoutctl token create` at once, or payoutctl beside
// a FileStore in payoutd) read-modify-write the token file one after the
// other and none loses the other's token. The kernel drops the lock when
// the process dies, kill -9 included: a crash never leaves a stale lock.
// It polls with LOCK_NB so that ctx can end the wait.
func lockFile(ctx context.Context, path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("tokens: lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("tokens: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("tokens: waiting for the lock %s: %w", path, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}
