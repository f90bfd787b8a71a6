package dbt

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func FuzzParseManifest(f *testing.F) {
	if data, err := os.ReadFile("testdata/state_base.json"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/manifest/v4.json"},"nodes":{"model.p.a":{"unique_id":"model.p.a","resource_type":"model","raw_sql":"select \"1\"\n","fqn":["p","a"],"depends_on":{"nodes":[]}}}}`))
	f.Add([]byte(`{"metadata":{"dbt_schema_version":"x/manifest/v12.json"},"sources":{"s":{"unique_id":"s","meta":{"a":[1,{"b":null}]}}},"groups":{"g":{"unique_id":"g","owner":{"email":"e"}}}}`))
	f.Add([]byte(`{"nodes":{"a\u0041":{"unique_id":"\ud83d\ude00","tags":"one","version":2.5}},"metadata":{"dbt_schema_version":"/manifest/v7"}}`))
	f.Add([]byte(`{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/run-results/v6.json"}}`))
	f.Add([]byte(`[`))
	f.Add([]byte(`{"metadata":{"dbt_schema_version":"x/manifest/v20.json"},"nodes":null}`))
	f.Add([]byte(`{"metadata":{"dbt_schema_version":"x/manifest/v12.json"},"nodes":{"model.p.a":{"unique_id":"model.p.a","resource_type":7,"depends_on":{"nodes":"model.p.b"}}}}`))
	f.Add([]byte(`{"metadata":{"dbt_schema_version":"x/manifest/v12.json"},"nodes":{"model.p.a":{"unique_id":"model.p.a","depends_on":{"nodes":["model.p.gone"]}}},"exposures":{"exposure.p.e":{"unique_id":"exposure.p.e","depends_on":{"nodes":["metric.p.m","model.p.a"]}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data, "fuzz.json")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.json") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		// The streamed parse must agree with the in-memory one.
		s, err := parseManifest(newReaderScanner(iotest.HalfReader(strings.NewReader(string(data))), "fuzz.json"))
		if err != nil {
			t.Fatalf("in-memory parse succeeded, streamed parse failed: %v", err)
		}
		if !reflect.DeepEqual(m, s) {
			t.Fatal("streamed parse differs from the in-memory one")
		}
		for id, n := range m.Nodes {
			if id != n.UniqueID {
				t.Errorf("node keyed %q has unique_id %q", id, n.UniqueID)
			}
			// No edge of an accepted manifest is silently dropped.
			for _, d := range n.DependsOn.Nodes {
				if m.Nodes[d] == nil && m.Sources[d] == nil && !strings.HasPrefix(d, "metric.") && !strings.HasPrefix(d, "semantic_model.") && !strings.HasPrefix(d, "saved_query.") {
					t.Errorf("node %s depends on %q, which the manifest lacks", id, d)
				}
			}
		}
		Compare(m, m)
	})
}

func FuzzParseRunResults(f *testing.F) {
	f.Add([]byte(`{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/run-results/v6.json","invocation_id":"x"},"results":[{"unique_id":"model.a.b","status":"fail","failures":3,"timing":[{"name":"execute"}],"adapter_response":{"rows_affected":7}}],"elapsed_time":1.5,"args":{"which":"build"}}`))
	f.Add([]byte(`{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/run-results/v2.json"},"results":[{"unique_id":"m","status":"skipped","message":null,"failures":null}]}`))
	f.Add([]byte(`{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/manifest/v12.json"}}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rr, err := ParseRunResults(data, "fuzz.json")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.json") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		if rr.SchemaVersion < MinRunResultsVersion || rr.SchemaVersion > MaxRunResultsVersion {
			t.Errorf("accepted schema v%d", rr.SchemaVersion)
		}
		for _, r := range rr.Results {
			if r.UniqueID == "" {
				t.Error("accepted a result without unique_id")
			}
			r.RowsAffected()
		}
	})
}
