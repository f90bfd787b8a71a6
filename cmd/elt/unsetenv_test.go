package main

import (
	"strings"
	"testing"
)

// A secret only steps need must not stop commands that run none; validate
// and run stay strict and name the variable and its line.
func TestReadOnlyCommandsWithUnsetSecret(t *testing.T) {
	const name = "ELT_TEST_NEVER_SET_TOKEN"
	dir := newProject(t, "name: x\nresources:\n  api: {type: http, token: \"${"+name+"}\"}\n  wh: {type: duckdb, path: \"${"+name+"_PATH}\"}\njobs:\n  all: {select: a}\nschedules:\n  nightly: {cron: '0 3 * * *', job: all}\nassets:\n  - {key: a, command: 'true'}\n")
	for _, args := range [][]string{
		{"runs", "list"},
		{"assets", "list"},
		{"assets", "status"},
		{"schedules", "list"},
	} {
		out, errOut, code := elt(t, dir, args...)
		if code != 0 {
			t.Errorf("%s: exit %d, want 0\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
		}
	}
	// No daemon: status is unhealthy (1), not a bad project (2).
	if out, errOut, code := elt(t, dir, "status"); code != 1 || !strings.Contains(out, "daemon: not running") {
		t.Errorf("status: exit %d, want 1 and not running\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	for _, args := range [][]string{{"validate"}, {"run"}} {
		_, errOut, code := elt(t, dir, args...)
		if code != 2 || !strings.Contains(errOut, "elt.yaml:3") || !strings.Contains(errOut, name+" is not set") {
			t.Errorf("%s: exit %d, want 2 naming %s at elt.yaml:3\nstderr: %s", strings.Join(args, " "), code, name, errOut)
		}
	}
}
