package sling

import (
	"context"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/integrations/command"
	manifest "github.com/eltproject/elt/manifest/sling"
	"github.com/eltproject/elt/process"
)

var reTableCell = regexp.MustCompile(`[A-Za-z0-9_"$.\-]+`)

// discoverWildcards runs `sling conns discover SOURCE --pattern P` for each
// enabled wildcard stream and returns the tables (or files) found. The
// output is read defensively: any word on a line that matches the pattern
// (compared without quotes, lower-case) is taken as a table. For a file
// stream (file:///data/*.csv) the pattern is passed without the scheme, as
// Sling 1.4 finds nothing with it; the files it lists (/data/a.csv) are kept
// as printed, which is how Sling names the streams it expands the wildcard
// into (and the only form its --streams accepts for them).
func discoverWildcards(ctx context.Context, cfg *Config, rep *manifest.Replication, projectDir string, resources map[string]engine.Resource) (map[string][]string, error) {
	env, secrets, duck, err := connectionEnv(cfg, rep, resources)
	if err != nil {
		return nil, err
	}
	home, err := os.MkdirTemp("", "elt-sling-discover-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	base := command.MergeEnv(os.Environ(), env...)
	duck = duck || envHasDuckDB(base, rep)
	base = command.MergeEnv(base, toolEnv(base, projectDir, home, cfg.executable(projectDir), duck)...)
	red := engine.ResourceRedactor(resources, secrets...)
	out := map[string][]string{}
	for i := range rep.Streams {
		s := &rep.Streams[i]
		if !s.Enabled() || !s.Ref.Wildcard {
			continue
		}
		pattern := s.Name
		if s.Ref.File {
			if _, rest, ok := strings.Cut(s.Name, "://"); ok {
				pattern = rest
			}
		}
		var lines []string
		_, err := process.Run(ctx, &process.Proc{
			Argv:   []string{cfg.executable(projectDir), "conns", "discover", rep.Source, "--pattern", pattern},
			Dir:    projectDir,
			Env:    base,
			OnLine: func(l string) { lines = append(lines, l) },
		})
		if err != nil {
			return nil, fmt.Errorf("%s:%d: expand_wildcards: sling conns discover %s failed: %s", rep.File, s.Line, rep.Source, red.String(err.Error()))
		}
		if s.Ref.File {
			out[s.Name] = matchDiscoveredFiles(pattern, lines)
		} else {
			out[s.Name] = matchDiscovered(s.Name, lines)
		}
		// Streams the file disables stay out, as Sling leaves them out.
		out[s.Name] = removeDisabled(rep, out[s.Name])
	}
	return out, nil
}

// matchDiscovered picks the names in discover output that match pattern.
// Sling 1.4 prints a table with the schema and the name in cells of their
// own (| # | DATABASE | SCHEMA | NAME | TYPE |); they are joined as
// schema.name, the stream name Sling expands the wildcard into. Other
// output is read defensively: any word on a line that matches the pattern
// (compared without quotes, lower-case) is taken as a table.
func matchDiscovered(pattern string, lines []string) []string {
	want := normName(pattern)
	var found []string
	seen := map[string]bool{}
	add := func(w string) {
		if ok, _ := path.Match(want, normName(w)); ok && !seen[normName(w)] {
			seen[normName(w)] = true
			found = append(found, w)
		}
	}
	schemaCol, nameCol := -1, -1
	for _, l := range lines {
		if cells := tableCells(l); cells != nil {
			if schemaCol < 0 {
				for i, c := range cells {
					switch strings.ToUpper(c) {
					case "SCHEMA":
						schemaCol = i
					case "NAME":
						nameCol = i
					}
				}
				if schemaCol >= 0 && nameCol >= 0 {
					continue
				}
				schemaCol, nameCol = -1, -1
			} else if schemaCol < len(cells) && nameCol < len(cells) {
				add(cells[schemaCol] + "." + cells[nameCol])
				continue
			}
		}
		for _, w := range reTableCell.FindAllString(l, -1) {
			add(strings.Trim(w, "."))
		}
	}
	return found
}

// tableCells splits a "| a | b |" row into its trimmed cells; nil for
// other lines.
func tableCells(l string) []string {
	l = strings.TrimSpace(l)
	if !strings.HasPrefix(l, "|") || !strings.HasSuffix(l, "|") || len(l) < 2 {
		return nil
	}
	cells := strings.Split(l[1:len(l)-1], "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

// matchDiscoveredFiles picks the files in discover output that match the
// pattern (a path without scheme). Sling prints a table whose cells are
// split by "|": number, name, type.
func matchDiscoveredFiles(pattern string, lines []string) []string {
	var found []string
	seen := map[string]bool{}
	for _, l := range lines {
		for _, cell := range strings.Split(l, "|") {
			cell = strings.TrimSpace(cell)
			if cell == "" || seen[cell] {
				continue
			}
			if ok, _ := path.Match(pattern, cell); ok {
				seen[cell] = true
				found = append(found, cell)
			}
		}
	}
	return found
}

// removeDisabled drops the discovered tables the file lists as streams of
// their own: disabled ones stay out (as in Sling), and enabled ones (the
// usual `public.*` plus an override of `public.accounts`) are assets of
// their own stream, not of the wildcard.
func removeDisabled(rep *manifest.Replication, names []string) []string {
	var out []string
	for _, n := range names {
		listed := false
		for i := range rep.Streams {
			s := &rep.Streams[i]
			if !s.Ref.Wildcard && normName(s.Name) == normName(n) {
				listed = true
			}
		}
		if !listed {
			out = append(out, n)
		}
	}
	return out
}
