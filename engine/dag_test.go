package engine

import (
	"sync"
	"testing"
	"time"
)

func TestRunDAG(t *testing.T) {
	tests := []struct {
		name  string
		nodes []string
		deps  map[string][]string
	}{
		{"empty", nil, nil},
		{"single", []string{"a"}, nil},
		{"chain", []string{"a", "b", "c"}, map[string][]string{"b": {"a"}, "c": {"b"}}},
		{"diamond", []string{"a", "b", "c", "d"}, map[string][]string{"b": {"a"}, "c": {"a"}, "d": {"b", "c"}}},
		{"two roots", []string{"x", "y", "z"}, map[string][]string{"z": {"x", "y"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			done := map[string]bool{}
			RunDAG(tt.nodes, tt.deps, func(n string) {
				mu.Lock()
				defer mu.Unlock()
				if done[n] {
					t.Errorf("%s ran twice", n)
				}
				for _, d := range tt.deps[n] {
					if !done[d] {
						t.Errorf("%s ran before its dep %s finished", n, d)
					}
				}
				done[n] = true
			})
			if len(done) != len(tt.nodes) {
				t.Errorf("ran %v, want all of %v", done, tt.nodes)
			}
		})
	}
}

// TestRunDAGConcurrent: nodes ready together run at the same time (each
// waits for the other; a serial executor would deadlock until timeout).
func TestRunDAGConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	wg.Add(2)
	both := make(chan struct{})
	go func() { wg.Wait(); close(both) }()
	timedOut := false
	var mu sync.Mutex
	RunDAG([]string{"root", "b", "c"}, map[string][]string{"b": {"root"}, "c": {"root"}}, func(n string) {
		if n == "root" {
			return
		}
		wg.Done()
		select {
		case <-both:
		case <-time.After(5 * time.Second):
			mu.Lock()
			timedOut = true
			mu.Unlock()
		}
	})
	if timedOut {
		t.Error("b and c did not run concurrently")
	}
}
