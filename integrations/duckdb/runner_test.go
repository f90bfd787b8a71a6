package duckdb

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// testProject is a project folder with a warehouse resource, using a
// real DuckDB file in a temp dir.
type testProject struct {
	t   *testing.T
	dir string
	res map[string]engine.Resource
}

func newTestProject(t *testing.T) *testProject {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &testProject{t: t, dir: dir, res: map[string]engine.Resource{
		"warehouse": {Name: "warehouse", Type: "duckdb", Config: map[string]string{"path": "data/warehouse.duckdb", "threads": "2"}},
	}}
}

func (p *testProject) write(name, content string) {
	p.t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// run materializes keys and returns the events and the runner's error.
func (p *testProject) run(assets map[asset.Key]AssetConfig, part *engine.Partition, env []string, keys ...asset.Key) ([]engine.Event, error) {
	var events []engine.Event
	var log bytes.Buffer
	req := &engine.Request{RunID: "r1", StepID: "s1", Attempt: 1, Assets: keys, Partition: part, ProjectDir: p.dir, Env: env, Log: &log, Resources: p.res}
	err := NewRunner(p.res, assets, p.dir).Run(context.Background(), req, func(e engine.Event) { events = append(events, e) })
	return events, err
}

// mustRun is run that fails the test on error and returns the metadata of
// each materialization.
func (p *testProject) mustRun(assets map[asset.Key]AssetConfig, part *engine.Partition, keys ...asset.Key) map[asset.Key]map[string]any {
	p.t.Helper()
	events, err := p.run(assets, part, []string{}, keys...)
	if err != nil {
		p.t.Fatal(err)
	}
	md := map[asset.Key]map[string]any{}
	for _, e := range events {
		if e.Type != engine.AssetMaterialized {
			p.t.Fatalf("unexpected event %+v", e)
		}
		md[e.Asset] = e.Metadata
	}
	if len(md) != len(keys) {
		p.t.Fatalf("got %d materializations for %d assets", len(md), len(keys))
	}
	return md
}

// query returns the rows of q as strings.
func (p *testProject) query(q string, args ...any) [][]string {
	p.t.Helper()
	_, rc, err := PickResource("", p.res)
	if err != nil {
		p.t.Fatal(err)
	}
	db, conn, err := rc.open(context.Background(), p.dir)
	if err != nil {
		p.t.Fatal(err)
	}
	defer db.Close()
	defer conn.Close()
	rs, err := conn.QueryContext(context.Background(), q, args...)
	if err != nil {
		p.t.Fatalf("%s: %v", q, err)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out [][]string
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			p.t.Fatal(err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = fmt.Sprint(jsonValue(v))
		}
		out = append(out, row)
	}
	if err := rs.Err(); err != nil {
		p.t.Fatal(err)
	}
	return out
}

func (p *testProject) count(rel string) string {
	p.t.Helper()
	return p.query("SELECT count(*) FROM " + rel)[0][0]
}

const sharesCSV = `date,share_price,amount,spend,shift,spread
2024-01-01,10.5,100,50.0,0.1,0.2
2024-01-01,11.0,120,55.5,0.2,0.1
2024-01-02,10.8,90,40.0,-0.1,0.3
2024-01-03,12.1,130,60.0,0.3,0.2
`

func TestMaterializations(t *testing.T) {
	p := newTestProject(t)
	p.write("data/shares.csv", sharesCSV)
	p.write("models/summary.sql", "-- summary\nSELECT count(*) AS days, avg(share_price) AS avg_price FROM {{ ref(\"raw/shares\") }};\n")
	rawShares, summary, dailyView := asset.MustKey("raw", "shares"), asset.MustKey("mart", "summary"), asset.MustKey("daily_view")
	rawData, envData := asset.MustKey("raw_data"), asset.MustKey("env_data")
	assets := map[asset.Key]AssetConfig{
		rawShares: {Import: &ImportConfig{Path: "data/shares.csv"}},
		summary:   {SQL: "models/summary.sql"},
		dailyView: {SQL: `SELECT date, sum(amount) AS amount FROM {{ ref("raw/shares") }} GROUP BY date`, Materialize: "view"},
		rawData: {Materialize: "script", SQL: `CREATE TABLE IF NOT EXISTS {{ this }} (
				date DATE, share_price FLOAT, amount FLOAT, spend FLOAT, shift FLOAT, spread FLOAT);
			DELETE FROM {{ this }};
			COPY {{ this }} FROM 'data/shares.csv' (HEADER);`},
		envData: {Materialize: "script", SQL: `CREATE OR REPLACE TABLE {{ this }} AS SELECT * FROM read_csv({{ env("SHARES_FILE") }});`},
	}
	md := p.mustRun(assets, nil, rawShares, summary, dailyView, rawData)

	tests := []struct {
		key     asset.Key
		rel     string
		mat     string
		rows    int64
		columns int
	}{
		{rawShares, `"raw"."shares"`, "table", 4, 6},
		{summary, `"mart"."summary"`, "table", 1, 2},
		{dailyView, `"main"."daily_view"`, "view", 3, 2},
		{rawData, `"main"."raw_data"`, "script", 4, 6},
	}
	for _, tt := range tests {
		m := md[tt.key]
		if m["relation"] != tt.rel || m["materialize"] != tt.mat || m["rows"] != tt.rows || m["duckdb_resource"] != "warehouse" {
			t.Errorf("%s: metadata %v, want relation %s, materialize %s, rows %d", tt.key, m, tt.rel, tt.mat, tt.rows)
		}
		cols, _ := m["columns"].([]map[string]any)
		if len(cols) != tt.columns {
			t.Errorf("%s: columns %v, want %d", tt.key, m["columns"], tt.columns)
		}
		if _, ok := m["duration_ms"].(int64); !ok {
			t.Errorf("%s: no duration_ms in %v", tt.key, m)
		}
	}
	if cols := md[rawData]["columns"].([]map[string]any); cols[0]["name"] != "date" || cols[0]["type"] != "DATE" {
		t.Errorf("raw_data columns = %v", cols)
	}
	// The script re-runs cleanly (CREATE IF NOT EXISTS + DELETE + COPY).
	md = p.mustRun(assets, nil, rawData)
	if md[rawData]["rows"] != int64(4) {
		t.Errorf("script re-run rows = %v", md[rawData]["rows"])
	}
	// A view follows its source.
	if got := p.query(`SELECT amount FROM "main"."daily_view" WHERE date = DATE '2024-01-01'`); got[0][0] != "220" {
		t.Errorf("view amount = %v", got)
	}
	// env values are bound: a path taken from the environment.
	if _, err := p.run(assets, nil, []string{"SHARES_FILE=" + filepath.Join(p.dir, "data/shares.csv")}, envData); err != nil {
		t.Fatal(err)
	}
	if got := p.count(`"main"."env_data"`); got != "4" {
		t.Errorf("env_data rows = %s", got)
	}
}

func TestBoundValuesAreNotPasted(t *testing.T) {
	p := newTestProject(t)
	key := asset.MustKey("audit")
	evil := `x'); DROP TABLE audit; --`
	assets := map[asset.Key]AssetConfig{key: {SQL: `SELECT {{ env("NOTE") }} AS note, {{ partition_key }} AS part`}}
	events, err := p.run(assets, &engine.Partition{Key: "it's"}, []string{"NOTE=" + evil}, key)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.query(`SELECT note, part FROM "main"."audit"`); len(got) != 1 || got[0][0] != evil || got[0][1] != "it's" {
		t.Errorf("rows = %q", got)
	}
	for _, e := range events {
		if strings.Contains(fmt.Sprint(e.Metadata), "DROP TABLE") {
			t.Errorf("a bound value leaked into metadata: %v", e.Metadata)
		}
	}
}

func day(d int) *engine.Partition {
	start := time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC)
	return &engine.Partition{Key: start.Format(time.DateOnly), Start: start, End: start.AddDate(0, 0, 1)}
}

