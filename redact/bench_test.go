package redact

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// BenchmarkString redacts a typical 120-byte log line against a project
// with 10 secrets (about 50 forms).
func BenchmarkString(b *testing.B) {
	var secrets []string
	for i := 0; i < 10; i++ {
		secrets = append(secrets, fmt.Sprintf("s3cr3t/value-%d!", i))
	}
	r := New(secrets...)
	line := "2026-12-08 04:00:01 INF inserted 300 rows into public.users in 1 secs [300 r/s] token=s3cr3t/value-7! done\n"
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = r.String(line)
	}
}

// BenchmarkWriter streams 1,000 clean lines through a redacting writer.
func BenchmarkWriter(b *testing.B) {
	r := New("s3cr3t-value", "another-secret")
	chunk := []byte(strings.Repeat("a plain log line without anything to hide\n", 1000))
	b.SetBytes(int64(len(chunk)))
	for i := 0; i < b.N; i++ {
		w := r.Writer(io.Discard)
		_, _ = w.Write(chunk)
		_ = Flush(w)
	}
}
