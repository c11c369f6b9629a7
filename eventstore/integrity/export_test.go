package integrity

import "time"

// SetRetryBackoff shortens the pause between retried reads for a test.
func SetRetryBackoff(d time.Duration) (restore func()) {
	old := retryBackoff
	retryBackoff = d
	return func() { retryBackoff = old }
}

const ReadRetries = readRetries
