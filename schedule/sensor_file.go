package schedule

import (
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// fileCursor is a file sensor's cursor: each seen file's modification time
// (Unix nanoseconds) and size, by path relative to the watched folder.
type fileCursor struct {
	Files map[string][2]int64 `json:"files"`
}

// evalFile requests a run for files that are new or changed since the
// cursor. Files that disappeared leave the cursor, so a file put back is
// new again.
// scans, when not nil, shares folder listings with the other file sensors
// of the same daemon tick.
func (s *Sensor) evalFile(cursor string, scans *fileScans) ([]RunRequest, string, error) {
	var c fileCursor
	s.memoMu.Lock()
	if cursor != "" && cursor == s.fileMemoRaw {
		c.Files = s.fileMemo // read only below
	}
	s.memoMu.Unlock()
	if c.Files == nil && cursor != "" {
		if err := json.Unmarshal([]byte(cursor), &c); err != nil {
			return nil, "", fmt.Errorf("cursor is not a file cursor (reset it with `elt sensors reset`): %w", err)
		}
	}
	root := s.Config.Path
	if !filepath.IsAbs(root) {
		root = filepath.Join(s.env.ProjectDir, root)
	}
	pattern := s.Config.Glob
	if pattern == "" {
		pattern = "*"
	}
	if scans == nil {
		scans = newFileScans()
	}
	files, err := scans.scan(root)
	if err != nil {
		return nil, "", fmt.Errorf("watch %s: %w", root, err)
	}
	seen := map[string][2]int64{}
	var changed []string
	for _, f := range files {
		if ok, _ := matchGlob(pattern, f.rel); !ok {
			continue
		}
		st, ok, err := f.stat()
		if err != nil {
			return nil, "", fmt.Errorf("watch %s: %w", root, err)
		}
		if !ok {
			continue
		}
		seen[f.rel] = st
		if old, ok := c.Files[f.rel]; !ok || old != st {
			changed = append(changed, f.rel)
		}
	}
	if len(changed) == 0 && len(seen) == len(c.Files) && cursor != "" {
		return nil, cursor, nil // nothing new, nothing gone
	}
	b, _ := json.Marshal(fileCursor{Files: seen})
	next := string(b)
	s.memoMu.Lock()
	s.fileMemoRaw, s.fileMemo = next, seen
	s.memoMu.Unlock()
	if len(changed) == 0 {
		return nil, next, nil
	}
	sort.Strings(changed)
	abs := func(rel string) string { return filepath.Join(root, filepath.FromSlash(rel)) }
	if !s.Config.PerFile {
		r := RunRequest{Reason: fmt.Sprintf("%d new or changed files in %s", len(changed), s.Config.Path)}
		for _, rel := range changed {
			r.Files = append(r.Files, abs(rel))
		}
		return []RunRequest{r}, next, nil
	}
	var reqs []RunRequest
	for _, rel := range changed {
		r := RunRequest{Files: []string{abs(rel)}, Reason: "new or changed file " + rel}
		if def := s.Config.AddPartitions; def != "" {
			key := path.Base(rel)
			if err := ValidateKey(key); err != nil {
				return nil, "", fmt.Errorf("file %s: %w", rel, err)
			}
			r.PartitionKey = key
			r.AddPartitions = map[string][]string{def: {key}}
		}
		reqs = append(reqs, r)
	}
	return reqs, next, nil
}

// matchGlob matches a slash-separated path against pattern, where `**` as
// a whole segment matches any number of segments and other segments use
// path.Match syntax.
func matchGlob(pattern, name string) (bool, error) {
	return matchSegments(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchSegments(pat, name []string) (bool, error) {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			for i := 0; i <= len(name); i++ {
				if ok, err := matchSegments(rest, name[i:]); ok || err != nil {
					return ok, err
				}
			}
			return false, nil
		}
		if len(name) == 0 {
			return false, nil
		}
		ok, err := path.Match(pat[0], name[0])
		if err != nil || !ok {
			return false, err
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0, nil
}

// validateGlob reports a malformed segment of pattern.
func validateGlob(pattern string) error {
	for _, seg := range strings.Split(pattern, "/") {
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("segment %q: %w", seg, err)
		}
	}
	return nil
}
