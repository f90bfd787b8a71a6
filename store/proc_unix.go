//go:build unix

package store

import (
	"errors"
	"syscall"
)

// processAlive reports whether a process with this id exists on this host.
// Signal 0 checks without delivering anything; EPERM means it exists but
// belongs to another user. Unknown ids (<= 0) count as alive.
func processAlive(pid int) bool {
	if pid <= 0 {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
