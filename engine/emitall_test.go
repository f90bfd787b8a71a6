package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// countingBatchRecorder counts single and batch writes.
type countingBatchRecorder struct {
	memRecorder
	mu      sync.Mutex
	singles int
	batches int
}

func (b *countingBatchRecorder) Record(ctx context.Context, ev Event) error {
	b.mu.Lock()
	b.singles++
	b.mu.Unlock()
	return b.memRecorder.Record(ctx, ev)
}

func (b *countingBatchRecorder) RecordAll(ctx context.Context, evs []Event) error {
	b.mu.Lock()
	b.batches++
	b.mu.Unlock()
	for _, ev := range evs {
		_ = b.memRecorder.Record(ctx, ev)
	}
	return nil
}

// TestEmitAllRecordsInOneBatch: a runner replaying 100,000 events (an
// events file) costs one store commit, not 100,000 (which made Ctrl-C
// wait 10-17 s); each event is still stamped, filtered and applied.
func TestEmitAllRecordsInOneBatch(t *testing.T) {
	const n = 100_000
	var f fixture
	f.add("a", func(ctx context.Context, req *Request, emit Emitter) error {
		evs := make([]Event, 0, n+2)
		for i := range n {
			evs = append(evs, LogLine(fmt.Sprintf("line %d", i)))
		}
		evs = append(evs, Materialized(k("a"), map[string]any{"rows": 3}), Materialized(k("other"), nil))
		req.EmitAll(emit, evs)
		return nil
	})
	e, _ := f.engine(t)
	rec := &countingBatchRecorder{}
	e.Recorder = rec
	res := f.run(t, e, ExecOptions{})
	if res.Status != StatusSucceeded {
		t.Fatalf("status %s: %v", res.Status, res.Err)
	}
	if rec.singles > 10 || rec.batches > 3 {
		t.Errorf("%d single writes and %d batches: want the replay in one batch", rec.singles, rec.batches)
	}
	logs := rec.of(Log)
	if len(logs) != n+1 || logs[n].Message != "ignored a asset_materialized event for other, which this step attempt does not materialize" || logs[0].StepID != "a" || logs[0].RunID != "r1" || logs[n-1].Message != fmt.Sprintf("line %d", n-1) {
		t.Fatalf("%d logs, first %+v", len(logs), logs[0])
	}
	if m := rec.of(AssetMaterialized); len(m) != 1 || m[0].Metadata["rows"] != 3 {
		t.Errorf("materializations %+v: want a's only (other is not this step's)", m)
	}
}
