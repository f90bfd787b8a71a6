package project

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/store"
)

// TestSyncAfterUpgrade: a snapshot written before tags, group, owners and
// description were compared reports no change for unchanged assets, and
// still reports a code change.
func TestSyncAfterUpgrade(t *testing.T) {
	p, err := load(t, "name: up\nassets:\n  - {key: a, command: echo a, tags: [x], group: g, description: D}\n  - {key: b, command: echo b, tags: [y]}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "elt.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var old []store.SnapshotAsset
	for _, s := range p.Graph.Specs() {
		b := bodyOf(s).v1()
		if s.Key.String() == "b" {
			b.Code = "an older command"
		}
		raw, _ := json.Marshal(b)
		old = append(old, store.SnapshotAsset{Key: s.Key, Fingerprint: fingerprint(b), Spec: raw})
	}
	if _, err := st.SaveSnapshot(ctx, old); err != nil {
		t.Fatal(err)
	}
	res, err := p.Sync(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 1 || res.Changes[0].Key != asset.MustKey("b") || len(res.Changes[0].What) != 1 || res.Changes[0].What[0] != "code" {
		t.Errorf("after the upgrade: %+v", res.Changes)
	}
	res, err = p.Sync(ctx, st)
	if err != nil || len(res.Changes) != 0 {
		t.Errorf("second sync: %v %+v", err, res.Changes)
	}
}
