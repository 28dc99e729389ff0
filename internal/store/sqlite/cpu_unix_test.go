//go:build unix

package sqlite

import (
	"syscall"
	"time"
)

// cpuTime returns the user+system CPU time the process has used, so a
// benchmark can report its cost apart from other load on the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
