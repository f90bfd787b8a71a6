package project

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeReferenceLoads keeps the elt.yaml reference in README.md true:
// the example must load (its dbt/Sling/dlt lines need real projects, so
// they are dropped here and covered by the integrations' own tests).
func TestReadmeReferenceLoads(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatalf("README.md is part of the repository: %v", err)
	}
	text := string(b)
	i := strings.Index(text, "## elt.yaml")
	if i < 0 {
		t.Fatal("README has no '## elt.yaml' section")
	}
	rest := text[i:]
	start := strings.Index(rest, "```yaml\n")
	end := strings.Index(rest[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no yaml block in the elt.yaml section")
	}
	var kept []string
	for _, l := range strings.Split(rest[start+8:start+8+end], "\n") {
		if strings.HasPrefix(l, "dbt:") || strings.HasPrefix(l, "sling:") || strings.HasPrefix(l, "dlt:") {
			continue
		}
		kept = append(kept, l)
	}
	dir := t.TempDir()
	write(t, dir, "models/orders_daily.sql", "SELECT * FROM {{ ref(\"raw/orders\") }} WHERE order_date >= {{ partition_start }} AND order_date < {{ partition_end }}")
	write(t, dir, "bin/plugin-hello", "#!/bin/sh\n")
	write(t, dir, "data/shares.csv", "date,share_price\n")
	for _, d := range []string{"scripts", "landing"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	path := write(t, dir, FileName, strings.Join(kept, "\n"))
	env := map[string]string{"API_TOKEN": "t0ken-value", "SLACK_WEBHOOK": "http://127.0.0.1:1/hook"}
	p, err := Load(context.Background(), path, Options{Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatalf("README's elt.yaml does not load:\n%v", err)
	}
	if len(p.Automation.Schedules) != 2 || len(p.Automation.Sensors) != 4 || len(p.Jobs) != 2 {
		t.Errorf("schedules %d sensors %d jobs %d", len(p.Automation.Schedules), len(p.Automation.Sensors), len(p.Jobs))
	}
}
