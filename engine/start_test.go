package engine

import (
	"context"
	"sync"
	"testing"
	"time"
)

// batchRecorder records each commit: one event (Record) or several
// (RecordAll).
type batchRecorder struct {
	mu      sync.Mutex
	commits [][]Event
}

func (b *batchRecorder) Record(_ context.Context, ev Event) error {
	b.mu.Lock()
	b.commits = append(b.commits, []Event{ev})
	b.mu.Unlock()
	return nil
}

func (b *batchRecorder) RecordAll(_ context.Context, evs []Event) error {
	b.mu.Lock()
	b.commits = append(b.commits, append([]Event(nil), evs...))
	b.mu.Unlock()
	return nil
}

// commitOf returns the index of the commit holding step's event of type t.
func (b *batchRecorder) commitOf(step string, t EventType) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, c := range b.commits {
		for _, ev := range c {
			if ev.StepID == step && ev.Type == t {
				return i
			}
		}
	}
	return -1
}

func TestStepStartFoldedIntoEndCommit(t *testing.T) {
	var f fixture
	f.add("quick", ok)
	slowRunning := make(chan struct{})
	slowRelease := make(chan struct{})
	f.add("slow", func(ctx context.Context, req *Request, emit Emitter) error {
		close(slowRunning)
		<-slowRelease
		return nil
	})
	f.add("talks", func(ctx context.Context, req *Request, emit Emitter) error {
		emit(LogLine("hello"))
		return nil
	})
	e, _ := f.engine(t)
	rec := &batchRecorder{}
	e.Recorder = rec
	var mu sync.Mutex
	var shown []Event
	e.Observe = func(ev Event) {
		mu.Lock()
		shown = append(shown, ev)
		mu.Unlock()
	}
	done := make(chan *Result)
	go func() { done <- f.run(t, e, ExecOptions{}) }()
	<-slowRunning
	// A step running longer than startDelay is recorded, then shown, as
	// started while it runs.
	deadline := time.Now().Add(3 * time.Second)
	for rec.commitOf("slow", StepStarted) < 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow step's start was never recorded while it ran")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(slowRelease)
	if res := <-done; res.Status != StatusSucceeded {
		t.Fatalf("status %s", res.Status)
	}
	if s, e := rec.commitOf("slow", StepStarted), rec.commitOf("slow", StepSucceeded); s >= e {
		t.Errorf("slow step: start in commit %d, end in %d", s, e)
	}
	// A quick silent step: start, materialization and end in one commit,
	// in that order.
	q := rec.commitOf("quick", StepStarted)
	if q < 0 || q != rec.commitOf("quick", StepSucceeded) {
		t.Errorf("quick step: start in commit %d, end in %d; want one commit", q, rec.commitOf("quick", StepSucceeded))
	} else {
		var types []EventType
		for _, ev := range rec.commits[q] {
			types = append(types, ev.Type)
		}
		if len(types) != 3 || types[0] != StepStarted || types[1] != AssetMaterialized || types[2] != StepSucceeded {
			t.Errorf("quick step's commit: %v", types)
		}
	}
	// A step that says something has its start recorded first.
	if s, l := rec.commitOf("talks", StepStarted), rec.commitOf("talks", Log); s < 0 || s >= l {
		t.Errorf("talking step: start in commit %d, its log in %d", s, l)
	}
	// Shown in the order recorded, each step's start before its end.
	seen := map[string]bool{}
	for _, ev := range shown {
		switch ev.Type {
		case StepStarted:
			seen[ev.StepID] = true
		case StepSucceeded, Log:
			if !seen[ev.StepID] {
				t.Errorf("%s of %s shown before its start", ev.Type, ev.StepID)
			}
		}
	}
}
