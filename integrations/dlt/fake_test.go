package dlt

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as a dlt pipeline script (a test double): with
// ELT_TEST_FAKE_DLT=1 it acts like `python pipelines/github.py` would.
// FAKE_DLT_MODE picks what happens:
//
//	success  loads the selected resources into the DuckDB file named by
//	         DESTINATION__DUCKDB__CREDENTIALS, completes the load in
//	         <dataset>._dlt_loads and writes a dlt_load_info event
//	failed   loads the rows but, like dlt aborting a package on a failed
//	         job, writes no _dlt_loads row; reports the failed job; exits 0
//	crash    prints a Python traceback to stderr and exits 1
//
// FAKE_DLT_NO_EVENTS=1 skips the events file, FAKE_DLT_FAIL_ASSET adds a
// failure event for that asset, FAKE_DLT_SLEEP delays the load, and FAKE_DLT_RECORD names a file that gets one JSON line per run
// with what the script saw.
func TestMain(m *testing.M) {
	if os.Getenv("ELT_TEST_FAKE_DLT") == "1" {
		os.Exit(fakeDLT())
	}
	os.Exit(m.Run())
}

// fakeRecord is what the stand-in script saw.
type fakeRecord struct {
	Argv          []string  `json:"argv"`
	Dir           string    `json:"dir"`
	Resources     string    `json:"resources"`
	Tables        string    `json:"tables"`
	IntervalStart string    `json:"interval_start"`
	IntervalEnd   string    `json:"interval_end"`
	PartitionKey  string    `json:"partition_key"`
	Pipeline      string    `json:"pipeline"`
	PipelineEnv   string    `json:"pipeline_env"`
	Dataset       string    `json:"dataset"`
	LoadID        string    `json:"load_id"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
}

func fakeDLT() int {
	rec := fakeRecord{
		Argv:          os.Args,
		Resources:     os.Getenv(EnvResources),
		Tables:        os.Getenv(EnvTables),
		IntervalStart: os.Getenv(EnvIntervalStart),
		IntervalEnd:   os.Getenv(EnvIntervalEnd),
		PartitionKey:  os.Getenv("ELT_PARTITION_KEY"),
		Pipeline:      os.Getenv(EnvPipelineName),
		PipelineEnv:   os.Getenv("PIPELINE_NAME"),
		Dataset:       os.Getenv(EnvDataset),
		Start:         time.Now(),
	}
	rec.Dir, _ = os.Getwd()
	defer func() {
		if p := os.Getenv("FAKE_DLT_RECORD"); p != "" {
			rec.End = time.Now()
			b, _ := json.Marshal(rec)
			f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			if err == nil {
				_, _ = f.Write(append(b, '\n'))
				_ = f.Close()
			}
		}
	}()
	if d, err := time.ParseDuration(os.Getenv("FAKE_DLT_SLEEP")); err == nil {
		time.Sleep(d)
	}
	mode := os.Getenv("FAKE_DLT_MODE")
	if mode == "crash" {
		fmt.Println("extracting issues")
		tb := os.Getenv("FAKE_DLT_TRACEBACK")
		if tb == "" {
			tb = "Traceback (most recent call last):\n  File \"pipelines/github.py\", line 12, in <module>\ndlt.pipeline.exceptions.PipelineStepFailed: Pipeline execution failed at stage extract"
		}
		fmt.Fprintln(os.Stderr, tb)
		if s := os.Getenv("FAKE_DLT_SECRET"); s != "" {
			fmt.Fprintln(os.Stderr, "connection to postgres://loader:"+s+"@localhost/dlt_data failed")
		}
		return 1
	}
	loadID := strconv.FormatFloat(float64(time.Now().UnixNano())/1e9, 'f', 7, 64)
	rec.LoadID = loadID
	if err := fakeLoad(os.Getenv(EnvDuckDBCredentials), rec.Dataset, loadID, strings.Split(rec.Resources, ","), mode == "success"); err != nil {
		fmt.Fprintln(os.Stderr, "fake dlt:", err)
		return 2
	}
	if os.Getenv("FAKE_DLT_NO_EVENTS") == "1" {
		return 0
	}
	return fakeEvents(rec, loadID, mode)
}

func fakeLoad(path, dataset, loadID string, resources []string, complete bool) error {
	db, err := sql.Open("duckdb", path)
	if err != nil {
		return err
	}
	defer db.Close()
	ds := quoteIdent(dataset)
	stmts := []string{
		"CREATE SCHEMA IF NOT EXISTS " + ds,
		"CREATE TABLE IF NOT EXISTS " + ds + "._dlt_loads (load_id VARCHAR NOT NULL, schema_name VARCHAR, status BIGINT NOT NULL, inserted_at TIMESTAMPTZ NOT NULL, schema_version_hash VARCHAR)",
		"CREATE TABLE IF NOT EXISTS " + ds + ".issues (id BIGINT NOT NULL, title VARCHAR, _dlt_load_id VARCHAR NOT NULL, _dlt_id VARCHAR NOT NULL)",
		"CREATE TABLE IF NOT EXISTS " + ds + ".issues__labels (name VARCHAR, _dlt_parent_id VARCHAR NOT NULL, _dlt_list_idx BIGINT NOT NULL, _dlt_id VARCHAR NOT NULL)",
		"CREATE TABLE IF NOT EXISTS " + ds + ".pull_requests (number BIGINT NOT NULL, _dlt_load_id VARCHAR NOT NULL, _dlt_id VARCHAR NOT NULL)",
	}
	for _, r := range resources {
		switch r {
		case "issues":
			for i := range 3 {
				id := fmt.Sprintf("%s-i%d", loadID, i)
				stmts = append(stmts, fmt.Sprintf("INSERT INTO %s.issues VALUES (%d, 'issue %d', '%s', '%s')", ds, i, i, loadID, id))
			}
			for i := range 5 {
				stmts = append(stmts, fmt.Sprintf("INSERT INTO %s.issues__labels VALUES ('bug', '%s-i%d', %d, '%s-l%d')", ds, loadID, i%3, i, loadID, i))
			}
		case "pull_requests":
			for i := range 2 {
				stmts = append(stmts, fmt.Sprintf("INSERT INTO %s.pull_requests VALUES (%d, '%s', '%s-p%d')", ds, i, loadID, loadID, i))
			}
		}
	}
	if complete {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO %s._dlt_loads VALUES ('%s', 'github', 0, now(), 'a4pq0cU1cWvQXfbXw+9jvV9yDLYVvHbn2nQH3Oh1Tf8=')", ds, loadID))
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// fakeEvents writes the line the documented snippet writes, shaped like
// LoadInfo.asdict() dumped with default=str.
func fakeEvents(rec fakeRecord, loadID, mode string) int {
	state, jobs := "loaded", []map[string]any{
		{"state": "completed_jobs", "table_name": "issues", "file_id": "8c411f3418", "retry_count": 0, "file_format": "insert_values", "job_id": "issues.8c411f3418.insert_values", "failed_message": nil, "file_size": 2048, "elapsed": 0.4, "created_at": "2024-05-01 10:00:03.120000+00:00"},
	}
	if mode == "failed" {
		state = "aborted"
		jobs = append(jobs, map[string]any{"state": "failed_jobs", "table_name": "issues__labels", "file_id": "80eb41650c", "retry_count": 0, "file_format": "insert_values", "job_id": "issues__labels.80eb41650c.insert_values", "failed_message": "a random fail occurred", "file_size": 512, "elapsed": 0.1, "created_at": "2024-05-01 10:00:03.120000+00:00"})
	}
	line := map[string]any{
		"type": "dlt_load_info",
		"load_info": map[string]any{
			"pipeline":                            map[string]any{"pipeline_name": rec.Pipeline},
			"destination_type":                    "dlt.destinations.duckdb",
			"destination_name":                    "duckdb",
			"destination_displayable_credentials": "duckdb:///" + os.Getenv(EnvDuckDBCredentials),
			"dataset_name":                        rec.Dataset,
			"loads_ids":                           []string{loadID},
			"load_packages": []map[string]any{{
				"load_id": loadID, "state": state, "completed_at": "2024-05-01 10:00:04.551231+00:00",
				"schema_name": "github", "schema_hash": "a4pq0cU1cWvQXfbXw+9jvV9yDLYVvHbn2nQH3Oh1Tf8=", "jobs": jobs, "tables": []any{},
			}},
			"started_at": "2024-05-01 10:00:01.003000+00:00",
			"first_run":  false,
		},
	}
	b, _ := json.Marshal(line)
	f, err := os.OpenFile(os.Getenv("ELT_EVENTS_FILE"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake dlt:", err)
		return 2
	}
	defer f.Close()
	// A log line through the generic protocol too.
	_, _ = f.WriteString(`{"type": "log", "message": "fake dlt loaded ` + rec.Resources + `"}` + "\n")
	if k := os.Getenv("FAKE_DLT_FAIL_ASSET"); k != "" {
		_, _ = f.WriteString(`{"type": "failure", "asset": "` + k + `", "message": "row count check failed"}` + "\n")
	}
	_, _ = f.Write(append(b, '\n'))
	return 0
}
