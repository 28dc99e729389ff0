//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package sqlite

// freeBytes is not measured on this platform: Ready relies on the
// heartbeat and the page headroom alone.
func freeBytes(string) (int64, bool) { return 0, false }
