package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eltproject/elt/lineage/lineagetest"
)

// olEvent is the part of an OpenLineage run event the jaffle assertions
// read.
type olEvent struct {
	EventType string `json:"eventType"`
	Run       struct {
		RunID  string `json:"runId"`
		Facets struct {
			Parent *struct {
				Run struct {
					RunID string `json:"runId"`
				} `json:"run"`
				Job struct {
					Namespace string `json:"namespace"`
					Name      string `json:"name"`
				} `json:"job"`
			} `json:"parent"`
		} `json:"facets"`
	} `json:"run"`
	Job struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"job"`
	Inputs  []olDataset `json:"inputs"`
	Outputs []olDataset `json:"outputs"`
}

type olDataset struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Facets    struct {
		Schema *struct {
			Fields []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"fields"`
		} `json:"schema"`
		DataQualityAssertions *struct {
			Assertions []struct {
				Assertion string `json:"assertion"`
				Success   bool   `json:"success"`
				Column    string `json:"column"`
			} `json:"assertions"`
		} `json:"dataQualityAssertions"`
	} `json:"facets"`
	OutputFacets struct {
		OutputStatistics *struct {
			RowCount int64 `json:"rowCount"`
		} `json:"outputStatistics"`
	} `json:"outputFacets"`
}