func TestIncrementalPartitionIsIdempotent(t *testing.T) {
	p := newTestProject(t)
	p.write("data/shares.csv", sharesCSV)
	src, daily := asset.MustKey("raw", "shares"), asset.MustKey("mart", "daily")
	assets := map[asset.Key]AssetConfig{
		src: {Import: &ImportConfig{Path: "data/shares.csv", Format: "csv", Options: map[string]any{"header": true}}},
		daily: {Materialize: "incremental", PartitionColumn: "date", SQL: `
			SELECT date, count(*) AS trades, sum(amount) AS amount
			FROM {{ ref("raw/shares") }}
			WHERE date >= {{ partition_start }} AND date < {{ partition_end }}
			GROUP BY date`},
	}
	p.mustRun(assets, nil, src)
	first := p.mustRun(assets, day(1), daily)[daily]
	if first["rows_inserted"] != int64(1) || first["rows_deleted"] != int64(0) || first["rows"] != int64(1) {
		t.Errorf("first partition metadata %v", first)
	}
	p.mustRun(assets, day(2), daily)
	before := p.query(`SELECT date, trades, amount FROM "mart"."daily" ORDER BY date`)
	again := p.mustRun(assets, day(1), daily)[daily]
	after := p.query(`SELECT date, trades, amount FROM "mart"."daily" ORDER BY date`)
	if fmt.Sprint(before) != fmt.Sprint(after) || len(after) != 2 {
		t.Errorf("re-running a partition changed the table:\nbefore %v\nafter  %v", before, after)
	}
	if again["rows_deleted"] != int64(1) || again["rows_inserted"] != int64(1) || again["rows"] != int64(2) {
		t.Errorf("re-run metadata %v", again)
	}
	// New source data for day 1 replaces only day 1.
	p.write("data/shares.csv", sharesCSV+"2024-01-01,9.9,1000,1,1,1\n")
	p.mustRun(assets, nil, src)
	p.mustRun(assets, day(1), daily)
	if got := p.query(`SELECT date, trades FROM "mart"."daily" ORDER BY date`); fmt.Sprint(got) != "[[2024-01-01 3] [2024-01-02 1]]" {
		t.Errorf("after refresh: %v", got)
	}
	// Without a partition the window is (-infinity, infinity): the table is
	// rebuilt in full from the same query, days never run included.
	p.mustRun(assets, nil, daily)
	if got := p.query(`SELECT date, trades FROM "mart"."daily" ORDER BY date`); fmt.Sprint(got) != "[[2024-01-01 3] [2024-01-02 1] [2024-01-03 1]]" {
		t.Errorf("after an unpartitioned rebuild: %v", got)
	}
}

