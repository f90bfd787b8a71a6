package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"reflect"
)

// bufferedStdout is stdout behind a buffer: a table of 10,000 rows is a
// few large writes instead of one per cell. Commands that print while they
// work (a run's live view, the daemon's log, runs logs -f, backfills)
// flush at each moment a person should see the output; Main flushes at
// the end, before any error goes to stderr.
type bufferedStdout struct {
	*bufio.Writer
	file *os.File
}

// newStdout buffers w when it is a file (a terminal, a pipe); any other
// writer is used as it is.
func newStdout(w io.Writer) io.Writer {
	if f, ok := w.(*os.File); ok {
		return &bufferedStdout{Writer: bufio.NewWriterSize(f, 64<<10), file: f}
	}
	return w
}

// flushOut writes out what w holds back, when it buffers.
func flushOut(w io.Writer) {
	if f, ok := w.(interface{ Flush() error }); ok {
		f.Flush()
	}
}

// flush writes out what stdout holds back.
func (e *env) flush() { flushOut(e.stdout) }

// stdoutFile is the file behind stdout, if any.
func (e *env) stdoutFile() (*os.File, bool) {
	switch w := e.stdout.(type) {
	case *os.File:
		return w, true
	case *bufferedStdout:
		return w.file, true
	}
	return nil, false
}

// printJSON writes v indented by two spaces, as json.Encoder with
// SetIndent("", "  ") does, byte for byte. A slice is written one element
// at a time, so a list of 50,000 assets never exists as one document in
// memory.
func (e *env) printJSON(v any) error {
	return writeJSON(e.stdout, v)
}

func writeJSON(w io.Writer, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice || rv.IsNil() || rv.Len() == 0 || rv.Type().Elem().Kind() == reflect.Uint8 {
		// Not a list, or one Go encodes specially (null, [], base64).
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("  ", "  ")
	if _, err := io.WriteString(w, "[\n"); err != nil {
		return err
	}
	for i := range rv.Len() {
		buf.Reset()
		if i > 0 {
			buf.WriteString(",\n")
		}
		buf.WriteString("  ")
		if err := enc.Encode(rv.Index(i).Interface()); err != nil {
			return err
		}
		// Encode ends each value with a newline; the list's own
		// separators take its place.
		buf.Truncate(buf.Len() - 1)
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "\n]\n")
	return err
}
