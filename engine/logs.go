package engine

import (
	"fmt"
	"os"
	"sync"
)

// Step logs: created on first output; the engine wraps them in the
// project's redactor.

// lazyFile is a log file opened for appending on its first write.
type lazyFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
	err  error
}

func (l *lazyFile) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil && l.err == nil {
		l.f, l.err = os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	}
	if l.err != nil {
		return 0, fmt.Errorf("step log: %w", l.err)
	}
	n, err := l.f.Write(b)
	if err != nil {
		l.err = err
	}
	return n, err
}

// Err returns the first error opening or writing the file.
func (l *lazyFile) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Close closes the file if it was opened.
func (l *lazyFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		return l.f.Close()
	}
	return nil
}
