package dlt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// SchemasDir is the folder of a pipeline's stored schemas.
const SchemasDir = "schemas"

// Pipeline is what elt reads from a dlt pipeline's working folder
// (<pipelines dir>/<pipeline name>/). trace.pickle is a Python pickle and
// is never read; load packages are not read either.
type Pipeline struct {
	Name string
	Dir  string
	// State is nil when the folder has no state.json yet.
	State *State
	// Schemas come from schemas/*.schema.json (and exported
	// *.schema.yaml), the default schema first, then by name.
	Schemas []*Schema
}

// ReadPipeline reads the working folder dir of the pipeline named name. A
// missing folder or one without state and schemas is not an error: the
// pipeline has not run yet, and the result has no State and no Schemas.
func ReadPipeline(dir, name string) (*Pipeline, error) {
	p := &Pipeline{Name: name, Dir: dir}
	st, err := ReadState(filepath.Join(dir, StateFile))
	switch {
	case err == nil:
		p.State = st
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, err
	}
	p.Schemas, err = ReadSchemas(filepath.Join(dir, SchemasDir))
	if err != nil {
		return nil, fmt.Errorf("pipeline %q: %w", name, err)
	}
	def := ""
	if p.State != nil {
		def = p.State.DefaultSchemaName
	}
	sort.Slice(p.Schemas, func(i, j int) bool {
		a, b := p.Schemas[i].Name, p.Schemas[j].Name
		if (a == def) != (b == def) {
			return a == def
		}
		return a < b
	})
	return p, nil
}

// ReadSchemas reads every *.schema.json and *.schema.yaml file in dir: a
// pipeline's schemas/ folder, or the folder dlt exports schemas to
// (export_schema_path). When a schema is there as JSON and YAML, the JSON
// (what dlt stores) wins. A missing folder holds no schemas. The result is
// sorted by schema name.
func ReadSchemas(dir string) ([]*Schema, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("read dlt schemas: %w", err)
	}
	byName := map[string]*Schema{}
	for _, suffix := range []string{SchemaFileSuffix, SchemaYAMLSuffix} {
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), suffix) {
				continue
			}
			s, err := ReadSchema(filepath.Join(dir, e.Name()))
			if err != nil {
				return nil, err
			}
			if _, dup := byName[s.Name]; !dup {
				byName[s.Name] = s
			}
		}
	}
	out := make([]*Schema, 0, len(byName))
	for _, s := range byName {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// HasRun reports whether the folder holds a state or a schema.
func (p *Pipeline) HasRun() bool { return p.State != nil || len(p.Schemas) > 0 }

// SchemaNames returns the names of the schemas read, in order.
func (p *Pipeline) SchemaNames() []string {
	var out []string
	for _, s := range p.Schemas {
		out = append(out, s.Name)
	}
	return slices.Clip(out)
}

// DefaultPipelinesDir returns the folder dlt keeps pipelines in when
// pipelines_dir is not given: $DLT_DATA_DIR/pipelines when set, otherwise
// /var/dlt/pipelines for root, ~/.dlt/pipelines for a user with a home
// folder and <temp>/dlt/pipelines for one without, as dlt decides.
func DefaultPipelinesDir() string {
	home, _ := os.UserHomeDir()
	return defaultPipelinesDir(os.Getenv, os.Geteuid(), home, os.TempDir())
}

func defaultPipelinesDir(getenv func(string) string, euid int, home, tmp string) string {
	if d := getenv("DLT_DATA_DIR"); d != "" {
		return filepath.Join(d, "pipelines")
	}
	if euid == 0 {
		return filepath.Join("/var", "dlt", "pipelines")
	}
	if home == "" {
		return filepath.Join(tmp, "dlt", "pipelines")
	}
	return filepath.Join(home, ".dlt", "pipelines")
}
