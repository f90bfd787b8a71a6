package dbt

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/internal/testenv"
	dbtmanifest "github.com/eltproject/elt/manifest/dbt"
)

func TestLoadMissingManifest(t *testing.T) {
	proj := project(t)
	_, _, err := Load(context.Background(), Config{ProjectDir: proj}, "/", nil)
	if err == nil || !strings.Contains(err.Error(), "dbt parse") || !strings.Contains(err.Error(), "elt sync --prepare") {
		t.Errorf("err = %v", err)
	}
	if _, _, err := Load(context.Background(), Config{}, "/", nil); err == nil {
		t.Errorf("an invalid config must fail")
	}
}

// TestLoadAndRun loads the recorded jaffle_shop manifest through the
// manifest reader and translator, then runs its models with the dbt test
// double replaying a recorded `dbt run`.
func TestLoadAndRun(t *testing.T) {
	manifest := filepath.Join(testenv.Fixtures(t, "dbt"), "jaffle_shop_classic_v9", "manifest.json")
	stream := recorded(t, "openlineage_pg_run_success.jsonl")
	f := newFake(t, map[string]fakeScript{"": {Replay: stream}})
	cfg := Config{ProjectDir: project(t), Manifest: manifest, Command: "run", Executable: f.exe,
		Retries: 2, Timeout: time.Hour, Pool: "warehouse"}
	specs, fams, err := Load(context.Background(), cfg, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 1 {
		t.Fatalf("want one family, got %d", len(fams))
	}
	fam := fams[0]
	if fam.Name != "dbt:jaffle_shop" || !fam.Multi || !fam.Subset || fam.Kind != "dbt" || fam.Runner == nil ||
		fam.Retry.MaxRetries != 2 || fam.Timeout != time.Hour || !slices.Equal(fam.Pools, []string{"warehouse"}) {
		t.Errorf("family: %+v", fam)
	}
	var models []asset.Spec
	for _, s := range specs {
		if s.External {
			continue
		}
		if s.Step != fam.Name {
			t.Errorf("%s: step %q, want %q", s.Key, s.Step, fam.Name)
		}
		if metaString(s.Metadata, MetaUniqueID) == "" {
			t.Errorf("%s has no unique_id", s.Key)
		}
		for _, c := range s.Checks {
			if metaString(c.Metadata, MetaUniqueID) == "" || len(flatFQN(c.Metadata)) == 0 {
				t.Errorf("check %s of %s lacks unique_id or fqn: %v", c.Name, s.Key, c.Metadata)
			}
		}
		if resourceType(s.Metadata, metaString(s.Metadata, MetaUniqueID)) == "model" {
			models = append(models, s)
		}
	}
	if len(models) != 5 {
		t.Fatalf("want the 5 jaffle_shop models, got %d", len(models))
	}
	req, _ := request(t, models)
	var evs events
	if err := fam.Runner.Run(context.Background(), req, evs.emit); err != nil {
		t.Fatal(err)
	}
	if n := len(evs.of(engine.AssetMaterialized)); n != 5 {
		t.Errorf("want 5 materializations, got %d: %+v", n, evs.evs)
	}
	argv := f.calls(t)[0].Argv
	if !strings.Contains(argv[2], "fqn:jaffle_shop.staging.stg_orders") {
		t.Errorf("argv = %q", argv)
	}
}

// TestSelectionIsExact loads each recorded manifest, plans a build of all
// its assets and of every third one, and checks, with a model of dbt's fqn
// selector method, that the selection reaches exactly the requested models,
// seeds, snapshots and check tests and no other runnable node.
func TestSelectionIsExact(t *testing.T) {
	manifests, _ := filepath.Glob(filepath.Join(testenv.Fixtures(t, "dbt"), "*", "manifest.json"))
	if len(manifests) == 0 {
		t.Fatal("no manifests in shared/fixtures/dbt")
	}
	for _, path := range manifests {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) {
			specs, fams, err := Load(context.Background(), Config{ProjectDir: t.TempDir(), Manifest: path}, "/", nil)
			if err != nil {
				t.Fatal(err)
			}
			m, err := dbtmanifest.ReadManifest(path)
			if err != nil {
				t.Fatal(err)
			}
			r := fams[0].Runner.(*Runner)
			var runnable []asset.Spec
			for _, s := range specs {
				if !s.External {
					runnable = append(runnable, s)
				}
			}
			for _, every := range []int{1, 3} {
				var pick []asset.Spec
				for i, s := range runnable {
					if i%every == 0 {
						pick = append(pick, s)
					}
				}
				req, _ := request(t, pick)
				p, err := newPlan(req, CommandBuild, r.index)
				if err != nil {
					t.Fatal(err)
				}
				want := map[string]bool{}
				for uid := range p.assets {
					want[uid] = true
				}
				for uid := range p.checks {
					want[uid] = true
				}
				got := map[string]bool{}
				for id, n := range m.Nodes {
					switch n.ResourceType {
					case "model", "seed", "snapshot", "test":
					default:
						continue
					}
					if n.ResourceType == "model" && n.Config.Materialized == "ephemeral" {
						continue
					}
					if selects(p.selects, id, n.ResourceType, n.FQN) && !selects(p.exclude, id, n.ResourceType, n.FQN) {
						got[id] = true
					}
				}
				for id := range want {
					if !got[id] {
						t.Errorf("every %d: %s requested but not selected", every, id)
					}
				}
				for id := range got {
					if !want[id] {
						t.Errorf("every %d: %s selected but not requested", every, id)
					}
				}
				if len(want) == 0 {
					t.Errorf("every %d: nothing requested", every)
				}
			}
		})
	}
}

