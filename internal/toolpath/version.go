package toolpath

import (
	"os"
	"path/filepath"
	"strings"
)

// packages maps a tool to the Python distributions whose versions describe it.
var packages = map[string][]string{
	"dbt":     {"dbt_core", "dbt_duckdb"},
	"sling":   {"sling_linux_amd64", "sling_linux_arm64", "sling_darwin_arm64", "sling"},
	"python":  {"dlt", "duckdb"},
	"python3": {"dlt", "duckdb"},
	"duckdb":  {"duckdb_cli"},
}

// Version describes the tool's version without starting it (starting dbt or Python costs a
// second or more): for a program inside a virtual environment, the versions of its Python
// distributions as recorded by pip ("dbt_core 1.11.16, dbt_duckdb 1.11.1"). It returns ""
// when that is not known cheaply.
func (t Tool) Version() string {
	if !t.Found() {
		return ""
	}
	venv := filepath.Dir(filepath.Dir(t.Path))
	if _, err := os.Stat(filepath.Join(venv, "pyvenv.cfg")); err != nil {
		return ""
	}
	sites, _ := filepath.Glob(filepath.Join(venv, "lib", "python*", "site-packages"))
	var out []string
	for _, pkg := range packages[filepath.Base(t.Path)] {
		for _, site := range sites {
			m, _ := filepath.Glob(filepath.Join(site, pkg+"-*.dist-info"))
			if len(m) == 1 {
				v := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m[0]), pkg+"-"), ".dist-info")
				out = append(out, pkg+" "+v)
				break
			}
		}
	}
	return strings.Join(out, ", ")
}
