package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/process"
)

// TestMain lets the test binary act as the elt binary (a test double of
// itself) when ELT_TEST_AS_ELT=1, so end-to-end tests can run elt in a
// separate process that they signal or kill.
func TestMain(m *testing.M) {
	process.Main()
	if os.Getenv("ELT_TEST_AS_ELT") == "1" {
		os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// eltCmd returns a command running elt in a child process.
func eltCmd(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "ELT_TEST_AS_ELT=1", "NO_COLOR=1")
	return cmd
}

// elt runs the CLI in-process and returns stdout, stderr and exit code.
func elt(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	all := args
	if dir != "" {
		all = append([]string{"-C", dir}, args...)
	}
	code := Main(all, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func newProject(t *testing.T, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "elt.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("bad JSON %v:\n%s", err, s)
	}
}

// waitForFile waits until a step of the elt child process cmd has created
// path; it kills the child and fails the test after 30 seconds.
func waitForFile(t *testing.T, cmd *exec.Cmd, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