// selects reports whether any selector reaches the node, following dbt's
// fqn method: a bare name matches the last fqn segment (for a versioned
// model the name, or name and version joined by "_"), otherwise the
// selector's parts must be a prefix of the flattened fqn.
func selects(sels []nodeSelector, uid, rtype string, fqn []string) bool {
	versioned := rtype == "model" && len(strings.Split(uid, ".")) > 3
	for _, s := range sels {
		if s.test && rtype != "test" {
			continue
		}
		if s.pkg != "" && (len(fqn) == 0 || fqn[0] != s.pkg) {
			continue
		}
		if fqnMatch(fqn, s.fqn, versioned) {
			return true
		}
	}
	return false
}

func fqnMatch(fqn []string, sel string, versioned bool) bool {
	if len(fqn) == 0 {
		return false
	}
	parts := strings.Split(sel, ".")
	if versioned && len(fqn) >= 2 {
		if fqn[len(fqn)-2] == sel {
			return true
		}
		if strings.Join(fqn[len(fqn)-2:], "_") == strings.Join(parts[max(0, len(parts)-2):], "_") {
			return true
		}
	} else if fqn[len(fqn)-1] == sel {
		return true
	}
	var flat []string
	for _, seg := range fqn {
		flat = append(flat, strings.Split(seg, ".")...)
	}
	if len(flat) < len(parts) {
		return false
	}
	for i, p := range parts {
		if flat[i] != p {
			return false
		}
	}
	return true
}

func TestTooOld(t *testing.T) {
	for v, want := range map[string]bool{"1.0.3": true, "1.4.9": true, "0.21.0": true, "1.5.0": false, "1.10.18": false, "2.0.0": false, "": false, "unknown": false} {
		if got := tooOld(v) != ""; got != want {
			t.Errorf("tooOld(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestLoadManifestV20Version: the schema version dbt Fusion writes (v20) is
// accepted. It covers the version check only, not Fusion's own layout: no
// Fusion manifest is public in the fixtures, so
// testdata/recorded/manifest_v20.json is the recorded v12 manifest with its
// version relabelled by testdata/record.sh; it must load into the same specs.
func TestLoadManifestV20Version(t *testing.T) {
	v12 := recordedSpecs(t, "testdata/recorded/manifest_v12.json")
	v20 := recordedSpecs(t, "testdata/recorded/manifest_v20.json")
	if len(v12) < 8 {
		t.Fatalf("the recorded manifest gave %d specs", len(v12))
	}
	a, _ := json.Marshal(v12)
	b, _ := json.Marshal(v20)
	if !bytes.Equal(a, b) {
		t.Errorf("the v20 manifest loads differently from the v12 one:\n%s\n%s", a, b)
	}
}

// TestStepNamedAfterRootProject: without metadata.project_name (manifests
// v4–v9) the step is named after dbt_project.yml's project, not after the
// package of the first model, here the elt_helpers dependency.
func TestStepNamedAfterRootProject(t *testing.T) {
	b, err := os.ReadFile("testdata/recorded/manifest_v12.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m["metadata"].(map[string]any), "project_name")
	b, _ = json.Marshal(m)
	path := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	parsed, err := dbtmanifest.ReadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.ProjectName != "elt_helpers" || !parsed.ProjectNameGuessed {
		t.Fatalf("the test needs a dependency's model first: %q", parsed.ProjectName)
	}
	_, fams, err := Load(context.Background(), Config{ProjectDir: abs(t, "testdata/real_project"), Manifest: path}, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fams[0].Name != "dbt:elt_real" {
		t.Errorf("step family %s, want dbt:elt_real", fams[0].Name)
	}
}
