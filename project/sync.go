package project

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"go.yaml.in/yaml/v3"

	"github.com/eltproject/elt/asset"
	dbtint "github.com/eltproject/elt/integrations/dbt"
	"github.com/eltproject/elt/store"
)

// PrepareDBT refreshes every dbt project's manifest before loading:
// `dbt deps` when packages are missing, then `dbt parse`. It reads only the
// dbt: block, so it works while a manifest is missing or stale.
func PrepareDBT(ctx context.Context, path string, getenv func(string) (string, bool), out io.Writer) error {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	doc, err := readYAML(path)
	if err != nil {
		return err
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	probs := &problems{file: path}
	interpolate(root, getenv, probs)
	if len(probs.list) > 0 {
		return &Error{Problems: probs.list}
	}
	list := valueOf(root, "dbt")
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil
	}
	dir := filepath.Dir(path)
	for _, n := range list.Content {
		var cfg dbtint.Config
		if !decodeIntegration(n, &cfg, "dbt", probs) {
			continue
		}
		if err := dbtint.Prepare(ctx, cfg, dir, out); err != nil {
			return fmt.Errorf("dbt project %s: %w", cfg.ProjectDir, err)
		}
	}
	if len(probs.list) > 0 {
		return &Error{Problems: probs.list}
	}
	return nil
}

// AssetChange is one line of `elt sync`.
type AssetChange struct {
	Key    asset.Key `json:"key"`
	Change string    `json:"change"` // added, removed, changed
	// What lists what changed: code, deps, checks, partitions, kind, tags,
	// group, owners, description.
	What []string `json:"what,omitempty"`
}

// SyncResult is what `elt sync` reports.
type SyncResult struct {
	Assets   int           `json:"assets"`
	First    bool          `json:"first_sync"`
	Changes  []AssetChange `json:"changes"`
	Snapshot int64         `json:"snapshot"`
}

// snapshotBody is the part of a spec a snapshot compares.
type snapshotBody struct {
	Code       string   `json:"code,omitempty"`
	Deps       []string `json:"deps,omitempty"`
	Checks     []string `json:"checks,omitempty"`
	Partitions string   `json:"partitions,omitempty"`
	Kinds      []string `json:"kinds,omitempty"`
	External   bool     `json:"external,omitempty"`
	// Since V 2: what jobs select by (tags, group, owners) and a digest of
	// the description. Snapshots without V compare without them, so the
	// upgrade itself reports no change.
	Tags        []string `json:"tags,omitempty"`
	Group       string   `json:"group,omitempty"`
	Owners      []string `json:"owners,omitempty"`
	Description string   `json:"description,omitempty"`
	V           int      `json:"v,omitempty"`
}

// snapshotVersion is the V of snapshot bodies written now.
const snapshotVersion = 2

// v1 is b as snapshots before V 2 stored it.
func (b snapshotBody) v1() snapshotBody {
	b.Tags, b.Group, b.Owners, b.Description, b.V = nil, "", nil, "", 0
	return b
}

func bodyOf(s *asset.Spec) snapshotBody {
	b := snapshotBody{Code: s.CodeVersion, Partitions: s.Partitions, Kinds: s.Kinds, External: s.External,
		Tags: slices.Sorted(slices.Values(s.Tags)), Group: s.Group, Owners: slices.Sorted(slices.Values(s.Owners)), V: snapshotVersion}
	if s.Description != "" {
		sum := sha256.Sum256([]byte(s.Description))
		b.Description = hex.EncodeToString(sum[:8])
	}
	for _, d := range s.Deps {
		b.Deps = append(b.Deps, d.String())
	}
	for _, c := range s.Checks {
		b.Checks = append(b.Checks, fmt.Sprintf("%s:%v:%s", c.Name, c.Blocking, c.Severity))
	}
	sort.Strings(b.Deps)
	sort.Strings(b.Checks)
	return b
}

func fingerprint(b snapshotBody) string {
	raw, _ := json.Marshal(b)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:12])
}

// Sync stores a snapshot of the asset definitions and reports what changed
// since the previous snapshot: added, removed and changed assets (a changed
// SQL checksum, command, deps or checks).
func (p *Project) Sync(ctx context.Context, st store.Store) (*SyncResult, error) {
	prev, had, err := st.LatestSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	old := map[asset.Key]snapshotBody{}
	oldFP := map[asset.Key]string{}
	for _, a := range prev {
		var b snapshotBody
		_ = json.Unmarshal(a.Spec, &b)
		old[a.Key] = b
		oldFP[a.Key] = a.Fingerprint
	}
	res := &SyncResult{First: !had, Changes: []AssetChange{}}
	var snap []store.SnapshotAsset
	seen := map[asset.Key]bool{}
	for _, s := range p.Graph.Specs() {
		b := bodyOf(s)
		raw, _ := json.Marshal(b)
		fp := fingerprint(b)
		snap = append(snap, store.SnapshotAsset{Key: s.Key, Fingerprint: fp, Spec: raw})
		seen[s.Key] = true
		if !s.External {
			res.Assets++
		}
		if !had {
			continue
		}
		ofp, ok := oldFP[s.Key]
		if ok && old[s.Key].V < snapshotVersion {
			fp = fingerprint(b.v1())
		}
		switch {
		case !ok:
			res.Changes = append(res.Changes, AssetChange{Key: s.Key, Change: "added"})
		case ofp != fp:
			res.Changes = append(res.Changes, AssetChange{Key: s.Key, Change: "changed", What: diffBodies(old[s.Key], b)})
		}
	}
	if had {
		var removed []asset.Key
		for k := range oldFP {
			if !seen[k] {
				removed = append(removed, k)
			}
		}
		asset.SortKeys(removed)
		for _, k := range removed {
			res.Changes = append(res.Changes, AssetChange{Key: k, Change: "removed"})
		}
	}
	id, err := st.SaveSnapshot(ctx, snap)
	if err != nil {
		return nil, err
	}
	res.Snapshot = id
	return res, nil
}

func diffBodies(a, b snapshotBody) []string {
	var what []string
	if a.Code != b.Code {
		what = append(what, "code")
	}
	if fmt.Sprint(a.Deps) != fmt.Sprint(b.Deps) {
		what = append(what, "deps")
	}
	if fmt.Sprint(a.Checks) != fmt.Sprint(b.Checks) {
		what = append(what, "checks")
	}
	if a.Partitions != b.Partitions {
		what = append(what, "partitions")
	}
	if fmt.Sprint(a.Kinds) != fmt.Sprint(b.Kinds) || a.External != b.External {
		what = append(what, "kind")
	}
	if a.V < snapshotVersion {
		return what
	}
	if fmt.Sprint(a.Tags) != fmt.Sprint(b.Tags) {
		what = append(what, "tags")
	}
	if a.Group != b.Group {
		what = append(what, "group")
	}
	if fmt.Sprint(a.Owners) != fmt.Sprint(b.Owners) {
		what = append(what, "owners")
	}
	if a.Description != b.Description {
		what = append(what, "description")
	}
	return what
}
