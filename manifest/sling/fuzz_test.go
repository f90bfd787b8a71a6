package sling

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/eltproject/elt/internal/testenv"
)

// FuzzParse checks that no input makes the reader panic and that a parsed
// replication can always be validated and rendered.
func FuzzParse(f *testing.F) {
	f.Add([]byte(small))
	f.Add([]byte("source: a\ntarget: b\nstreams:\n  s.t:\n"))
	f.Add([]byte("streams:\n  'x':\n    meta: {dagster: {asset_key: a.b}}\nenv: {A: $B}\n"))
	// The real replication files are seeds; without them the fuzzer still runs.
	if dir, ok := testenv.LookFixtures("sling"); ok {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse("fuzz.yaml", data, noEnv)
		if err != nil {
			return
		}
		_ = r.Validate()
		for i := range r.Streams {
			s := &r.Streams[i]
			Render(s.Config.Object, r.Vars(s), noEnv)
		}
	})
}
