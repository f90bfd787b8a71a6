package dbt

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// errNewer stops the walk at the first file newer than the manifest.
var errNewer = errors.New("newer")

// StaleManifest reports a source file of the dbt project (a model, macro,
// test, seed, snapshot or project file) modified after the manifest was
// written: the manifest no longer describes the project, and `elt sync`
// would compare the graph against an old parse. It returns that file's path
// relative to the dbt project, or "" when the manifest is current or cannot
// be read.
func StaleManifest(cfg Config, projectDir string) string {
	rc, err := cfg.resolved(projectDir)
	if err != nil {
		return ""
	}
	st, err := os.Stat(rc.Manifest)
	if err != nil {
		return ""
	}
	return newerThan(rc.ProjectDir, st.ModTime())
}

func newerThan(root string, t time.Time) string {
	var found string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable parts are not the manifest's business
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "target" || name == "dbt_packages" || name == "logs" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(name) {
		case ".sql", ".yml", ".yaml", ".csv", ".py", ".md":
		default:
			return nil
		}
		info, err := d.Info()
		if err == nil && info.ModTime().After(t) {
			found, _ = filepath.Rel(root, path)
			return errNewer
		}
		return nil
	})
	if err != nil && !errors.Is(err, errNewer) {
		return ""
	}
	return found
}
