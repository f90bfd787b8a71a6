// Package command runs subprocesses for steps: command assets and the
// subprocesses of the dbt, Sling and dlt runners, all started through
// package process (process group, supervisor, SIGTERM then SIGKILL after a
// grace period, always waited for).
package command

import (
	"bufio"
	"io"
	"os"
	"strings"
)

// Environ returns os.Environ() with extra variables appended; later entries
// win over earlier ones of the same name.
func Environ(base []string, extra ...string) []string {
	if base == nil {
		base = os.Environ()
	}
	return MergeEnv(base, extra...)
}

// MergeEnv returns base with extra applied: a NAME=value in extra replaces
// NAME in base.
func MergeEnv(base []string, extra ...string) []string {
	idx := make(map[string]int, len(base)+len(extra))
	out := make([]string, 0, len(base)+len(extra))
	for _, kv := range append(append([]string{}, base...), extra...) {
		name, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[name]; ok {
			out[i] = kv
			continue
		}
		idx[name] = len(out)
		out = append(out, kv)
	}
	return out
}

// ScanLines calls f for each line of r; a helper for replaying logs.
func ScanLines(r io.Reader, f func(string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		f(sc.Text())
	}
	return sc.Err()
}
