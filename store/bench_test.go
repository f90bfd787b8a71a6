package store

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// BenchmarkRecord measures a durable Record; ns/op is ns per event.
// "serial" is one caller waiting for each commit; "parallel" is GOMAXPROCS
// callers sharing group commits; "steps-c2" replays the engine's pattern for
// trivial steps at concurrency 2 (started, log, materialized, succeeded).
func BenchmarkRecord(b *testing.B) {
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		s := openTest(b)
		mustCreateRun(b, s, Run{ID: "bench"})
		ev := engine.Event{Type: engine.Log, RunID: "bench", StepID: "s", Message: "a line of output"}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if err := s.Record(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/float64(s.commits.Load()), "events/commit")
	})
	b.Run("parallel", func(b *testing.B) {
		s := openTest(b)
		mustCreateRun(b, s, Run{ID: "bench"})
		ev := engine.Event{Type: engine.Log, RunID: "bench", StepID: "s", Message: "a line of output"}
		b.ReportAllocs()
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.Record(ctx, ev); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		b.ReportMetric(float64(b.N)/float64(s.commits.Load()), "events/commit")
	})
	b.Run("steps-c2", func(b *testing.B) {
		s := openTest(b)
		const run = "bench"
		mustCreateRun(b, s, Run{ID: run})
		b.ReportAllocs()
		b.ResetTimer()
		var (
			wg   sync.WaitGroup
			next = make(chan int)
		)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					step := "step" + strconv.Itoa(i)
					k := asset.MustKey("bench", step)
					for _, ev := range []engine.Event{
						{Type: engine.StepStarted, RunID: run, StepID: step, Attempt: 1, Metadata: map[string]any{"log_path": "runs/bench/" + step + ".1.log"}},
						{Type: engine.Log, RunID: run, StepID: step, Message: "ok"},
						{Type: engine.AssetMaterialized, RunID: run, StepID: step, Asset: k, Metadata: map[string]any{"duration_s": 0.001}},
						{Type: engine.StepSucceeded, RunID: run, StepID: step, Attempt: 1},
					} {
						if err := s.Record(ctx, ev); err != nil {
							b.Error(err)
							return
						}
					}
				}
			}()
		}
		for i := range b.N {
			next <- i
		}
		close(next)
		wg.Wait()
		b.StopTimer()
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(4*b.N), "ns/event")
	})
}
