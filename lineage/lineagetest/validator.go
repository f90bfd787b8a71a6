// Package lineagetest validates OpenLineage events in tests against the
// OpenLineage JSON Schema and facet schemas of the shared fixtures, and
// receives events over HTTP as a lineage catalog would.
package lineagetest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/eltproject/elt/internal/testenv"
)

// Validator validates events against the OpenLineage JSON Schema and
// the facet schemas in the shared fixtures, loaded from files (their $id
// URLs resolve locally, never over the network).
type Validator struct {
	event *jsonschema.Schema
	// facets maps "run/NAME", "job/NAME", "dataset/NAME", "input/NAME",
	// "output/NAME" to the facet's schema.
	facets map[string]*jsonschema.Schema
}

var (
	once    sync.Once
	loaded  *Validator
	loadErr error
)

// Load returns the validator of the OpenLineage schemas in the shared
// fixtures (fixtures/openlineage), loaded once per test binary; without
// the fixtures the test is skipped, or fails in CI (testenv.Fixtures).
func Load(t testing.TB) *Validator {
	t.Helper()
	dir := testenv.Fixtures(t, "openlineage")
	once.Do(func() { loaded, loadErr = newValidator(dir) })
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return loaded
}

func readSchema(path string) (string, any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return "", nil, err
	}
	id, _ := doc.(map[string]any)["$id"].(string)
	return id, doc, nil
}

func newValidator(dir string) (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	coreID, core, err := readSchema(filepath.Join(dir, "OpenLineage.json"))
	if err != nil {
		return nil, err
	}
	if err := c.AddResource(coreID, core); err != nil {
		return nil, err
	}
	files, _ := filepath.Glob(filepath.Join(dir, "facets", "*.json"))
	type facetFile struct {
		id, base string
		props    []string
	}
	var ffs []facetFile
	for _, f := range files {
		id, doc, err := readSchema(f)
		if err != nil {
			return nil, err
		}
		if err := c.AddResource(id, doc); err != nil {
			return nil, err
		}
		var props []string
		for k := range doc.(map[string]any)["properties"].(map[string]any) {
			props = append(props, k)
		}
		ffs = append(ffs, facetFile{id, strings.TrimSuffix(filepath.Base(f), ".json"), props})
	}
	v := &Validator{facets: map[string]*jsonschema.Schema{}}
	if v.event, err = c.Compile(coreID); err != nil {
		return nil, err
	}
	for _, ff := range ffs {
		var kind string
		switch {
		case strings.HasSuffix(ff.base, "InputDatasetFacet"):
			kind = "input"
		case strings.HasSuffix(ff.base, "OutputDatasetFacet"):
			kind = "output"
		case strings.HasSuffix(ff.base, "DatasetFacet"):
			kind = "dataset"
		case strings.HasSuffix(ff.base, "RunFacet"):
			kind = "run"
		case strings.HasSuffix(ff.base, "JobFacet"):
			kind = "job"
		default:
			continue
		}
		s, err := c.Compile(ff.id)
		if err != nil {
			return nil, err
		}
		for _, p := range ff.props {
			v.facets[kind+"/"+p] = s
		}
	}
	return v, nil
}

// Validate checks one serialized event and each of its facets.
func (v *Validator) Validate(t testing.TB, raw []byte) {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("event is not JSON: %v", err)
	}
	if err := v.event.Validate(doc); err != nil {
		t.Fatalf("event does not validate against OpenLineage.json: %v\n%s", err, raw)
	}
	m := doc.(map[string]any)
	check := func(kind string, facets any) {
		fm, _ := facets.(map[string]any)
		for name, f := range fm {
			s := v.facets[kind+"/"+name]
			if s == nil {
				t.Errorf("%s facet %q has no schema in the spec", kind, name)
				continue
			}
			if err := s.Validate(map[string]any{name: f}); err != nil {
				t.Errorf("%s facet %q does not validate: %v\n%s", kind, name, err, raw)
			}
		}
	}
	if r, ok := m["run"].(map[string]any); ok {
		check("run", r["facets"])
	}
	if j, ok := m["job"].(map[string]any); ok {
		check("job", j["facets"])
	}
	dsets := func(k string) {
		l, _ := m[k].([]any)
		for _, d := range l {
			dm := d.(map[string]any)
			check("dataset", dm["facets"])
			check("input", dm["inputFacets"])
			check("output", dm["outputFacets"])
		}
	}
	dsets("inputs")
	dsets("outputs")
	if d, ok := m["dataset"].(map[string]any); ok {
		check("dataset", d["facets"])
	}
}
