package sling

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

func TestConfigYAMLAndValidate(t *testing.T) {
	var c Config
	y := "replication: sling/main.yaml\nname: main\nconnections: {MY_PG: warehouse}\nkey_prefix: raw/pg\nexpand_wildcards: true\nexecutable: /opt/sling\nretries: 2\ntimeout: 30m\npool: pg\ngroup: raw\n"
	if err := yaml.Unmarshal([]byte(y), &c); err != nil {
		t.Fatal(err)
	}
	if c.FamilyName() != "sling:main" || !slices.Equal(c.KeyPrefix, []string{"raw", "pg"}) || c.executable("/p") != "/opt/sling" || (&Config{Executable: "bin/sling"}).executable("/p") != "/p/bin/sling" || (&Config{}).executable("/p") != "sling" || !c.ExpandWildcards {
		t.Errorf("decoded %+v", c)
	}
	if errs := c.Validate(); len(errs) != 0 {
		t.Errorf("valid config: %v", errs)
	}
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "replication is required"},
		{Config{Replication: "r.yaml", Retries: -1}, "retries must be 0 or more"},
		{Config{Replication: "r.yaml", Timeout: "soon"}, `timeout "soon" is not a positive duration`},
		{Config{Replication: "r.yaml", Connections: map[string]string{"PG": ""}}, "connections maps a connection name to a resource name"},
		{Config{Replication: "r.yaml", KeyPrefix: KeyPrefix{"a", ""}}, "key_prefix has an empty part"},
	}
	for _, tt := range tests {
		errs := tt.cfg.Validate()
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.cfg, errs, tt.want)
		}
	}
	var list Config
	if err := yaml.Unmarshal([]byte("key_prefix: [a, b]\n"), &list); err != nil || !slices.Equal(list.KeyPrefix, []string{"a", "b"}) {
		t.Errorf("list key_prefix = %v, %v", list.KeyPrefix, err)
	}
}

func TestLoadFamilyAndSpecs(t *testing.T) {
	p := newProject(t, threeStreams, Config{Name: "main", Retries: 2, Timeout: "10m", Pool: "pg", Group: "raw", KeyPrefix: KeyPrefix{"lake"}})
	f := p.fam
	if f.Name != "sling:main" || !f.Multi || !f.Subset || f.Kind != "sling" || f.Retry.MaxRetries != 2 || f.Timeout != 10*time.Minute || !slices.Equal(f.Pools, []string{"pg"}) {
		t.Errorf("family = %+v", f)
	}
	var own int
	for _, s := range p.specs {
		if s.External {
			continue
		}
		own++
		if s.Step != "sling:main" || s.Group != "raw" || s.Metadata["replication"] != "sling/main.yaml" || !strings.HasPrefix(s.Key.String(), "lake/target/") {
			t.Errorf("spec %s: step %q group %q md %v", s.Key, s.Step, s.Group, s.Metadata)
		}
	}
	if own != 3 {
		t.Errorf("%d stream specs, want 3", own)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("bad.yaml", "source: a\ntarget: b\nstreams:\n  s.t:\n    mode: incremental\n")
	write("ok.yaml", "source: a\ntarget: b\nstreams:\n  s.t:\n")
	// A file stream cannot load a time window (Sling ignores --range for
	// it), whichever way it got partitions; a DuckDB sql: stream can.
	write("file_meta.yaml", "source: LOCAL\ntarget: WH\nstreams:\n  file://sources/customers.csv:\n    object: raw.customers\n  file://sources/orders.csv:\n    object: raw.orders\n    mode: incremental\n    primary_key: [id]\n    update_key: updated_at\n    meta:\n      elt: {partitions: daily}\n")
	write("file_plain.yaml", "source: LOCAL\ntarget: WH\nstreams:\n  file://sources/orders.csv:\n    object: raw.orders\n")
	write("sql.yaml", "source: FILES\ntarget: WH\nstreams:\n  orders:\n    sql: select * from read_csv('sources/orders.csv') where {incremental_where_cond}\n    object: raw.orders\n    mode: incremental\n    primary_key: [id]\n    update_key: updated_at\n    meta:\n      elt: {partitions: daily}\n")
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Replication: "missing.yaml"}, "missing.yaml"},
		{Config{Replication: "bad.yaml"}, "bad.yaml:5: stream s.t: mode incremental needs update_key and/or primary_key"},
		{Config{Replication: "ok.yaml", Connections: map[string]string{"a": "nope"}}, `connection a maps to resource "nope", which elt.yaml does not define`},
		{Config{Replication: "file_meta.yaml"}, "file_meta.yaml:6: stream file://sources/orders.csv cannot load the time windows of partitions daily: Sling ignores --range for file streams"},
		{Config{Replication: "file_plain.yaml", Partitions: "daily"}, "file_plain.yaml:4: stream file://sources/orders.csv cannot load the time windows of partitions daily"},
		{Config{Replication: "file_plain.yaml", Streams: map[string]StreamSettings{"file://sources/orders.csv": {Partitions: "monthly"}}}, "file_plain.yaml:4: stream file://sources/orders.csv cannot load the time windows of partitions monthly"},
	}
	for _, tt := range tests {
		_, _, err := Load(context.Background(), tt.cfg, dir, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%s) error = %v, want %q", tt.cfg.Replication, err, tt.want)
		}
	}
	// The unpartitioned file stream of file_meta.yaml is not named.
	if _, _, err := Load(context.Background(), Config{Replication: "file_meta.yaml"}, dir, nil); err == nil || strings.Contains(err.Error(), "customers") {
		t.Errorf("file_meta.yaml error = %v; want only the partitioned stream", err)
	}
	for _, ok := range []Config{{Replication: "file_plain.yaml"}, {Replication: "sql.yaml"}} {
		specs, _, err := Load(context.Background(), ok, dir, nil)
		if err != nil {
			t.Errorf("Load(%s) = %v, want no error", ok.Replication, err)
		}
		if ok.Replication == "sql.yaml" && !slices.ContainsFunc(specs, func(s asset.Spec) bool { return !s.External && s.Partitions == "daily" }) {
			t.Errorf("sql.yaml specs = %+v; want the partitioned orders asset", specs)
		}
	}
}

