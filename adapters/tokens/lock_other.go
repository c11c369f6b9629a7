//go:build !unix

package tokens

import (
	"context"
	"sync"
)

// processLock serialises the writers of this process where flock is not
// available. Two processes writing one token file at once can lose a
// token there: issuing tokens from two places at once is then the
// operator's responsibility (as jetstream's data-dir lock, lock_other.go).
var processLock sync.Mutex

func lockFile(ctx context.Context, path string) (release func(), err error) {
	processLock.Lock()
	return processLock.Unlock, nil
}
