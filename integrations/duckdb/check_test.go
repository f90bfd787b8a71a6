package duckdb

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func i64(n int64) *int64 { return &n }

func TestCheckValidate(t *testing.T) {
	tests := []struct {
		name     string
		c        CheckConfig
		wantName string
		wantErr  string
	}{
		{"not_null", CheckConfig{Type: "not_null", Column: "share_price"}, "not_null_share_price", ""},
		{"unique two columns", CheckConfig{Type: "unique", Columns: []string{"date", "Ticker Name"}}, "unique_date_ticker_name", ""},
		{"accepted", CheckConfig{Type: "accepted_values", Column: "s", Values: []any{"a", 1}}, "accepted_values_s", ""},
		{"row_count", CheckConfig{Type: "row_count", Min: i64(1)}, "row_count", ""},
		{"freshness column", CheckConfig{Type: "freshness", TimestampColumn: "loaded_at", MaxAge: "2d"}, "freshness_loaded_at", ""},
		{"freshness", CheckConfig{Type: "freshness", MaxAge: "24h"}, "freshness", ""},
		{"expression", CheckConfig{Type: "expression", Expression: "share_price > 0"}, "expression_share_price_0", ""},
		{"named sql", CheckConfig{Name: "no_orphans", Type: "sql", SQL: "SELECT 1 WHERE false"}, "no_orphans", ""},
		{"no type", CheckConfig{}, "", "needs type"},
		{"bad type", CheckConfig{Type: "nope"}, "", `check type "nope"`},
		{"not_null no column", CheckConfig{Type: "not_null"}, "", "needs column"},
		{"accepted no values", CheckConfig{Type: "accepted_values", Column: "s"}, "", "needs values"},
		{"accepted nested value", CheckConfig{Type: "accepted_values", Column: "s", Values: []any{[]any{1}}}, "", "must be a string"},
		{"row_count no bounds", CheckConfig{Type: "row_count"}, "", "needs min"},
		{"row_count inverted", CheckConfig{Type: "row_count", Min: i64(5), Max: i64(1)}, "", "above max"},
		{"freshness bad age", CheckConfig{Type: "freshness", MaxAge: "soon"}, "", "max_age"},
		{"blocking warn", CheckConfig{Type: "row_count", Min: i64(1), Severity: "warn", Blocking: true}, "", "blocking needs severity error"},
		{"bad severity", CheckConfig{Type: "row_count", Min: i64(1), Severity: "fatal"}, "", "severity"},
		{"bad where", CheckConfig{Type: "row_count", Min: i64(1), Where: "x = 'open"}, "", "unterminated string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			err := c.Validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != tt.wantName || c.Severity != "error" {
				t.Errorf("name %q severity %q, want %q error", c.Name, c.Severity, tt.wantName)
			}
		})
	}
}

func TestCheckSpecRoundTrip(t *testing.T) {
	var c CheckConfig
	src := "type: accepted_values\ncolumn: status\nvalues: [open, 2]\nblocking: true\nwhere: amount > 0\n"
	if err := yaml.Unmarshal([]byte(src), &c); err != nil {
		t.Fatal(err)
	}
	spec := c.Spec()
	if spec.Name != "accepted_values_status" || !spec.Blocking || spec.Severity != "error" || spec.Runner != "duckdb" || spec.Description == "" {
		t.Errorf("spec = %+v", spec)
	}
	// The run store keeps metadata as JSON; the config must survive it.
	b, err := json.Marshal(spec.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	spec.Metadata = nil
	if err := json.Unmarshal(b, &spec.Metadata); err != nil {
		t.Fatal(err)
	}
	back, err := checkFromSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	if back.Column != "status" || back.Where != "amount > 0" || len(back.Values) != 2 || !back.Blocking {
		t.Errorf("rebuilt config = %+v", back)
	}
	warn := CheckConfig{Type: "row_count", Min: i64(1), Severity: "warn"}.Spec()
	if warn.Blocking || warn.Severity != "warn" {
		t.Errorf("warn spec = %+v", warn)
	}
}

func TestParseMaxAge(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"24h", 24 * time.Hour, false},
		{"90m", 90 * time.Minute, false},
		{"2d", 48 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false},
		{" 3d ", 72 * time.Hour, false},
		{"", 0, true},
		{"d", 0, true},
		{"0s", 0, true},
		{"-1h", 0, true},
		{"2days", 0, true},
		{"1.5d", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseMaxAge(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseMaxAge(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseMaxAge(f *testing.F) {
	for _, s := range []string{"24h", "2d", "1d12h", "d", "-3d", "99999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseMaxAge(s)
		if err == nil && d <= 0 {
			t.Fatalf("ParseMaxAge(%q) = %v without an error", s, d)
		}
	})
}
