//go:build !unix

package tokens

// syncDir does nothing where a directory cannot be opened for fsync
// (Windows refuses it): the rename is as durable as the platform makes it.
func syncDir(dir string) error { return nil }
