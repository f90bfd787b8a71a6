package lineage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/eltproject/elt/internal/testenv"
	"github.com/eltproject/elt/lineage/lineagetest"
	"github.com/eltproject/elt/project"
)

// receiver is a local OpenLineage endpoint that keeps every event.
type receiver struct {
	mu     sync.Mutex
	events [][]byte
	auth   []string
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/api/v1/lineage" || req.Method != http.MethodPost {
			http.NotFound(w, req)
			return
		}
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.events = append(r.events, b)
		r.auth = append(r.auth, req.Header.Get("Authorization"))
		r.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// olEvent is the part of an event the assertions read.
type olEvent struct {
	EventType string `json:"eventType"`
	Run       struct {
		RunID  string                     `json:"runId"`
		Facets map[string]json.RawMessage `json:"facets"`
	} `json:"run"`
	Job struct {
		Namespace string                     `json:"namespace"`
		Name      string                     `json:"name"`
		Facets    map[string]json.RawMessage `json:"facets"`
	} `json:"job"`
	Inputs  []olDataset `json:"inputs"`
	Outputs []olDataset `json:"outputs"`
}

type olDataset struct {
	Namespace    string                     `json:"namespace"`
	Name         string                     `json:"name"`
	Facets       map[string]json.RawMessage `json:"facets"`
	OutputFacets map[string]json.RawMessage `json:"outputFacets"`
}

// joinAsset adds an asset joining two quickstart tables, for the column
// lineage of a join.
const joinAsset = `
  - key: daily_vs_month
    group: marts
    sql: |
      SELECT d.date, d.avg_share_price, s.avg_share_price AS month_avg
      FROM {{ ref("daily_shares") }} AS d
      JOIN {{ ref("share_summary") }} AS s ON date_trunc('month', d.date) = s.month
      WHERE d.trades > 0
`

// quickstart copies examples/quickstart to a temporary folder, adds the
// join asset and the openlineage section, and loads it.
func quickstart(t *testing.T, url string, env map[string]string) *project.Project {
	t.Helper()
	return quickstartTB(t, t.TempDir(), url, env)
}

func quickstartB(b *testing.B, url string) *project.Project {
	return quickstartTB(b, b.TempDir(), url, map[string]string{"OL_API_KEY": "k"})
}

