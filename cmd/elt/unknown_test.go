package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestUnknownSubcommand checks every command group, found by walking the
// command tree: a word that names no subcommand is exit 2 with "unknown
// command" and what to type instead; the group alone still prints help.
func TestUnknownSubcommand(t *testing.T) {
	var groups [][]string
	runnable := map[string]bool{} // groups with an action of their own (run, backfill)
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		if c.HasSubCommands() {
			groups = append(groups, path)
			runnable[strings.Join(path, " ")] = c.Annotations[groupAnnotation] == ""
		}
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk(newRootCmd(&env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}), nil)
	if len(groups) < 5 {
		t.Fatalf("only %d command groups found: %v", len(groups), groups)
	}
	for _, g := range groups {
		args := append(append([]string(nil), g...), "zzzqqq", "x")
		_, errOut, code := elt(t, "", args...)
		if code != exitUsage || !strings.Contains(errOut, "unknown command \"zzzqqq\"") {
			t.Errorf("elt %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
		}
		if len(g) > 0 && !runnable[strings.Join(g, " ")] {
			out, _, code := elt(t, "", g...)
			if code != exitOK || !strings.Contains(out, "Usage:") {
				t.Errorf("elt %s: exit %d, want help and 0", strings.Join(g, " "), code)
			}
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sensors", "ticks"}, "did you mean tick?"},
		{[]string{"assets", "show", "x"}, "its commands are: graph, list, status"},
		{[]string{"runs", "lst"}, "did you mean list?"},
	} {
		_, errOut, code := elt(t, "", tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("elt %s: exit %d, stderr %q, want %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
	}
}
