package engine

import (
	"context"
	"fmt"
	"testing"

	"github.com/eltproject/elt/asset"
)

// BenchmarkPlanAndExecuteDbtSized plans and executes a dbt-sized family:
// 10,000 assets in one subsettable multi-asset step, each with up to five
// deps inside it, a runner that reports nothing (every asset counts as
// materialized) and an in-memory recorder: the engine's own overhead for
// one big `dbt build`.
func BenchmarkPlanAndExecuteDbtSized(b *testing.B) {
	const n = 10000
	specs := make([]asset.Spec, n)
	for i := range specs {
		specs[i] = asset.Spec{Key: asset.MustKey(fmt.Sprintf("m%d", i)), Step: "dbt:big"}
		for d := 1; d <= 5 && i-d*7 >= 0; d++ {
			specs[i].Deps = append(specs[i].Deps, specs[i-d*7].Key)
		}
	}
	g, err := asset.NewGraph(specs, asset.GraphOptions{})
	if err != nil {
		b.Fatal(err)
	}
	fams := map[string]*Family{"dbt:big": {Name: "dbt:big", Multi: true, Subset: true, Kind: "dbt", NoStepDir: true,
		Runner: RunnerFunc(func(ctx context.Context, req *Request, emit Emitter) error { return nil })}}
	dir := b.TempDir()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		plan, err := NewPlan(g, fams, g.AllSet())
		if err != nil {
			b.Fatal(err)
		}
		e := &Engine{Graph: g, Families: fams, Recorder: &memRecorder{}, Concurrency: 2, RunsDir: dir}
		res, err := e.Execute(context.Background(), plan, ExecOptions{RunID: fmt.Sprintf("r%d", i)})
		if err != nil || res.Status != StatusSucceeded {
			b.Fatalf("%v %v", err, res.Status)
		}
	}
}