func quickstartTB(t testing.TB, dir, url string, env map[string]string) *project.Project {
	t.Helper()
	src := filepath.Join(testenv.RepoRoot(), "examples", "quickstart")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if d.Name() == ".elt" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		if strings.HasSuffix(p, ".duckdb") || strings.HasSuffix(p, ".wal") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(filepath.Join(dir, "elt.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(y), "\njobs:", joinAsset+"\njobs:", 1)
	if url != "" {
		text += "\nopenlineage:\n  namespace: qs\n  transport:\n    type: http\n    url: " + url + "\n    api_key: ${OL_API_KEY}\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "elt.yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	}
	p, err := project.Load(context.Background(), filepath.Join(dir, "elt.yaml"), project.Options{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func runQuickstart(t *testing.T, p *project.Project) string {
	t.Helper()
	ctx := context.Background()
	st, err := p.OpenStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err := p.Run(ctx, st, project.RunOptions{Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

func decodeAll(t *testing.T, v *lineagetest.Validator, raw [][]byte) []olEvent {
	t.Helper()
	var out []olEvent
	for _, b := range raw {
		v.Validate(t, b)
		var e olEvent
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestQuickstartEmitsLineage(t *testing.T) {
	v := lineagetest.Load(t)
	r := newReceiver(t)
	p := quickstart(t, r.srv.URL, map[string]string{"OL_API_KEY": "s3cret-key"})
	if status := runQuickstart(t, p); status != "succeeded" {
		t.Fatalf("run %s", status)
	}
	evs := decodeAll(t, v, r.events)
	for _, a := range r.auth {
		if a != "Bearer s3cret-key" {
			t.Fatalf("Authorization = %q", a)
		}
	}
	// START/COMPLETE pairs: the elt run and its five steps.
	starts, completes := map[string]string{}, map[string]string{}
	var root string
	for _, e := range evs {
		switch e.EventType {
		case "START":
			starts[e.Run.RunID] = e.Job.Name
		case "COMPLETE":
			completes[e.Run.RunID] = e.Job.Name
		default:
			t.Errorf("unexpected %s for %s", e.EventType, e.Job.Name)
		}
		if e.Job.Name == "quickstart" {
			root = e.Run.RunID
		}
		if e.Job.Namespace != "qs" {
			t.Errorf("job namespace %q, want qs", e.Job.Namespace)
		}
	}
	if len(starts) != 6 || len(completes) != 6 {
		t.Fatalf("starts %v completes %v, want 6 runs each", starts, completes)
	}
	for id, job := range starts {
		if completes[id] != job {
			t.Errorf("run %s of %s has no COMPLETE", id, job)
		}
	}
	// Parent links from every step to the elt run.
	for _, e := range evs {
		if e.Job.Name == "quickstart" {
			continue
		}
		var parent struct {
			Run struct{ RunID string } `json:"run"`
			Job struct{ Name string }  `json:"job"`
		}
		if err := json.Unmarshal(e.Run.Facets["parent"], &parent); err != nil || parent.Run.RunID != root || parent.Job.Name != "quickstart" {
			t.Errorf("%s: parent %s, want run %s", e.Job.Name, e.Run.Facets["parent"], root)
		}
	}
	outs := map[string]olDataset{}
	ins := map[string][]string{}
	for _, e := range evs {
		if e.EventType != "COMPLETE" {
			continue
		}
		for _, o := range e.Outputs {
			outs[e.Job.Name] = o
		}
		for _, i := range e.Inputs {
			ins[e.Job.Name] = append(ins[e.Job.Name], i.Namespace+"/"+i.Name)
		}
	}
	wantNS := "duckdb://" + filepath.ToSlash(filepath.Join(p.Dir, "data", "warehouse.duckdb"))
	if o := outs["share_summary"]; o.Namespace != wantNS || o.Name != "warehouse.main.share_summary" {
		t.Errorf("share_summary dataset %s/%s, want %s/warehouse.main.share_summary", o.Namespace, o.Name, wantNS)
	}
	if got := ins["daily_vs_month"]; len(got) != 2 {
		t.Errorf("daily_vs_month inputs %v, want daily_shares and share_summary", got)
	}
	// Schema and row counts.
	var schema struct{ Fields []struct{ Name, Type string } }
	_ = json.Unmarshal(outs["raw_data"].Facets["schema"], &schema)
	if len(schema.Fields) != 6 || schema.Fields[0].Name != "date" || schema.Fields[0].Type != "DATE" {
		t.Errorf("raw_data schema %+v", schema.Fields)
	}
	var stats struct{ RowCount int }
	_ = json.Unmarshal(outs["raw_data"].OutputFacets["outputStatistics"], &stats)
	if stats.RowCount != 60 {
		t.Errorf("raw_data rowCount %d, want 60", stats.RowCount)
	}
	// Passed checks are assertions.
	var dq struct {
		Assertions []struct {
			Assertion string
			Success   bool
			Column    string
		}
	}
	_ = json.Unmarshal(outs["raw_data"].Facets["dataQualityAssertions"], &dq)
	if len(dq.Assertions) != 2 || !dq.Assertions[0].Success {
		t.Errorf("raw_data assertions %+v", dq.Assertions)
	}
	// Column lineage of an aggregation and of a join.
	cl := func(job string) map[string]any {
		var f map[string]any
		if err := json.Unmarshal(outs[job].Facets["columnLineage"], &f); err != nil {
			t.Fatalf("%s: no columnLineage facet: %v", job, err)
		}
		return f
	}
	agg := cl("share_summary")
	days := agg["fields"].(map[string]any)["high"].(map[string]any)["inputFields"].([]any)[0].(map[string]any)
	if days["name"] != "warehouse.main.daily_shares" || days["field"] != "high" || !hasTransformation(days, "DIRECT", "AGGREGATION") {
		t.Errorf("share_summary.high lineage %v", days)
	}
	if !hasDatasetDep(agg, "date", "GROUP_BY") {
		t.Errorf("share_summary lacks GROUP_BY on date: %v", agg["dataset"])
	}
	join := cl("daily_vs_month")
	ma := join["fields"].(map[string]any)["month_avg"].(map[string]any)["inputFields"].([]any)[0].(map[string]any)
	if ma["name"] != "warehouse.main.share_summary" || ma["field"] != "avg_share_price" || !hasTransformation(ma, "DIRECT", "IDENTITY") {
		t.Errorf("daily_vs_month.month_avg lineage %v", ma)
	}
	if !hasDatasetDep(join, "month", "JOIN") || !hasDatasetDep(join, "trades", "FILTER") {
		t.Errorf("daily_vs_month dataset lineage %v lacks JOIN on month or FILTER on trades", join["dataset"])
	}
	// The api key never reaches the events.
	for _, b := range r.events {
		if strings.Contains(string(b), "s3cret-key") {
			t.Fatal("an event contains the api key")
		}
	}
}

// TestExportValidates: the static export, before and after a run, is
// valid OpenLineage with one DatasetEvent per asset and one JobEvent per
// step, and has column lineage once columns are known.
func TestExportValidates(t *testing.T) {
	v := lineagetest.Load(t)
	p := quickstart(t, "", nil)
	export := func() (datasets, jobs int, joinLineage bool) {
		set, err := p.Select("", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := p.ExportLineage(context.Background(), &buf, set, func(string) {}); err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
			v.Validate(t, line)
			var e struct {
				Dataset *olDataset
				Job     *struct{ Name string }
				Outputs []olDataset
			}
			if err := json.Unmarshal(line, &e); err != nil {
				t.Fatal(err)
			}
			if e.Dataset != nil {
				datasets++
			}
			if e.Job != nil {
				jobs++
				if e.Job.Name == "daily_vs_month" && len(e.Outputs) == 1 && e.Outputs[0].Facets["columnLineage"] != nil {
					joinLineage = true
				}
			}
		}
		return
	}
	if d, j, _ := export(); d != 5 || j != 5 {
		t.Fatalf("before a run: %d datasets, %d jobs; want 5 and 5", d, j)
	}
	runQuickstart(t, p)
	if _, _, cl := export(); !cl {
		t.Fatal("after a run the export has no column lineage for the join")
	}
}

func hasTransformation(f map[string]any, typ, sub string) bool {
	for _, t := range f["transformations"].([]any) {
		tm := t.(map[string]any)
		if tm["type"] == typ && tm["subtype"] == sub {
			return true
		}
	}
	return false
}

func hasDatasetDep(facet map[string]any, field, sub string) bool {
	l, _ := facet["dataset"].([]any)
	for _, d := range l {
		dm := d.(map[string]any)
		if dm["field"] == field && hasTransformation(dm, "INDIRECT", sub) {
			return true
		}
	}
	return false
}

func TestQuickstartFailingCheck(t *testing.T) {
	v := lineagetest.Load(t)
	r := newReceiver(t)
	p := quickstart(t, r.srv.URL, map[string]string{"OL_API_KEY": "k", "SHARES_CSV": "data/shares_bad.csv"})
	if status := runQuickstart(t, p); status == "succeeded" {
		t.Fatal("the run with bad shares succeeded")
	}
	evs := decodeAll(t, v, r.events)
	var failedAssertion, rootFail bool
	for _, e := range evs {
		if e.Job.Name == "quickstart" && e.EventType == "FAIL" {
			var em struct{ Message string }
			_ = json.Unmarshal(e.Run.Facets["errorMessage"], &em)
			rootFail = strings.Contains(em.Message, "positive_share_price")
		}
		for _, o := range e.Outputs {
			var dq struct {
				Assertions []struct {
					Assertion string
					Success   bool
				}
			}
			_ = json.Unmarshal(o.Facets["dataQualityAssertions"], &dq)
			for _, a := range dq.Assertions {
				if a.Assertion == "positive_share_price" && !a.Success {
					failedAssertion = true
				}
			}
		}
	}
	if !failedAssertion || !rootFail {
		t.Fatalf("failed assertion %v, root FAIL %v in %d events", failedAssertion, rootFail, len(evs))
	}
}
