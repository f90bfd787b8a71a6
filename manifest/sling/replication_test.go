package sling

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/eltproject/elt/internal/testenv"
)

// fixturesDir walks up from the package folder to the shared fixtures.
func fixturesDir(t testing.TB) string {
	t.Helper()
	return testenv.Fixtures(t, "sling")
}

func noEnv(string) (string, bool) { return "", false }

func envOf(kv ...string) Lookup {
	return func(name string) (string, bool) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == name {
				return kv[i+1], true
			}
		}
		return "", false
	}
}

func TestEveryFixtureParsesAndValidates(t *testing.T) {
	dir := fixturesDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) < 10 {
		t.Fatalf("expected the sling fixtures, found %d files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := ReadFile(f, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Streams) == 0 {
				t.Fatal("no streams")
			}
			if errs := r.Validate(); len(errs) > 0 {
				t.Fatalf("validate: %v", errs)
			}
		})
	}
}

const small = `source: MY_PG
target: MY_DUCK
defaults:
  mode: incremental
  object: '{stream_schema}_{stream_table}'
  primary_key: [id]
  source_options:
    empty_as_null: true
  meta:
    dagster:
      group: raw
streams:
  public.accounts:
  public."Transactions":
    primary_key: txn_id
    update_key: updated_at
    source_options:
      range: '2024-01-01,2024-02-01'
    meta:
      dagster:
        description: money
  public.old:
    disabled: true
env:
  WHO: ${USER_NAME}
`

func TestDefaultsApplyAndReplace(t *testing.T) {
	r, err := Parse("r.yaml", []byte(small), envOf("USER_NAME", "ana"))
	if err != nil {
		t.Fatal(err)
	}
	acc, _ := r.Stream("public.accounts")
	if acc.Config.Mode != "incremental" || !reflect.DeepEqual(acc.Config.PrimaryKey, []string{"id"}) {
		t.Errorf("accounts did not inherit defaults: %+v", acc.Config)
	}
	tx, _ := r.Stream(`public."Transactions"`)
	if !reflect.DeepEqual(tx.Config.PrimaryKey, []string{"txn_id"}) {
		t.Errorf("primary_key should replace the default, got %v", tx.Config.PrimaryKey)
	}
	if _, ok := tx.Config.SourceOptions["empty_as_null"]; ok {
		t.Errorf("source_options must replace, not merge: %v", tx.Config.SourceOptions)
	}
	if tx.Config.Range() != "2024-01-01,2024-02-01" {
		t.Errorf("range = %q", tx.Config.Range())
	}
	d := tx.Config.MetaSection("dagster")
	if d["group"] != "raw" || d["description"] != "money" {
		t.Errorf("meta.dagster should merge key by key with defaults, got %v", d)
	}
	if tx.Ref.Schema != "public" || tx.Ref.Table != "Transactions" {
		t.Errorf("quoted name parsed as %+v", tx.Ref)
	}
	old, _ := r.Stream("public.old")
	if old.Enabled() {
		t.Error("disabled stream reported enabled")
	}
	if v, _ := r.EnvValue("WHO"); v != "ana" {
		t.Errorf("env WHO = %q", v)
	}
	if tx.Config.Line("update_key") != 16 {
		t.Errorf("update_key line = %d", tx.Config.Line("update_key"))
	}
}

func TestValidateNamesWhatIsMissing(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"incremental without keys", "source: a\ntarget: b\nstreams:\n  s.t:\n    mode: incremental\n", "r.yaml:5: stream s.t: mode incremental needs update_key and/or primary_key"},
		{"backfill without range", "source: a\ntarget: b\nstreams:\n  s.t:\n    mode: backfill\n    primary_key: id\n    update_key: ts\n", `r.yaml:5: stream s.t: mode backfill needs source_options.range: "start,end"`},
		{"backfill without pk", "source: a\ntarget: b\ndefaults:\n  mode: backfill\nstreams:\n  s.t:\n    update_key: ts\n    source_options: {range: '1,2'}\n", "r.yaml:4: stream s.t: mode backfill needs primary_key"},
		{"bad range", "source: a\ntarget: b\nstreams:\n  s.t:\n    mode: backfill\n    primary_key: id\n    update_key: ts\n    source_options:\n      range: '2024'\n", `r.yaml:8: stream s.t: source_options.range must be "start,end"`},
		{"unknown mode", "source: a\ntarget: b\nstreams:\n  s.t:\n    mode: merge\n", `r.yaml:5: stream s.t: unknown mode "merge"`},
		{"no source", "target: b\nstreams:\n  s.t:\n", "source is missing"},
		{"no streams", "source: a\ntarget: b\n", "no streams"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse("r.yaml", []byte(tt.yaml), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			errs := r.Validate()
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Error())
			}
			joined := strings.Join(msgs, "\n")
			if !strings.Contains(joined, tt.want) {
				t.Errorf("errors %q do not contain %q", joined, tt.want)
			}
		})
	}
}