// jaffleLineage validates every event a jaffle run sent and returns them
// decoded, after checking that each run has one START and one terminal
// event and that every step's run points at the elt run.
func jaffleLineage(t *testing.T, raw [][]byte, terminal string, minSteps int) []olEvent {
	t.Helper()
	v := lineagetest.Load(t)
	var evs []olEvent
	for _, b := range raw {
		v.Validate(t, b)
		var e olEvent
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	types := map[string][]string{}
	var root string
	for _, e := range evs {
		if e.Job.Namespace != "jaffle" {
			t.Errorf("job %s: namespace %q, want the project's name jaffle", e.Job.Name, e.Job.Namespace)
		}
		if e.Run.Facets.Parent == nil {
			if e.Job.Name != "jaffle" {
				t.Errorf("run of job %s has no parent facet", e.Job.Name)
			}
			root = e.Run.RunID
		}
		types[e.Run.RunID] = append(types[e.Run.RunID], e.EventType)
	}
	if root == "" {
		t.Fatalf("no event of the elt run (job jaffle) among %d events", len(evs))
	}
	if got := types[root]; len(got) != 2 || got[0] != "START" || got[1] != terminal {
		t.Errorf("elt run events %v, want [START %s]", got, terminal)
	}
	steps := 0
	for _, e := range evs {
		if p := e.Run.Facets.Parent; p != nil {
			if p.Run.RunID != root || p.Job.Name != "jaffle" || p.Job.Namespace != "jaffle" {
				t.Errorf("step %s: parent %+v, want run %s of job jaffle", e.Job.Name, *p, root)
			}
			if e.EventType == "START" {
				steps++
				got := types[e.Run.RunID]
				if got[0] != "START" || len(got) < 2 || !slices.Contains([]string{"COMPLETE", "FAIL", "ABORT"}, got[len(got)-1]) {
					t.Errorf("step %s: events %v, want START … COMPLETE|FAIL|ABORT", e.Job.Name, got)
				}
			}
		}
	}
	if steps < minSteps {
		t.Errorf("%d step runs, want at least %d", steps, minSteps)
	}
	return evs
}

// completed returns the COMPLETE event whose outputs include dataset
// name, and that output.
func completed(t *testing.T, evs []olEvent, name string) (olEvent, olDataset) {
	t.Helper()
	for _, e := range evs {
		if e.EventType != "COMPLETE" {
			continue
		}
		for _, o := range e.Outputs {
			if o.Name == name {
				return e, o
			}
		}
	}
	var names []string
	for _, e := range evs {
		for _, o := range e.Outputs {
			names = append(names, o.Name)
		}
	}
	t.Fatalf("no COMPLETE event outputs %s; outputs: %v", name, names)
	return olEvent{}, olDataset{}
}

func fieldTypes(d olDataset) map[string]string {
	m := map[string]string{}
	if d.Facets.Schema != nil {
		for _, f := range d.Facets.Schema.Fields {
			m[f.Name] = f.Type
		}
	}
	return m
}

// checkJaffleLineage asserts what the example's first, successful run
// sent: datasets named by their table in the warehouse file, so that
// Sling's and dlt's outputs are the inputs of the dbt models reading them;
// schemas, row counts and dbt's tests as assertions.
func checkJaffleLineage(t *testing.T, dir string, raw [][]byte) {
	t.Helper()
	evs := jaffleLineage(t, raw, "COMPLETE", 7)
	ns := "duckdb://" + filepath.ToSlash(filepath.Join(dir, "data", "jaffle.duckdb"))

	sling, orders := completed(t, evs, "jaffle.raw.orders")
	if orders.Namespace != ns {
		t.Errorf("Sling's raw.orders: namespace %q, want %q", orders.Namespace, ns)
	}
	if !strings.Contains(sling.Job.Name, "sling") {
		t.Errorf("raw.orders comes from step %s, want Sling's", sling.Job.Name)
	}
	if s := orders.OutputFacets.OutputStatistics; s == nil || s.RowCount != 32 {
		t.Errorf("raw.orders outputStatistics %+v, want rowCount 32", s)
	}
	// Sling reports no column types: they come from DuckDB's catalog.
	if ft := fieldTypes(orders); ft["id"] != "BIGINT" || ft["updated_at"] == "" {
		t.Errorf("raw.orders schema %v, want id BIGINT and updated_at from the catalog", ft)
	}

	stg, stgOut := completed(t, evs, "jaffle.staging.stg_orders")
	if !slices.ContainsFunc(stg.Inputs, func(d olDataset) bool { return d.Namespace == orders.Namespace && d.Name == orders.Name }) {
		t.Errorf("dbt's stg_orders (step %s) inputs %+v lack Sling's output %s %s", stg.Job.Name, stg.Inputs, orders.Namespace, orders.Name)
	}
	if ft := fieldTypes(stgOut); ft["order_id"] != "BIGINT" || ft["order_date"] != "DATE" {
		t.Errorf("stg_orders schema %v, want order_id BIGINT, order_date DATE (DuckDB's catalog)", ft)
	}

	_, events := completed(t, evs, "jaffle.events.events")
	if events.Namespace != ns {
		t.Errorf("dlt's events.events: namespace %q, want %q", events.Namespace, ns)
	}
	if s := events.OutputFacets.OutputStatistics; s == nil || s.RowCount != 80 {
		t.Errorf("events.events outputStatistics %+v, want rowCount 80", s)
	}
	if ft := fieldTypes(events); ft["_dlt_load_id"] == "" {
		t.Errorf("events.events schema %v, want dlt's columns", ft)
	}
	stgEvents, _ := completed(t, evs, "jaffle.staging.stg_events")
	if !slices.ContainsFunc(stgEvents.Inputs, func(d olDataset) bool { return d.Namespace == events.Namespace && d.Name == events.Name }) {
		t.Errorf("dbt's stg_events inputs %+v lack dlt's output %s", stgEvents.Inputs, events.Name)
	}

	_, fct := completed(t, evs, "jaffle.marts.fct_orders")
	want := map[string]bool{"assert_orders_paid": false, "row_count": false}
	col := ""
	if q := fct.Facets.DataQualityAssertions; q != nil {
		for _, a := range q.Assertions {
			if _, ok := want[a.Assertion]; ok && a.Success {
				want[a.Assertion] = true
			}
			if strings.HasPrefix(a.Assertion, "unique") && a.Success {
				col = a.Column
			}
		}
	}
	for a, ok := range want {
		if !ok {
			t.Errorf("fct_orders: no passed assertion %s in %+v", a, fct.Facets.DataQualityAssertions)
		}
	}
	if col != "order_id" {
		t.Errorf("fct_orders: dbt's unique test not asserted on column order_id (%+v)", fct.Facets.DataQualityAssertions)
	}
	if ft := fieldTypes(fct); len(ft) < 3 || ft["order_id"] == "" {
		t.Errorf("fct_orders schema %v, want its columns with types", ft)
	}
}

// checkJaffleFailedLineage asserts the run whose blocking dbt test fails:
// the elt run FAILs and fct_orders carries the failed assertion.
func checkJaffleFailedLineage(t *testing.T, raw [][]byte) {
	t.Helper()
	evs := jaffleLineage(t, raw, "FAIL", 5)
	for _, e := range evs {
		for _, o := range e.Outputs {
			if o.Name != "jaffle.marts.fct_orders" || o.Facets.DataQualityAssertions == nil {
				continue
			}
			for _, a := range o.Facets.DataQualityAssertions.Assertions {
				if a.Assertion == "assert_orders_paid" && !a.Success {
					return
				}
			}
		}
	}
	t.Error("no failed assert_orders_paid assertion on fct_orders in the failing run's events")
}