func TestIncrementalRefusesRowsOutsideThePartition(t *testing.T) {
	p := newTestProject(t)
	key := asset.MustKey("events")
	assets := map[asset.Key]AssetConfig{key: {Materialize: "incremental", PartitionColumn: "day",
		SQL: `SELECT * FROM (VALUES (DATE '2024-01-01', 1), (DATE '2024-01-05', 2)) t(day, n)`}}
	_, err := p.run(assets, day(1), nil, key)
	if err == nil || !strings.Contains(err.Error(), `1 new rows have "day" outside partition 2024-01-01`) {
		t.Fatalf("error = %v", err)
	}
	// Nothing was committed.
	if got := p.query(`SELECT count(*) FROM information_schema.tables WHERE table_name = 'events'`); got[0][0] != "0" {
		t.Errorf("the failed partition left a table behind")
	}
}

func TestIncrementalStaticPartition(t *testing.T) {
	p := newTestProject(t)
	key := asset.MustKey("by_region")
	assets := map[asset.Key]AssetConfig{key: {Materialize: "incremental", PartitionColumn: "region",
		SQL: `SELECT {{ partition_key }} AS region, 42 AS n`}}
	for _, k := range []string{"eu", "us", "eu"} {
		p.mustRun(assets, &engine.Partition{Key: k}, key)
	}
	if got := p.query(`SELECT region, n FROM "main"."by_region" ORDER BY region`); fmt.Sprint(got) != "[[eu 42] [us 42]]" {
		t.Errorf("rows = %v", got)
	}
}

func TestQuotedIdentifiers(t *testing.T) {
	p := newTestProject(t)
	key := asset.MustKey(`my "odd"`, `table name`)
	assets := map[asset.Key]AssetConfig{key: {SQL: `SELECT 1 AS "col ""x"" y", NULL AS "other col"`}}
	md := p.mustRun(assets, nil, key)[key]
	want := `"my ""odd"""."table name"`
	if md["relation"] != want || md["rows"] != int64(1) {
		t.Errorf("metadata %v, want relation %s", md, want)
	}
	cols := md["columns"].([]map[string]any)
	if cols[0]["name"] != `col "x" y` {
		t.Errorf("columns %v", cols)
	}
	res := runCheck(t, p, key, md, CheckConfig{Type: "not_null", Columns: []string{`col "x" y`, "other col"}})
	if res.Passed || res.Metadata["failing_rows"] != int64(1) {
		t.Errorf("not_null on quoted columns: %+v", res)
	}
	// A ref to that key (single-quoted argument, since the key holds
	// double quotes) and a relation override with quotes and spaces.
	other := asset.MustKey("o")
	assets[other] = AssetConfig{SQL: `SELECT * FROM {{ ref('my "odd"/table name') }}`, Relation: `"another schema"."a ""b"""`}
	if deps, err := RefDeps(assets[other].SQL); err != nil || len(deps) != 1 || deps[0] != key {
		t.Errorf("RefDeps = %v, %v", deps, err)
	}
	if md := p.mustRun(assets, nil, other)[other]; md["rows"] != int64(1) || md["relation"] != `"another schema"."a ""b"""` {
		t.Errorf("override metadata %v", md)
	}
}