func TestValidateSkipsTemplatedModeAndDisabled(t *testing.T) {
	y := "source: a\ntarget: b\ndefaults:\n  mode: '{MODE}'\nstreams:\n  s.t:\n  s.u:\n    mode: backfill\n    disabled: true\n"
	r, err := Parse("r.yaml", []byte(y), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if errs := r.Validate(); len(errs) > 0 {
		t.Errorf("unexpected errors: %v", errs)
	}
}

func TestParseErrorsCarryLines(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"source: a\nstreams: [x]\n", "r.yaml:2: streams must be a mapping"},
		{"source: a\nstreams:\n  s.t:\n    mode: [a]\n", "r.yaml:4: expected a single value"},
		{"source: a\nstreams:\n  s.t:\n    disabled: maybe\n", `r.yaml:4: disabled must be true or false, not "maybe"`},
		{"source: a\nstreams:\n  s.t:\n  s.t:\n", `r.yaml:4: stream "s.t" is listed twice (first at line 3)`},
		{"- a\n", "r.yaml:1: a replication is a mapping"},
		{"source: [\n", "r.yaml: yaml: line"},
	}
	for _, tt := range tests {
		_, err := Parse("r.yaml", []byte(tt.yaml), noEnv)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error = %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

func TestSubstitution(t *testing.T) {
	y := "source: ${SRC}\ntarget: $TGT\nstreams:\n  ${SCHEMA}.t:\n    sql: select $1, '$NOPE' from x\n    object: '{DAY}'\nenv:\n  SCHEMA: raw_$TGT\n  DAY: '2024'\n"
	r, err := Parse("r.yaml", []byte(y), envOf("SRC", "pg", "TGT", "duck", "SCHEMA", "ignored"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != "pg" || r.Target != "duck" {
		t.Errorf("source/target = %q/%q", r.Source, r.Target)
	}
	s := r.Streams[0]
	if s.Name != "raw_duck.t" {
		t.Errorf("env block should win and be expanded itself: stream name %q", s.Name)
	}
	if s.Config.SQL != "select $1, '$NOPE' from x" {
		t.Errorf("unknown references must stay: %q", s.Config.SQL)
	}
	if !slices.Contains(r.Unresolved, "NOPE") {
		t.Errorf("unresolved = %v", r.Unresolved)
	}
	obj, left := Render(s.Config.Object, r.Vars(&s), noEnv)
	if obj != "2024" || len(left) != 0 {
		t.Errorf("render {DAY} from env block = %q %v", obj, left)
	}
}

func TestStreamNamesAndTemplates(t *testing.T) {
	tests := []struct {
		stream, object, want string
		left                 []string
	}{
		{"public.users", "{stream_schema}_{stream_table}", "public_users", nil},
		{`public."Transactions"`, "main.{stream_table_lower}", "main.transactions", nil},
		{`"main"."date_dim"`, "{stream_schema_upper}.{stream_table}", "MAIN.date_dim", nil},
		{"public.my_table_*", "main.pg_{stream_table}", "main.pg_my_table_*", nil},
		{"file://./tests/files/parquet/*", "main.{stream_file_folder}_{stream_file_name}", "main.parquet__", nil},
		{"file://./tests/files/test1.json", "main.{stream_file_folder}_{stream_file_name}", "main.files_test1", nil},
		{"data/orders.csv.gz", "{stream_file_name}_{stream_file_ext}", "orders_csv_gz", nil},
		{"public.t", "test/{stream_name}/{YYYY}/{run_timestamp}", "test/public.t/{YYYY}/{run_timestamp}", []string{"YYYY", "run_timestamp"}},
		{"test1", "{stream_schema}{stream_table}", "test1", nil},
	}
	for _, tt := range tests {
		r := &Replication{Source: "S", Target: "T"}
		s := Stream{Name: tt.stream, Ref: ParseStreamName(tt.stream)}
		got, left := Render(tt.object, r.Vars(&s), noEnv)
		if got != tt.want || !reflect.DeepEqual(left, tt.left) {
			t.Errorf("%s with %s = %q %v, want %q %v", tt.stream, tt.object, got, left, tt.want, tt.left)
		}
	}
	if !ParseStreamName("public.my_table?").Wildcard || ParseStreamName(`public."what?"`).Wildcard {
		t.Error("wildcard detection wrong")
	}
}

func TestFixtureDetails(t *testing.T) {
	dir := fixturesDir(t)
	r, err := ReadFile(filepath.Join(dir, "sling-cli_r72_wildcard_disabled.yaml"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Streams) != 2 || !r.Streams[0].Ref.Wildcard || r.Streams[1].Enabled() {
		t.Errorf("r72 streams: %+v", r.Streams)
	}
	if r.Hooks["end"] == nil {
		t.Error("replication hooks.end not read")
	}
	r20, err := ReadFile(filepath.Join(dir, "sling-cli_r20_backfill_range_chunking.yaml"), envOf("MODE", "backfill"))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := r20.Stream("public.test1k_mariadb_pg")
	if s.Config.Mode != "{MODE}" || s.Config.Range() != "2018-11-01,2018-12-01" {
		t.Errorf("r20 mariadb stream: mode %q range %q", s.Config.Mode, s.Config.Range())
	}
	if s.Config.Hooks == nil {
		t.Error("defaults.hooks should apply to the stream")
	}
}

func BenchmarkParseLowVolume(b *testing.B) {
	dir := fixturesDir(b)
	data, err := os.ReadFile(filepath.Join(dir, "dagster-open-platform_low_volume_EXCERPT.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("x", data, noEnv); err != nil {
			b.Fatal(err)
		}
	}
}

// Bad files are refused with file:line and what to do.
func TestBadFilesNameFileAndLine(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "", "r.yaml:1: file is empty"},
		{"only a comment", "# nothing yet\n", "r.yaml:1: file is empty"},
		{"no target", "source: A\nstreams:\n  public.x:\n", "r.yaml:1: target is missing"},
		{"no source", "target: B\nstreams:\n  public.x:\n", "r.yaml:1: source is missing"},
		{"unset var in object", "source: A\ntarget: B\nstreams:\n  public.x:\n    object: raw.${NOPE_SCHEMA}_x\n", "r.yaml:5: stream public.x: object raw.${NOPE_SCHEMA}_x uses ${NOPE_SCHEMA}, which is not set"},
		{"unset bare var in default object", "source: A\ntarget: B\ndefaults:\n  object: $NOPE_SCHEMA.{stream_table}\nstreams:\n  public.x:\n", "r.yaml:4: stream public.x: object $NOPE_SCHEMA.{stream_table} uses ${NOPE_SCHEMA}"},
		{"unset var in stream name", "source: A\ntarget: B\nstreams:\n  ${NOPE_SCHEMA}.x:\n    object: raw.x\n", "r.yaml:4: stream ${NOPE_SCHEMA}.x uses ${NOPE_SCHEMA}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse("r.yaml", []byte(tt.yaml), func(string) (string, bool) { return "", false })
			var msg string
			if err != nil {
				msg = err.Error()
			} else {
				msg = errors.Join(r.Validate()...).Error()
			}
			if !strings.Contains(msg, tt.want) {
				t.Fatalf("got %q\nwant it to contain %q", msg, tt.want)
			}
		})
	}
	// A variable that is set, or a longer name that only starts like an
	// unset one, is fine.
	r, err := Parse("r.yaml", []byte("source: A\ntarget: B\nstreams:\n  public.x:\n    object: raw.${SCHEMA}_x\n  public.y:\n    object: raw.$NOPE_LONGER\n"), func(k string) (string, bool) {
		if k == "SCHEMA" || k == "NOPE_LONGER" {
			return "s", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	if errs := r.Validate(); len(errs) > 0 {
		t.Fatalf("unexpected problems: %v", errs)
	}
}
