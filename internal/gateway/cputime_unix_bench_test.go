//go:build unix

package gateway_test

import (
	"syscall"
	"time"
)

// processCPU returns the user+system CPU time the process has used, so a
// benchmark can report its cost independently of other load on the machine
// (wall-clock numbers on a shared machine include time spent preempted).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