func TestErrors(t *testing.T) {
	key := asset.MustKey("raw", "orders")
	tests := []struct {
		name string
		cfg  AssetConfig
		part *engine.Partition
		want []string
	}{
		{"sql error names asset and statement", AssetConfig{SQL: "SELECT nope FROM missing_table"},
			nil, []string{"asset raw/orders: ", "missing_table", "\n  in statement: CREATE OR REPLACE TABLE \"raw\".\"orders\" AS\nSELECT nope FROM missing_table"}},
		{"script error names the statement", AssetConfig{Materialize: "script", SQL: "CREATE TABLE IF NOT EXISTS {{ this }} (a INT);\nINSERT INTO {{ this }} VALUES ('not a number')"},
			nil, []string{"asset raw/orders: ", "in statement: INSERT INTO \"raw\".\"orders\" VALUES ('not a number')"}},
		{"table with two statements", AssetConfig{SQL: "SELECT 1; SELECT 2"}, nil, []string{"takes one SELECT, found 2 statements (use materialize: script"}},
		{"view with bound values", AssetConfig{Materialize: "view", SQL: "SELECT {{ partition_key }} AS k"}, &engine.Partition{Key: "a"}, []string{"a view cannot keep bound values"}},
		{"script without the relation", AssetConfig{Materialize: "script", SQL: "CREATE TABLE elsewhere AS SELECT 1"}, nil, []string{`the script did not create "raw"."orders"`}},
		{"missing sql file", AssetConfig{SQL: "models/none.sql"}, nil, []string{"asset raw/orders: read sql file"}},
		{"template error names file position", AssetConfig{SQL: "SELECT {{ nope }}"}, nil, []string{"asset raw/orders: sql: line 1, column 8: unknown template"}},
		{"missing import file", AssetConfig{Import: &ImportConfig{Path: "data/none.csv"}}, nil, []string{"asset raw/orders: ", "none.csv", "in statement: CREATE OR REPLACE TABLE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestProject(t)
			events, err := p.run(map[asset.Key]AssetConfig{key: tt.cfg}, tt.part, nil, key)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if len(events) != 1 || events[0].Type != engine.AssetFailed || events[0].Asset != key || events[0].Message != err.Error() {
				t.Errorf("events = %+v", events)
			}
		})
	}
}

func TestStatementErrorClipsLongStatements(t *testing.T) {
	e := &StatementError{Asset: asset.MustKey("a"), Statement: strings.Repeat("é", 400), Err: fmt.Errorf("boom")}
	msg := e.Error()
	stmt := msg[strings.Index(msg, "in statement: ")+len("in statement: "):]
	if len(stmt) > maxStatementShown+len("…") || !strings.HasSuffix(stmt, "…") {
		t.Errorf("statement shown is %d bytes: %q", len(stmt), stmt)
	}
}

func TestImportFormats(t *testing.T) {
	p := newTestProject(t)
	p.write("data/semi.csv", "id;name\n1;a\n2;b\n3;\n")
	p.write("data/rows.json", `[{"id": 1, "tags": ["x"]}, {"id": 2, "tags": []}]`)
	csvKey, jsonKey, pqKey := asset.MustKey("semi"), asset.MustKey("rows"), asset.MustKey("pq")
	assets := map[asset.Key]AssetConfig{
		csvKey:  {Import: &ImportConfig{Path: "data/semi.csv", Options: map[string]any{"delim": ";", "header": true, "nullstr": []any{"", "NA"}, "columns": map[string]any{"id": "BIGINT", "name": "VARCHAR"}}}},
		jsonKey: {Import: &ImportConfig{Path: "data/rows.json"}},
	}
	md := p.mustRun(assets, nil, csvKey, jsonKey)
	if md[csvKey]["rows"] != int64(3) || md[jsonKey]["rows"] != int64(2) {
		t.Errorf("rows: csv %v json %v", md[csvKey]["rows"], md[jsonKey]["rows"])
	}
	if cols := md[csvKey]["columns"].([]map[string]any); cols[0]["type"] != "BIGINT" {
		t.Errorf("csv columns %v", cols)
	}
	if got := p.query(`SELECT count(*) FROM "main"."semi" WHERE name IS NULL`); got[0][0] != "1" {
		t.Errorf("nullstr option not applied: %v", got)
	}
	p.query(fmt.Sprintf(`COPY "main"."semi" TO '%s' (FORMAT parquet)`, filepath.Join(p.dir, "data", "semi.parquet")))
	assets[pqKey] = AssetConfig{Import: &ImportConfig{Path: "data/semi.parquet"}}
	if md := p.mustRun(assets, nil, pqKey)[pqKey]; md["rows"] != int64(3) || md["import_path"] != "data/semi.parquet" {
		t.Errorf("parquet metadata %v", md)
	}
}

