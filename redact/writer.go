package redact

import (
	"bytes"
	"io"
	"sync"
)

// maxLine bounds how much a Writer holds back waiting for a newline.
const maxLine = 64 << 10

// Writer returns a writer that redacts what it passes to w. It works line by
// line, so a secret split across two writes is still hidden; the returned
// writer is also an io.Closer whose Close writes a final partial line (it
// does not close w). With nothing to redact it returns w itself.
func (r *Redactor) Writer(w io.Writer) io.Writer {
	if r.Empty() {
		return w
	}
	return &lineWriter{w: w, r: r}
}

// Flush writes what a writer from Writer still holds; other writers are
// left alone.
func Flush(w io.Writer) error {
	if lw, ok := w.(*lineWriter); ok {
		return lw.Close()
	}
	return nil
}

type lineWriter struct {
	mu  sync.Mutex
	w   io.Writer
	r   *Redactor
	buf []byte
}

func (l *lineWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	i := bytes.LastIndexByte(l.buf, '\n')
	if i < 0 && len(l.buf) < maxLine {
		return len(b), nil
	}
	if i < 0 {
		i = len(l.buf) - 1
	}
	if _, err := io.WriteString(l.w, l.r.String(string(l.buf[:i+1]))); err != nil {
		return 0, err
	}
	l.buf = append(l.buf[:0], l.buf[i+1:]...)
	return len(b), nil
}

// Close writes the last partial line.
func (l *lineWriter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) == 0 {
		return nil
	}
	_, err := io.WriteString(l.w, l.r.String(string(l.buf)))
	l.buf = nil
	return err
}
