// Package testenv finds what some tests need from outside the Go module: the real dbt,
// Sling, dlt and duckdb programs (installed by `make tools` into the repository's .venv),
// and the public fixtures in ../shared/fixtures.
//
// Outside CI a test whose requirement is missing skips with a message naming the command
// that installs it. In CI (CI=true) it fails instead: a green CI must mean that the test ran.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// InCI reports whether the tests run in CI, where missing requirements are failures.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1" || v == "yes"
}

// Missing stops t because something it needs is absent: a skip outside CI, a failure in CI.
// how names the command or step that provides it.
func Missing(t testing.TB, what, how string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is missing (CI=true, so this fails instead of skipping); %s", what, how)
	}
	t.Skipf("%s is missing; %s", what, how)
}

var repoRoot = sync.OnceValue(func() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	// internal/testenv/testenv.go → the module root.
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
})

// RepoRoot is the folder that holds go.mod.
func RepoRoot() string { return repoRoot() }

// VenvBin is the repository's .venv/bin, where `make tools` installs the real tools.
func VenvBin() string { return filepath.Join(RepoRoot(), ".venv", "bin") }

// Tool returns the path of a real tool (dbt, sling, dlt, duckdb, python): the repository's
// .venv/bin first, then PATH. It stops t through Missing when the tool is absent.
func Tool(t testing.TB, name string) string {
	t.Helper()
	if p, ok := LookTool(name); ok {
		return p
	}
	Missing(t, "the real `"+name+"` program", "run `make tools` (installs the pinned dbt, Sling, dlt and duckdb into .venv/)")
	return ""
}

// LookTool is Tool without a test: the path and whether it was found.
func LookTool(name string) (string, bool) {
	cand := filepath.Join(VenvBin(), name)
	if st, err := os.Stat(cand); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
		return cand, true
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	return "", false
}

// PathWithVenv returns a PATH value with the repository's .venv/bin in front, for tests that
// run elt (or a tool) as a user would after `make tools`.
func PathWithVenv() string {
	return VenvBin() + string(os.PathListSeparator) + os.Getenv("PATH")
}

// Fixtures returns the path of ../shared/fixtures/<sub...> beside the repository, or stops t
// through Missing when it is absent.
func Fixtures(t testing.TB, sub ...string) string {
	t.Helper()
	if dir, ok := LookFixtures(sub...); ok {
		return dir
	}
	Missing(t, "shared/fixtures/"+filepath.Join(sub...), "the public fixtures are read from ../shared/fixtures beside the repository")
	return ""
}

// LookFixtures is Fixtures without a test.
func LookFixtures(sub ...string) (string, bool) {
	for dir := RepoRoot(); ; {
		cand := filepath.Join(append([]string{dir, "shared", "fixtures"}, sub...)...)
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand, true
		}
		// ../shared beside the checkout (the CI layout: a clone with shared/ next to it).
		cand = filepath.Join(append([]string{filepath.Dir(dir), "shared", "fixtures"}, sub...)...)
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// Slow skips a long test (one that runs real tools or builds binaries) under
// `go test -short` outside CI; in CI it always runs.
func Slow(t testing.TB, what string) {
	t.Helper()
	if testing.Short() && !InCI() {
		t.Skipf("-short: skipping a slow test (%s)", what)
	}
}

// LinuxProc stops t through Missing when /proc (Linux) is absent: the tests
// of process supervision and reaping read it.
func LinuxProc(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		Missing(t, "Linux /proc", "process supervision and its tests need Linux")
	}
}
