package dbt

import (
	dbtmanifest "github.com/eltproject/elt/manifest/dbt"
)

// Why a dbt test is not imported as a check.
const (
	LeftOutSourceTest = "source test"     // a test on a source, without source_tests: true
	LeftOutEphemeral  = "ephemeral model" // ephemeral models are never built, so never checked
	LeftOutNoParent   = "no parent"       // it tests no model, seed, snapshot or source elt can tell
	LeftOutNotAsset   = "not an asset"    // it tests an analysis, an operation or another test
)

// LeftOut is a test that Translate does not import, and why (one of the
// LeftOut* reasons).
type LeftOut struct {
	UniqueID string
	Reason   string
}

// LeftOutTests lists the enabled tests of m that Translate with opts leaves
// out for a reason other than the project's own select/exclude, sorted by
// unique_id, so that `elt validate` can say what vanished and why.
func LeftOutTests(m *dbtmanifest.Manifest, opts Options) []LeftOut {
	t := &translator{m: m, opts: opts, nodeIDs: m.SortedNodeIDs()}
	var out []LeftOut
	for _, id := range t.nodeIDs {
		n := m.Nodes[id]
		if n.ResourceType != "test" || !n.Config.Enabled {
			continue
		}
		target := t.testTarget(n)
		reason := ""
		if target == "" {
			reason = LeftOutNoParent
		} else if _, ok := m.Sources[target]; ok {
			if !opts.SourceTests {
				reason = LeftOutSourceTest
			}
		} else if up, ok := m.Nodes[target]; !ok {
			reason = LeftOutNoParent
		} else if up.ResourceType == "model" && up.Config.Materialized == "ephemeral" {
			reason = LeftOutEphemeral
		} else if !isAssetNode(up) {
			reason = LeftOutNotAsset
		}
		if reason != "" {
			out = append(out, LeftOut{UniqueID: id, Reason: reason})
		}
	}
	return out
}
