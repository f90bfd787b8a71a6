package plugins

import (
	"bytes"
	"io"
	"strings"
	"sync"

	"github.com/eltproject/elt/redact"
)

// tailLines and tailBytes bound what a crash report shows of stderr.
const (
	tailLines = 20
	tailBytes = 64 << 10
	// tailBefore is how many lines before a panic are kept.
	tailBefore = 5
)

// tailWriter passes a plugin's output through to the step log and keeps
// its last lines for error messages. Both go-plugin's stderr reader and the
// stdio stream write to it, so it locks.
type tailWriter struct {
	mu      sync.Mutex
	out     io.Writer
	buf     []byte
	secrets []string
	red     *redact.Redactor
}

func newTailWriter(out io.Writer, secrets []string) *tailWriter {
	return &tailWriter{out: out, secrets: secrets, red: redact.New(secrets...)}
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailBytes {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailBytes:]...)
	}
	// The step log is best effort: a failing log writer must not make the
	// plugin's pipe back up.
	_, _ = t.out.Write(p)
	return len(p), nil
}

// String returns the last lines written, secrets redacted.
func (t *tailWriter) String() string {
	t.mu.Lock()
	b := bytes.TrimRight(t.buf, "\n")
	if len(b) > tailBytes {
		b = b[len(b)-tailBytes:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	s := string(b)
	t.mu.Unlock()
	lines := strings.Split(s, "\n")
	// A Go crash prints its reason first and goroutine stacks after it;
	// the reason and what the plugin said just before it matter more than
	// the last stack frames.
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "panic: ") || strings.HasPrefix(lines[i], "fatal error: ") {
			from := max(0, i-tailBefore)
			lines = lines[from:min(len(lines), from+tailLines)]
			return t.redact(strings.Join(lines, "\n"))
		}
	}
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	return t.redact(strings.Join(lines, "\n"))
}

func (t *tailWriter) redact(s string) string { return t.red.String(s) }
