package dlt

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/integrations/command"
	mdlt "github.com/eltproject/elt/manifest/dlt"
)

// shopProject runs testdata/realdlt/shop_pipeline.py with the real dlt into
// a DuckDB file, with dlt's own folders under the test's temporary folder.
type shopProject struct {
	dir, db string
	cfg     Config
	res     map[string]engine.Resource
}

var (
	shopOrders    = asset.MustKey("dlt_shop_orders")
	shopCustomers = asset.MustKey("dlt_shop_customers")
)

func newShopProject(t *testing.T) *shopProject {
	t.Helper()
	python := realPython(t)
	script, err := filepath.Abs(filepath.Join("testdata", "realdlt", "shop_pipeline.py"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return &shopProject{
		dir: dir,
		db:  filepath.Join(dir, "warehouse.duckdb"),
		cfg: Config{
			Pipeline:     "shop",
			PipelinesDir: "pipelines",
			Command:      Command{Argv: []string{python, script}},
			Dataset:      "shop_data",
			Destination:  "warehouse",
			Resources:    []string{"orders", "customers"},
			Source:       "shop",
			Env:          map[string]string{"RUNTIME__LOG_LEVEL": "WARNING"},
		},
		res: map[string]engine.Resource{"warehouse": {Name: "warehouse", Type: "duckdb", Config: map[string]string{"path": "warehouse.duckdb"}}},
	}
}

// run runs the assets (for a day of May 2024 when day > 0) and returns the
// events, the step log and the error.
func (p *shopProject) run(t *testing.T, keys []asset.Key, day int, extraEnv ...string) ([]engine.Event, string, error) {
	t.Helper()
	_, fams, err := Load(context.Background(), p.cfg, p.dir, p.res)
	if err != nil {
		t.Fatal(err)
	}
	var part *engine.Partition
	if day > 0 {
		start := time.Date(2024, 5, day, 0, 0, 0, 0, time.UTC)
		part = &engine.Partition{Key: start.Format("2006-01-02"), Start: start, End: start.AddDate(0, 0, 1)}
	}
	env := append(os.Environ(),
		"DLT_DATA_DIR="+filepath.Join(p.dir, "dlt_data"),
		"RUNTIME__DLTHUB_TELEMETRY=false",
		"HOME="+filepath.Join(p.dir, "home"))
	env = append(env, extraEnv...)
	var log bytes.Buffer
	var got []engine.Event
	req := &engine.Request{Assets: keys, Partition: part, ProjectDir: p.dir, StepDir: t.TempDir(),
		Env: env, Log: &log, Resources: p.res}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err = fams[0].Runner.Run(ctx, req, func(e engine.Event) { got = append(got, e) })
	return got, log.String(), err
}

// query reads one integer from the DuckDB file through elt's driver.
func (p *shopProject) query(t *testing.T, q string) int64 {
	t.Helper()
	db, err := sql.Open("duckdb", p.db+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (p *shopProject) tableExists(t *testing.T, name string) bool {
	t.Helper()
	return p.query(t, "select count(*) from information_schema.tables where table_schema = 'shop_data' and table_name = '"+name+"'") == 1
}

func materialized(evs []engine.Event) map[asset.Key]map[string]any {
	out := map[asset.Key]map[string]any{}
	for _, e := range evs {
		if e.Type == engine.AssetMaterialized {
			out[e.Asset] = e.Metadata
		}
	}
	return out
}

// ELT_DLT_RESOURCES limits the run to the selected resource: only its
// table is created and only its asset is reported.
func TestRealDLTSelectsResources(t *testing.T) {
	p := newShopProject(t)
	evs, log, err := p.run(t, []asset.Key{shopCustomers}, 0)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	mat := materialized(evs)
	if len(mat) != 1 || mat[shopCustomers] == nil {
		t.Fatalf("materialized %v; want only %s", mat, shopCustomers)
	}
	if n := p.query(t, "select count(*) from shop_data.customers"); n != 3 {
		t.Errorf("customers has %d rows, want 3", n)
	}
	if p.tableExists(t, "orders") {
		t.Errorf("orders was loaded though only customers was selected")
	}
	if n := p.query(t, "select count(*) from shop_data._dlt_loads where status = 0"); n != 1 {
		t.Errorf("_dlt_loads has %d completed loads, want 1", n)
	}
}

// Each daily window loads exactly its rows: dlt's incremental reads
// DLT_INTERVAL_START/END as [start, end), so the midnight row belongs to
// the next day and the last microsecond of a day to that day.
func TestRealDLTIntervalWindows(t *testing.T) {
	p := newShopProject(t)
	for _, tc := range []struct {
		day       int
		wantTotal int64
		wantNew   int64
	}{{1, 2, 2}, {2, 4, 2}, {2, 4, 2}} {
		evs, log, err := p.run(t, []asset.Key{shopOrders}, tc.day)
		if err != nil {
			t.Fatalf("day %d: %v\n%s", tc.day, err, log)
		}
		md := materialized(evs)[shopOrders]
		if md == nil || md["load_id"] == nil {
			t.Fatalf("day %d: no materialization with a load id: %+v", tc.day, evs)
		}
		byTable, _ := md["rows_by_table"].(map[string]int64)
		if byTable["orders"] != tc.wantNew {
			t.Errorf("day %d: rows_by_table %v, want %d new orders", tc.day, md["rows_by_table"], tc.wantNew)
		}
		if n := p.query(t, "select count(*) from shop_data.orders"); n != tc.wantTotal {
			t.Errorf("day %d: orders has %d rows, want %d", tc.day, n, tc.wantTotal)
		}
		loadID, _ := md["load_id"].(string)
		if n := p.query(t, "select count(*) from shop_data._dlt_loads where status = 0 and load_id = '"+loadID+"'"); n != 1 {
			t.Errorf("day %d: load %s is not confirmed in _dlt_loads", tc.day, loadID)
		}
	}
	if n := p.query(t, "select count(*) from shop_data.orders where id = 5"); n != 0 {
		t.Errorf("the 2024-05-03 row was loaded by an earlier window")
	}
}

// dlt 1.31 refuses to run a resource with allow_external_schedulers=True
// when no window is given (older dlt fell back to its own cursor): an
// unpartitioned run of such an asset fails with dlt's message.
func TestRealDLTExternalSchedulerNeedsWindow(t *testing.T) {
	p := newShopProject(t)
	_, log, err := p.run(t, []asset.Key{shopOrders}, 0)
	if err == nil || !strings.Contains(err.Error(), "ExternalSchedulerNotAvailable") {
		t.Fatalf("err = %v; want dlt's ExternalSchedulerNotAvailable\n%s", err, log)
	}
}

// A pipeline whose resource raises half-way fails the step with dlt's
// message, and leaves neither rows nor a load behind.
func TestRealDLTFailsHalfWay(t *testing.T) {
	p := newShopProject(t)
	if _, log, err := p.run(t, []asset.Key{shopCustomers}, 0); err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	evs, log, err := p.run(t, []asset.Key{shopOrders, shopCustomers}, 1, "SHOP_FAIL_AFTER=3")
	if err == nil {
		t.Fatalf("a pipeline that raised was reported as a success: %+v\n%s", evs, log)
	}
	if !strings.Contains(err.Error(), "orders feed broke after 3 rows") {
		t.Errorf("error %q does not carry the script's message", err)
	}
	if len(materialized(evs)) != 0 {
		t.Errorf("assets reported materialized: %v", materialized(evs))
	}
	if p.tableExists(t, "orders") {
		t.Errorf("rows of the failed run reached the destination")
	}
	if n := p.query(t, "select count(*) from shop_data._dlt_loads"); n != 1 {
		t.Errorf("_dlt_loads has %d loads, want only the first run's", n)
	}
}

// With LOAD__RAISE_ON_FAILED_JOBS=false dlt exits 0 although a load job
// failed (a CHECK constraint of the destination table); dlt 1.31 still
// writes the package's _dlt_loads row, so the failed job in the load info
// is what fails the asset.
func TestRealDLTFailedJobOnExitZero(t *testing.T) {
	p := newShopProject(t)
	evs, log, err := p.run(t, []asset.Key{shopCustomers}, 0, "SHOP_CHECKED_CUSTOMERS=1", "LOAD__RAISE_ON_FAILED_JOBS=false")
	if err == nil || !strings.Contains(err.Error(), "although the command exited 0") {
		t.Fatalf("err = %v; want the failed job reported\n%s", err, log)
	}
	var msg string
	for _, e := range evs {
		if e.Type == engine.AssetFailed && e.Asset == shopCustomers {
			msg = e.Message
		}
	}
	if !strings.Contains(msg, "CHECK constraint failed") {
		t.Errorf("failure message %q does not carry dlt's job error", msg)
	}
	if n := p.query(t, "select count(*) from shop_data.customers"); n != 0 {
		t.Errorf("customers has %d rows after the failed job", n)
	}
	if n := p.query(t, "select count(*) from shop_data._dlt_loads where status = 0"); n != 1 {
		t.Errorf("dlt 1.31 writes the _dlt_loads row of a package with failed jobs; got %d rows", n)
	}
}

// The recordings in testdata/realdlt come from dlt 1.31 (regenerate.sh
// there) and are read without Python.
func TestRecordedLoadInfo(t *testing.T) {
	for _, tc := range []struct {
		file       string
		failedJobs int
		rows       map[string]int64
	}{
		{"load_info.jsonl", 0, map[string]int64{"orders": 2, "customers": 3}},
		{"load_info_failed_job.jsonl", 1, map[string]int64{"orders": 2, "customers": 3}},
	} {
		// ParseEvents, not ReadEventsFile: that removes the file it read.
		path := filepath.Join("testdata", "realdlt", tc.file)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		evs, raws, err := command.ParseEvents(path, b, asset.Key{})
		if err != nil || len(evs) != 0 || len(raws) != 1 {
			t.Fatalf("%s: %v events %v raw %d", tc.file, err, evs, len(raws))
		}
		li, err := mdlt.ParseLoadInfoEvent(raws[0].JSON)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if len(li.LoadIDs) != 1 || len(li.Packages) != 1 || li.DatasetName != "shop_data" {
			t.Errorf("%s: load ids %v packages %d dataset %q", tc.file, li.LoadIDs, len(li.Packages), li.DatasetName)
		}
		failed := li.Packages[0].FailedJobs()
		if len(failed) != tc.failedJobs {
			t.Fatalf("%s: %d failed jobs, want %d", tc.file, len(failed), tc.failedJobs)
		}
		for _, j := range failed {
			if j.TableName != "customers" || !strings.HasPrefix(lastLine(j.FailedMessage), "dlt.destinations.exceptions.DatabaseTerminalException: Constraint Error") {
				t.Errorf("%s: failed job %s: %q", tc.file, j.TableName, lastLine(j.FailedMessage))
			}
		}
		for table, n := range tc.rows {
			if li.RowCounts[table] != n {
				t.Errorf("%s: row_counts[%s] = %d, want %d (%v)", tc.file, table, li.RowCounts[table], n, li.RowCounts)
			}
		}
	}
}
