//go:build linux && !amd64

package sandbox

import "errors"

// seccompFilter has a syscall table for x86-64 only; elsewhere the
// container runtime is unavailable rather than unfiltered.
func seccompFilter() ([]byte, error) {
	return nil, errors.New("no seccomp syscall table for this architecture")
}

func seccompProfile() (string, error) {
	return "", errors.New("no seccomp syscall table for this architecture")
}