func TestReadOnlyResourceRefusesMaterialization(t *testing.T) {
	p := newTestProject(t)
	p.res["warehouse"].Config["read_only"] = "true"
	key := asset.MustKey("x")
	_, err := p.run(map[asset.Key]AssetConfig{key: {SQL: "SELECT 1"}}, nil, nil, key)
	if err == nil || !strings.Contains(err.Error(), "read_only") {
		t.Errorf("error = %v", err)
	}
}

func TestAssetInfo(t *testing.T) {
	p := newTestProject(t)
	p.write("models/daily.sql", `SELECT * FROM {{ ref("raw/shares") }} JOIN {{ ref("dim") }} USING (id)`)
	cfg := AssetConfig{SQL: "models/daily.sql", Materialize: "incremental", PartitionColumn: "date"}
	info, err := cfg.Info(asset.MustKey("mart", "daily"), p.dir, p.res)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(info.Deps) != "[raw/shares dim]" || info.Pool != "duckdb:"+filepath.Join(p.dir, "data/warehouse.duckdb") ||
		info.Metadata["relation"] != `"mart"."daily"` || info.Metadata["sql_file"] != "models/daily.sql" || info.Resource != "warehouse" || len(info.CodeVersion) != 16 {
		t.Errorf("info = %+v", info)
	}
	p.write("models/daily.sql", `SELECT 2`)
	info2, _ := cfg.Info(asset.MustKey("mart", "daily"), p.dir, p.res)
	if info2.CodeVersion == info.CodeVersion {
		t.Error("code version did not change with the SQL")
	}
	p.write("models/bad.sql", "SELECT 1\nFROM {{ ref(\"a//b\") }}")
	if _, err := (AssetConfig{SQL: "models/bad.sql"}).Info(asset.MustKey("m"), p.dir, p.res); err == nil || !strings.Contains(err.Error(), "asset m: models/bad.sql: line 2, column 6") {
		t.Errorf("error = %v", err)
	}
}

func TestAssetValidate(t *testing.T) {
	tests := []struct {
		cfg  AssetConfig
		want string
	}{
		{AssetConfig{SQL: "SELECT 1"}, ""},
		{AssetConfig{Import: &ImportConfig{Path: "a.parquet"}}, ""},
		{AssetConfig{}, "set sql:"},
		{AssetConfig{SQL: "SELECT 1", Import: &ImportConfig{Path: "a.csv"}}, "not both"},
		{AssetConfig{SQL: "SELECT 1", Materialize: "ephemeral"}, `materialize "ephemeral"`},
		{AssetConfig{SQL: "SELECT 1", Materialize: "incremental"}, "needs partition_column"},
		{AssetConfig{SQL: "SELECT 1", PartitionColumn: "d"}, "only used with materialize: incremental"},
		{AssetConfig{SQL: "SELECT 1", Relation: "a.b.c.d"}, "4 parts"},
		{AssetConfig{SQL: "SELECT '1"}, "sql: line 1, column 8: unterminated"},
		{AssetConfig{Import: &ImportConfig{Path: "a.xlsx"}}, `format ""`},
		{AssetConfig{Import: &ImportConfig{Path: "a.csv", Options: map[string]any{"bad name": 1}}}, "not a reader parameter name"},
		{AssetConfig{Import: &ImportConfig{Path: "a.csv", Options: map[string]any{"x": []any{[]any{1}}}}}, "list items"},
		{AssetConfig{Import: &ImportConfig{Path: "a.csv"}, Materialize: "view"}, "always loads a table"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}
