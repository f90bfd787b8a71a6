package lineage_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/eltproject/elt/internal/testenv"
	"github.com/eltproject/elt/lineage"
)

// specValidator validates events against the OpenLineage JSON Schema and
// the facet schemas in the shared fixtures, loaded from files (their $id
// URLs resolve locally, never over the network).
type specValidator struct {
	event *jsonschema.Schema
	// facets maps "run/NAME", "job/NAME", "dataset/NAME", "input/NAME",
	// "output/NAME" to the facet's schema.
	facets map[string]*jsonschema.Schema
}

var (
	validatorOnce sync.Once
	validatorVal  *specValidator
	validatorErr  error
)

func loadValidator(t testing.TB) *specValidator {
	t.Helper()
	dir := testenv.Fixtures(t, "openlineage")
	validatorOnce.Do(func() { validatorVal, validatorErr = newSpecValidator(dir) })
	if validatorErr != nil {
		t.Fatal(validatorErr)
	}
	return validatorVal
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

func newSpecValidator(dir string) (*specValidator, error) {
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
	v := &specValidator{facets: map[string]*jsonschema.Schema{}}
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

// validate checks one serialized event and each of its facets.
func (v *specValidator) validate(t testing.TB, raw []byte) {
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

// TestValidatorRejects makes sure the validator can fail: broken events
// and facets must not pass.
func TestValidatorRejects(t *testing.T) {
	v := loadValidator(t)
	good := lineage.RunEvent{EventType: lineage.Start, Producer: lineage.Producer, SchemaURL: lineage.SchemaURL + "#/$defs/RunEvent",
		Run: lineage.Run{RunID: lineage.RunUUID("r", "")}, Job: lineage.Job{Namespace: "ns", Name: "j"}}
	b, _ := json.Marshal(good)
	v.validate(t, b)
	bad := []string{
		strings.Replace(string(b), `"eventType":"START"`, `"eventType":"BEGIN"`, 1),
		strings.Replace(string(b), `"producer":"`+lineage.Producer+`"`, `"producer":"not a uri"`, 1),
		strings.Replace(string(b), lineage.RunUUID("r", ""), "not-a-uuid", 1),
	}
	for _, s := range bad {
		doc, _ := jsonschema.UnmarshalJSON(strings.NewReader(s))
		if v.event.Validate(doc) == nil {
			t.Errorf("validator accepted %s", s)
		}
	}
	f := map[string]any{"_producer": lineage.Producer, "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
		"fields": []any{map[string]any{"type": "INT"}}}
	if v.facets["dataset/schema"].Validate(map[string]any{"schema": f}) == nil {
		t.Error("validator accepted a schema field without a name")
	}
}