func TestStreamSelection(t *testing.T) {
	p := newProject(t, threeStreams, Config{})
	all, err := StreamSelection(p.specs, p.replication, nil)
	if err != nil || len(all) != 3 {
		t.Fatalf("all = %v, %v", all, err)
	}
	one, err := StreamSelection(p.specs, p.replication, []string{`public."Transactions"`})
	if err != nil || len(one) != 1 || one[0].String() != "target/public/transactions" {
		t.Errorf("one = %v, %v", one, err)
	}
	_, err = StreamSelection(p.specs, p.replication, []string{"public.nope"})
	if err == nil || !strings.Contains(err.Error(), `has no stream public.nope; known streams: public."Transactions", public.accounts, public.users`) {
		t.Errorf("unknown stream error = %v", err)
	}
	if _, err := StreamSelection(p.specs, "other.yaml", nil); err == nil {
		t.Error("an unknown replication should be an error")
	}
}

func TestExpandWildcardsWithDiscover(t *testing.T) {
	exe, record := fakeSlingExe(t, "ok")
	y := "source: MY_SRC\ntarget: MY_DUCK\ndefaults:\n  object: public.{stream_table}\nstreams:\n  mysql.testing_*:\n  mysql.testing_3:\n    disabled: true\n"
	p := newProject(t, y, Config{Executable: exe, ExpandWildcards: true})
	var keys []string
	for _, s := range p.specs {
		if !s.External {
			keys = append(keys, s.Key.String()+"="+s.Metadata["stream"].(string))
		}
	}
	want := []string{"target/mysql/testing_1=mysql.testing_1", "target/mysql/testing_2=mysql.testing_2"}
	if !slices.Equal(keys, want) {
		t.Errorf("expanded = %v, want %v", keys, want)
	}
	rec := readRecord(t, record)
	if strings.Join(rec.Argv, " ") != "conns discover MY_SRC --pattern mysql.testing_*" || rec.Env["MY_SRC"] != secretURL {
		t.Errorf("discover call = %v env %v", rec.Argv, rec.Env)
	}
	sel, err := StreamSelection(p.specs, p.replication, []string{"mysql.testing_*"})
	if err != nil || len(sel) != 2 {
		t.Errorf("selecting the pattern = %v, %v", sel, err)
	}
}

func TestRunReplaysRealLog(t *testing.T) {
	dir := sharedLogs(t)
	exe, _ := fakeSlingExe(t, "replay")
	y := "source: MY_SRC\ntarget: MY_DUCK\nstreams:\n  mysql.orders:\n"
	p := newProject(t, y, Config{Executable: exe})
	req, log := p.request(t)
	req.Env = append(req.Env, fakeLog+"="+filepath.Join(dir, "sling-cli_issue94_single_stream_text_log_EXCERPT.log"))
	var ev events
	if err := p.fam.Runner.Run(context.Background(), req, ev.emit); err != nil {
		t.Fatal(err)
	}
	m := ev.byType(engine.AssetMaterialized)["target/mysql/orders"]
	if m.Metadata["rows"] != int64(653434) || m.Metadata["source"] != "log" {
		t.Errorf("replayed log metadata = %v", m.Metadata)
	}
	if !strings.Contains(log.String(), "execution succeeded") {
		t.Error("the step log should hold sling's output")
	}
}
