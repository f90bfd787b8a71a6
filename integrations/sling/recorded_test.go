package sling

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The recordings in testdata/real come from the real Sling 1.4.11
// (testdata/real/regenerate.sh); these tests replay them without Sling.

func readLines(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "real", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

func TestRecordedReplicationLog(t *testing.T) {
	const dir = "file:///tmp/elt-sling-record/data/"
	planned := []string{dir + "customers.csv", dir + "orders.json", dir + "missing.csv"}
	lp := newLogProgress(planned)
	for _, l := range readLines(t, "replication.log") {
		lp.feed(l)
	}
	want := map[string]struct {
		status outcomeStatus
		rows   int64
		table  string
		err    string
	}{
		planned[0]: {outcomeOK, 3, `"raw"."customers"`, ""},
		planned[1]: {outcomeOK, 2, `"raw"."orders"`, ""},
		planned[2]: {outcomeFailed, 0, "", "lstat /tmp/elt-sling-record/data/missing.csv: no such file or directory"},
	}
	for name, w := range want {
		o, ok := lp.result(name)
		if !ok {
			t.Fatalf("%s: no outcome", name)
		}
		if o.status != w.status || o.rows != w.rows || (w.table != "" && !slices.Contains(o.tables, w.table)) || o.err != w.err {
			t.Errorf("%s: status %v rows %d tables %v err %q; want %v %d %s %q", name, o.status, o.rows, o.tables, o.err, w.status, w.rows, w.table, w.err)
		}
	}
}

func TestRecordedDiscover(t *testing.T) {
	files := matchDiscoveredFiles("/tmp/elt-sling-record/data/*.csv", readLines(t, "discover_files.txt"))
	if strings.Join(files, ",") != "/tmp/elt-sling-record/data/customers.csv,/tmp/elt-sling-record/data/payments.csv" {
		t.Errorf("files = %v", files)
	}
	tables := matchDiscovered("main.*", readLines(t, "discover_db.txt"))
	if strings.Join(tables, ",") != "main.customers,main.orders" {
		t.Errorf("tables = %v", tables)
	}
	if got := matchDiscovered("main.cust*", readLines(t, "discover_db.txt")); strings.Join(got, ",") != "main.customers" {
		t.Errorf("main.cust* = %v", got)
	}
}
