package lineagetest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/eltproject/elt/lineage"
)

// TestValidatorRejects makes sure the validator can fail: broken events
// and facets must not pass.
func TestValidatorRejects(t *testing.T) {
	v := Load(t)
	good := lineage.RunEvent{EventType: lineage.Start, Producer: lineage.Producer, SchemaURL: lineage.SchemaURL + "#/$defs/RunEvent",
		Run: lineage.Run{RunID: lineage.RunUUID("r", "")}, Job: lineage.Job{Namespace: "ns", Name: "j"}}
	b, _ := json.Marshal(good)
	v.Validate(t, b)
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
