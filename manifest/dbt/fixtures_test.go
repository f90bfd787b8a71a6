package dbt

import (
	"testing"

	"github.com/eltproject/elt/internal/testenv"
)

// fixturesDir is shared/fixtures/dbt; testenv stops the test when it is
// absent (a failure in CI).
func fixturesDir(t testing.TB) string {
	t.Helper()
	return testenv.Fixtures(t, "dbt")
}
