package lineage

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/eltproject/elt/asset"
)

// Export writes the static lineage of a graph as OpenLineage JSON lines:
// one DatasetEvent per asset, then one JobEvent per step with its input
// and output datasets (schema and column lineage where known). o's
// Emitter, RunID and Partition are not used; Log receives why a step has
// no column lineage (its step id and the reason).
func Export(w io.Writer, o Options, now time.Time) error {
	if o.Parser == nil {
		o.Parser = &Parser{}
		defer o.Parser.Close()
	}
	if o.Log == nil {
		o.Log = func(string, string) {}
	}
	ob := &Observer{o: o, cache: openCache(o.CacheFile)}
	defer ob.cache.save()
	enc := json.NewEncoder(w)
	var keys []asset.Key
	for _, ks := range o.Steps {
		keys = append(keys, ks...)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		ds := ob.dataset(k, nil)
		if a := o.Assets[k]; a != nil && len(a.Owners) > 0 {
			if ds.Facets == nil {
				ds.Facets = Facets{}
			}
			var owners []map[string]any
			for _, n := range a.Owners {
				owners = append(owners, map[string]any{"name": n})
			}
			ds.Facets["ownership"] = newFacet("datasetOwnership", map[string]any{"owners": owners})
		}
		if err := enc.Encode(DatasetEvent{EventTime: now, Dataset: ds, Producer: Producer, SchemaURL: SchemaURL + "#/$defs/DatasetEvent"}); err != nil {
			return fmt.Errorf("lineage export: %w", err)
		}
	}
	ids := make([]string, 0, len(o.Steps))
	for id := range o.Steps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		st := &stepState{id: id}
		ks := o.Steps[id]
		je := JobEvent{EventTime: now, Producer: Producer, SchemaURL: SchemaURL + "#/$defs/JobEvent",
			Job: Job{Namespace: o.Namespace, Name: id, Facets: ob.jobFacets(st, ks)}, Inputs: ob.inputs(ks)}
		for _, k := range ks {
			ds := ob.dataset(k, nil)
			if a := o.Assets[k]; a != nil && a.Columns != nil && !a.Declared {
				if cl := ob.columnLineage(st, a, a.Columns); cl != nil {
					if ds.Facets == nil {
						ds.Facets = Facets{}
					}
					ds.Facets["columnLineage"] = cl
				}
			}
			je.Outputs = append(je.Outputs, ds)
		}
		if err := enc.Encode(je); err != nil {
			return fmt.Errorf("lineage export: %w", err)
		}
	}
	return nil
}
