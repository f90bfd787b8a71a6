package sling

import (
	"fmt"
	"strings"
)

// Modes Sling accepts.
const (
	ModeFullRefresh    = "full-refresh"
	ModeIncremental    = "incremental"
	ModeTruncate       = "truncate"
	ModeSnapshot       = "snapshot"
	ModeBackfill       = "backfill"
	ModeDefinitionOnly = "definition-only"
	ModeChangeCapture  = "change-capture"
)

// Modes lists the valid modes.
var Modes = []string{ModeFullRefresh, ModeIncremental, ModeTruncate, ModeSnapshot, ModeBackfill, ModeDefinitionOnly, ModeChangeCapture}

// IsTemplate reports whether s still holds a {var} placeholder (a mode
// such as '{MODE}' decided at run time).
func IsTemplate(s string) bool { return templateVar.MatchString(s) }

// Validate reports the problems that would make Sling refuse the file or
// a stream, each with file:line and what to add. Disabled streams and
// modes that are still templates are not checked.
func (r *Replication) Validate() []error {
	var errs []error
	add := func(line int, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", r.File, line, fmt.Sprintf(format, a...)))
	}
	// A missing key has no line of its own: point at the first line.
	orFirst := func(line int) int { return max(line, 1) }
	if r.Source == "" {
		add(orFirst(r.SourceLine), "source is missing: name the source connection (source: MY_PG)")
	}
	if r.Target == "" {
		add(orFirst(r.TargetLine), "target is missing: name the target connection (target: MY_WAREHOUSE)")
	}
	if len(r.Streams) == 0 {
		add(1, "no streams: list at least one stream under streams:")
	}
	for i := range r.Streams {
		s := &r.Streams[i]
		if !s.Enabled() {
			continue
		}
		c := &s.Config
		// An unset variable left in the stream name or object would
		// become part of the asset key and the table name.
		for _, v := range r.Unresolved {
			switch {
			case usesVar(s.Name, v):
				add(s.Line, "stream %s uses ${%s}, which is not set; set it in the environment or in the file's env: block", s.Name, v)
			case usesVar(c.Object, v):
				ol := c.Line("object")
				if ol == 0 {
					ol = s.Line
				}
				add(ol, "stream %s: object %s uses ${%s}, which is not set; set it in the environment or in the file's env: block", s.Name, c.Object, v)
			}
		}
		line := c.Line("mode")
		if line == 0 {
			line = s.Line
		}
		mode := c.Mode
		switch {
		case mode == "":
			// Sling defaults to full-refresh.
		case IsTemplate(mode) || strings.Contains(mode, "$"):
			continue
		case !isMode(mode):
			add(line, "stream %s: unknown mode %q; use one of %s", s.Name, mode, strings.Join(Modes, ", "))
			continue
		}
		switch mode {
		case ModeIncremental:
			if c.UpdateKey == "" && len(c.PrimaryKey) == 0 {
				add(line, "stream %s: mode incremental needs update_key and/or primary_key", s.Name)
			}
		case ModeBackfill:
			var missing []string
			if len(c.PrimaryKey) == 0 {
				missing = append(missing, "primary_key")
			}
			if c.UpdateKey == "" {
				missing = append(missing, "update_key")
			}
			if len(missing) > 0 {
				add(line, "stream %s: mode backfill needs %s", s.Name, strings.Join(missing, " and "))
			}
			rg := c.Range()
			if rg == "" {
				add(line, `stream %s: mode backfill needs source_options.range: "start,end"`, s.Name)
			} else if a, b, ok := strings.Cut(rg, ","); !ok || strings.TrimSpace(a) == "" || strings.TrimSpace(b) == "" {
				add(c.Line("source_options"), `stream %s: source_options.range must be "start,end", not %q`, s.Name, rg)
			}
		}
	}
	return errs
}

func isMode(m string) bool {
	for _, x := range Modes {
		if m == x {
			return true
		}
	}
	return false
}

// usesVar reports whether s refers to the variable name as ${name} or
// $name (not followed by another name character).
func usesVar(s, name string) bool {
	if strings.Contains(s, "${"+name+"}") {
		return true
	}
	for i := 0; ; {
		j := strings.Index(s[i:], "$"+name)
		if j < 0 {
			return false
		}
		end := i + j + 1 + len(name)
		if end == len(s) || !isVarChar(s[end], false) {
			return true
		}
		i = end
	}
}
