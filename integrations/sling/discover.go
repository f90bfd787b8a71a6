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
)

var reTableCell = regexp.MustCompile(`[A-Za-z0-9_"$.\-]+`)

// discoverWildcards runs `sling conns discover SOURCE --pattern P` for each
// enabled wildcard database stream and returns the tables found. The
// output is read defensively: any word on a line that matches the pattern
// (compared without quotes, lower-case) is taken as a table.
func discoverWildcards(ctx context.Context, cfg *Config, rep *manifest.Replication, projectDir string, resources map[string]engine.Resource) (map[string][]string, error) {
	env, secrets, err := connectionEnv(cfg, rep, resources)
	if err != nil {
		return nil, err
	}
	red := engine.ResourceRedactor(resources, secrets...)
	out := map[string][]string{}
	for i := range rep.Streams {
		s := &rep.Streams[i]
		if !s.Enabled() || !s.Ref.Wildcard || s.Ref.File {
			continue
		}
		var lines []string
		_, err := command.Run(ctx, &command.Proc{
			Argv:   []string{cfg.executable(projectDir), "conns", "discover", rep.Source, "--pattern", s.Name},
			Dir:    projectDir,
			Env:    command.MergeEnv(os.Environ(), env...),
			OnLine: func(l string) { lines = append(lines, l) },
		})
		if err != nil {
			return nil, fmt.Errorf("%s:%d: expand_wildcards: sling conns discover %s failed: %s", rep.File, s.Line, rep.Source, red.String(err.Error()))
		}
		out[s.Name] = matchDiscovered(s.Name, lines)
		// Streams the file disables stay out, as Sling leaves them out.
		out[s.Name] = removeDisabled(rep, out[s.Name])
	}
	return out, nil
}

// matchDiscovered picks the names in discover output that match pattern.
func matchDiscovered(pattern string, lines []string) []string {
	want := normName(pattern)
	var found []string
	seen := map[string]bool{}
	for _, l := range lines {
		for _, w := range reTableCell.FindAllString(l, -1) {
			w = strings.Trim(w, ".")
			if ok, _ := path.Match(want, normName(w)); ok && !seen[normName(w)] {
				seen[normName(w)] = true
				found = append(found, w)
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
