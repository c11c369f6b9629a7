package main

import (
	"os"
	"time"
)

// probeFsync measures what bounds the sync-always mode underneath
// JetStream: appending 1 KiB to a file in dir and fsyncing it, one write
// at a time, n times or for at most limit. On a shared machine the disk is
// shared too: probing before and after a sweep shows how much it moved.
func probeFsync(dir string, n int, limit time.Duration) (Latency, error) {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return Latency{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 1024)
	rec := newRecorder(n, 1)
	deadline := time.Now().Add(limit)
	for i := 0; i < n && time.Now().Before(deadline); i++ {
		start := time.Now()
		if _, err := f.Write(buf); err != nil {
			return Latency{}, err
		}
		if err := f.Sync(); err != nil {
			return Latency{}, err
		}
		rec.add(time.Since(start))
	}
	return summarize([]*recorder{rec}), nil
}
