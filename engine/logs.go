package engine

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
)

// Step logs: created on first output, with secrets redacted line by line.

// lineRedactor buffers output into lines so a secret split across two
// writes is still redacted.
type lineRedactor struct {
	mu     sync.Mutex
	w      io.Writer
	redact func(string) string
	buf    []byte
}

func (l *lineRedactor) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	i := bytes.LastIndexByte(l.buf, '\n')
	if i < 0 && len(l.buf) < 64<<10 {
		return len(b), nil
	}
	if i < 0 {
		i = len(l.buf) - 1
	}
	if _, err := io.WriteString(l.w, l.redact(string(l.buf[:i+1]))); err != nil {
		return 0, err
	}
	l.buf = append(l.buf[:0], l.buf[i+1:]...)
	return len(b), nil
}

func (l *lineRedactor) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 && l.redact != nil {
		_, _ = io.WriteString(l.w, l.redact(string(l.buf)))
		l.buf = nil
	}
}

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
	return l.f.Write(b)
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
