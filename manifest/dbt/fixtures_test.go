package dbt

import (
	"os"
	"path/filepath"
	"testing"
)

// fixturesDir finds shared/fixtures/dbt by walking up from the package
// directory, or skips the test when it is absent.
func fixturesDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		cand := filepath.Join(dir, "shared", "fixtures", "dbt")
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("shared/fixtures/dbt not found above the package directory; skipping tests on real dbt artifacts")
		}
		dir = parent
	}
}
