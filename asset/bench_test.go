package asset

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// syntheticSpecs builds n assets in layers of 100 with about
// edgesPerAsset deps each on earlier layers, tagged in a repeating
// pattern: the shape of a large dbt project.
func syntheticSpecs(n, edgesPerAsset int) []Spec {
	r := rand.New(rand.NewPCG(1, 2))
	specs := make([]Spec, n)
	const layer = 100
	for i := range specs {
		specs[i] = Spec{Key: MustKey("layer"+fmt.Sprint(i/layer), fmt.Sprintf("model_%d", i)), Step: "dbt:big", Group: fmt.Sprintf("g%d", i%20)}
		if i%7 == 0 {
			specs[i].Tags = []string{"nightly"}
		}
		if i%11 == 0 {
			specs[i].Tags = append(specs[i].Tags, "finance")
		}
		if i < layer {
			continue
		}
		for e := 0; e < edgesPerAsset; e++ {
			// Mostly the previous layers, sometimes far back.
			lo := max(0, (i/layer-3)*layer)
			if r.IntN(5) == 0 {
				lo = 0
			}
			j := lo + r.IntN(i/layer*layer-lo)
			specs[i].Deps = append(specs[i].Deps, specs[j].Key)
		}
	}
	return specs
}

func BenchmarkGraphBuild10k(b *testing.B) {
	specs := syntheticSpecs(10000, 5)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewGraph(specs, GraphOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSelect10k(b *testing.B) {
	specs := syntheticSpecs(10000, 5)
	g, err := NewGraph(specs, GraphOptions{})
	if err != nil {
		b.Fatal(err)
	}
	edges := 0
	for _, s := range g.Specs() {
		edges += len(g.DirectDeps(s.Key))
	}
	b.Logf("graph: %d assets, %d edges", g.Len(), edges)
	sel := &Selector{Graph: g}
	for _, expr := range []string{"+layer50/model_5000+", "tag:nightly", "tag:nightly,group:g3 tag:finance", "@layer20/model_2000", "layer9*/**"} {
		b.Run(expr, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sel.Select([]string{expr}, []string{"tag:finance,group:g1"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBuildAndSelect10k is the figure the foundation issue asks for:
// graph build plus one selection.
func BenchmarkBuildAndSelect10k(b *testing.B) {
	specs := syntheticSpecs(10000, 5)
	b.ReportAllocs()
	for b.Loop() {
		g, err := NewGraph(specs, GraphOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := (&Selector{Graph: g}).Select([]string{"+layer50/model_5000+ tag:nightly,tag:finance"}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
