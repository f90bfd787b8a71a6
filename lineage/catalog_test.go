package lineage_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/lineage"
)

// TestObserverCatalogSchema: a step whose materialization reports no
// columns gets its schema facet from Options.Catalog, asked once, at the
// step's end, for those assets only; a materialization with columns is
// not asked about; a catalog error is logged and the event still sent.
func TestObserverCatalogSchema(t *testing.T) {
	loaded, typed, other := asset.MustKey("raw", "orders"), asset.MustKey("raw", "typed"), asset.MustKey("other")
	now := time.Now()
	var mu sync.Mutex
	var asked []string
	var logs []string
	o := lineage.Options{Namespace: "ns", Job: "proj", RunID: "r3",
		Steps: map[string][]asset.Key{"sling": {loaded, typed}, "other": {other}},
		Assets: map[asset.Key]*lineage.Asset{
			loaded: {Key: loaded, Dataset: lineage.DatasetID{Namespace: "duckdb:///w.duckdb", Name: "w.raw.orders"}},
			typed:  {Key: typed, Dataset: lineage.DatasetID{Namespace: "duckdb:///w.duckdb", Name: "w.raw.typed"}},
			other:  {Key: other, Dataset: lineage.DatasetID{Namespace: "ns", Name: "other"}},
		},
		Catalog: func(_ context.Context, step string, keys []asset.Key) (map[asset.Key][]lineage.Column, error) {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, fmt.Sprint(step, " ", keys))
			if step == "other" {
				return nil, errors.New("database is locked")
			}
			return map[asset.Key][]lineage.Column{loaded: {{Name: "id", Type: "BIGINT"}, {Name: "at", Type: "TIMESTAMP"}}}, nil
		},
		Log: func(step, msg string) {
			mu.Lock()
			logs = append(logs, step+": "+msg)
			mu.Unlock()
		},
	}
	evs := observe(t, o, []engine.Event{
		{Type: engine.RunStarted, Time: now},
		{Type: engine.StepStarted, Time: now, StepID: "sling", Attempt: 1},
		{Type: engine.AssetMaterialized, Time: now, StepID: "sling", Asset: loaded, Metadata: map[string]any{"rows": 3}},
		{Type: engine.AssetMaterialized, Time: now, StepID: "sling", Asset: typed, Metadata: map[string]any{"columns": []any{map[string]any{"name": "x", "type": "VARCHAR"}}}},
		{Type: engine.StepSucceeded, Time: now, StepID: "sling", Status: engine.StatusSucceeded},
		{Type: engine.StepStarted, Time: now, StepID: "other", Attempt: 1},
		{Type: engine.AssetMaterialized, Time: now, StepID: "other", Asset: other},
		{Type: engine.StepSucceeded, Time: now, StepID: "other", Status: engine.StatusSucceeded},
		{Type: engine.RunSucceeded, Time: now},
	})
	if want := []string{"sling [raw/orders]", "other [other]"}; !reflect.DeepEqual(asked, want) {
		t.Errorf("catalog asked %q, want %q", asked, want)
	}
	fields := func(ds map[string]any) string {
		sf, _ := ds["facets"].(map[string]any)["schema"].(map[string]any)
		if sf == nil {
			return ""
		}
		var s []string
		for _, f := range sf["fields"].([]any) {
			m := f.(map[string]any)
			s = append(s, fmt.Sprint(m["name"], " ", m["type"]))
		}
		return strings.Join(s, ", ")
	}
	var got []string
	for _, e := range evs {
		if e["eventType"] != "COMPLETE" || e["job"].(map[string]any)["name"] != "sling" {
			continue
		}
		for _, o := range e["outputs"].([]any) {
			got = append(got, o.(map[string]any)["name"].(string)+": "+fields(o.(map[string]any)))
		}
	}
	if want := []string{"w.raw.orders: id BIGINT, at TIMESTAMP", "w.raw.typed: x VARCHAR"}; !reflect.DeepEqual(got, want) {
		t.Errorf("sling outputs %q, want %q", got, want)
	}
	if s := strings.Join(summary(evs), ", "); !strings.Contains(s, "COMPLETE other") {
		t.Errorf("the step whose catalog read failed sent no COMPLETE: %s", s)
	}
	if !strings.Contains(strings.Join(logs, "\n"), "other: openlineage: no schema from the catalog for step other: database is locked") {
		t.Errorf("logs %q lack the catalog error", logs)
	}
}
