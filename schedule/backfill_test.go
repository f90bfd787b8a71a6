package schedule

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eltproject/elt/engine"
)

func TestPlanBackfill(t *testing.T) {
	ctx := context.Background()
	daily := mustDef(t, PartitionsConfig{Type: "daily", Start: "2024-01-01"})
	static := mustDef(t, PartitionsConfig{Type: "static", Keys: []string{"eu", "us", "apac"}})
	now := time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	status := map[string]string{"2024-02-28": StatusMaterialized, "2024-03-01": StatusFailed}
	tests := []struct {
		name     string
		def      Definition
		opts     BackfillOptions
		wantKeys []string
		wantRuns int
		wantErr  string
	}{
		{"range", daily, BackfillOptions{From: "2024-02-27", To: "2024-03-01"}, []string{"2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01"}, 4, ""},
		{"missing only keeps failed", daily, BackfillOptions{From: "2024-02-27", To: "2024-03-01", MissingOnly: true, Status: status}, []string{"2024-02-27", "2024-02-29", "2024-03-01"}, 3, ""},
		{"single run splits at gaps", daily, BackfillOptions{From: "2024-02-27", To: "2024-03-01", MissingOnly: true, Status: status, Policy: PolicySingleRun}, []string{"2024-02-27", "2024-02-29", "2024-03-01"}, 2, ""},
		{"single run whole range", daily, BackfillOptions{From: "2024-02-27", To: "2024-03-01", Policy: PolicySingleRun}, []string{"2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01"}, 1, ""},
		{"explicit keys cut to range", daily, BackfillOptions{From: "2024-02-01", Keys: []string{"2024-03-02", "2024-01-05", "2024-02-10", "2024-02-10"}}, []string{"2024-02-10", "2024-03-02"}, 2, ""},
		{"from to newest", daily, BackfillOptions{From: "2024-03-02"}, []string{"2024-03-02", "2024-03-03", "2024-03-04"}, 3, ""},
		{"static", static, BackfillOptions{From: "us", To: "apac", Policy: PolicySingleRun}, []string{"us", "apac"}, 1, ""},
		{"window in progress", daily, BackfillOptions{From: "2024-03-01", To: "2024-03-05"}, nil, 0, "does not exist yet (newest: 2024-03-04)"},
		{"malformed key", daily, BackfillOptions{From: "2024-02-30"}, nil, 0, "--from"},
		{"backwards", daily, BackfillOptions{From: "2024-03-01", To: "2024-02-01"}, nil, 0, "backwards"},
		{"no range", daily, BackfillOptions{}, nil, 0, "needs --from"},
		{"bad policy", daily, BackfillOptions{From: "2024-03-01", Policy: "all-at-once"}, nil, 0, "policy"},
		{"unknown static", static, BackfillOptions{Keys: []string{"mars"}}, nil, 0, "no key \"mars\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Now = now
			plan, err := PlanBackfill(ctx, tt.def, tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(plan.Keys, tt.wantKeys) || len(plan.Runs) != tt.wantRuns {
				t.Errorf("plan keys %v runs %v; want %v in %d runs", plan.Keys, plan.Runs, tt.wantKeys, tt.wantRuns)
			}
		})
	}
}

// recordingLauncher is a Launcher test double: it records requests, fails
// the keys in fail, and tracks concurrency.
type recordingLauncher struct {
	mu        sync.Mutex
	reqs      []RunRequest
	fail      map[string]bool
	running   atomic.Int32
	maxSeen   atomic.Int32
	onLaunch  func(ctx context.Context, req RunRequest) error
	idCounter atomic.Int32
}

func (l *recordingLauncher) launch(ctx context.Context, req RunRequest) (string, error) {
	n := l.running.Add(1)
	defer l.running.Add(-1)
	for {
		m := l.maxSeen.Load()
		if n <= m || l.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	l.mu.Lock()
	l.reqs = append(l.reqs, req)
	l.mu.Unlock()
	id := fmt.Sprintf("run-%d", l.idCounter.Add(1))
	if l.onLaunch != nil {
		if err := l.onLaunch(ctx, req); err != nil {
			return id, err
		}
	} else {
		time.Sleep(time.Millisecond) // let runs overlap
	}
	if l.fail[req.PartitionKey] {
		return id, errors.New("step failed")
	}
	return id, nil
}

func (l *recordingLauncher) keys() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.reqs {
		if r.PartitionKeys != nil {
			out = append(out, strings.Join(r.PartitionKeys, "+"))
		} else {
			out = append(out, r.PartitionKey)
		}
	}
	slices.Sort(out)
	return out
}

func TestBackfillExecute(t *testing.T) {
	ctx := context.Background()
	def := mustDef(t, PartitionsConfig{Type: "daily", Start: "2024-01-01"})
	plan, err := PlanBackfill(ctx, def, BackfillOptions{From: "2024-01-01", To: "2024-01-08", Now: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	ms := newMemStore()
	l := &recordingLauncher{fail: map[string]bool{"2024-01-03": true}}
	b := &Backfiller{Store: ms, Launch: l.launch, Def: def, MaxConcurrent: 3}
	job := BackfillJob{ID: "bf1", Job: "daily", Policy: plan.Policy, Partitions: plan.Keys}
	res, err := b.Execute(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != BackfillFailed || res.Succeeded != 7 || res.Failed != 1 {
		t.Errorf("result = %+v", res)
	}
	if m := l.maxSeen.Load(); m > 3 || m < 2 {
		t.Errorf("max concurrent runs = %d, want 2..3", m)
	}
	done := ms.done("bf1")
	if done["2024-01-03"] != engine.StatusFailed || done["2024-01-04"] != engine.StatusSucceeded || ms.bfStatus["bf1"] != BackfillFailed {
		t.Errorf("store: %v, status %s", done, ms.bfStatus["bf1"])
	}
	if r := l.reqs[0]; r.Job != "daily" || r.Tags[TagBackfill] != "bf1" {
		t.Errorf("request = %+v", r)
	}

	// Resume: only the failed partition runs again.
	l2 := &recordingLauncher{}
	b.Launch = l2.launch
	job.Done = ms.done("bf1")
	res, err = b.Execute(ctx, job)
	if err != nil || res.Status != BackfillSucceeded || res.AlreadyDone != 7 || !slices.Equal(l2.keys(), []string{"2024-01-03"}) {
		t.Errorf("resume: %+v, %v, ran %v", res, err, l2.keys())
	}
}

// TestBackfillResumeAfterKill cancels a backfill midway (as SIGTERM or a
// kill would) and resumes it from what the store recorded.
func TestBackfillResumeAfterKill(t *testing.T) {
	def := mustDef(t, PartitionsConfig{Type: "monthly", Start: "2023-01-01"})
	keys, _ := def.Range(context.Background(), "2023-01", "2023-12")
	ms := newMemStore()
	ctx, kill := context.WithCancel(context.Background())
	var launched atomic.Int32
	l := &recordingLauncher{onLaunch: func(ctx context.Context, req RunRequest) error {
		if launched.Add(1) == 5 {
			kill()
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}}
	b := &Backfiller{Store: ms, Launch: l.launch, Def: def}
	job := BackfillJob{ID: "bf2", Selection: "tag:monthly", Policy: PolicyPerPartition, Partitions: keys}
	res, _ := b.Execute(ctx, job)
	if res.Status != BackfillCanceled || res.Succeeded != 4 || res.Canceled != 1 {
		t.Fatalf("killed backfill: %+v", res)
	}
	done := ms.done("bf2")
	if done["2023-05"] != engine.StatusCanceled || done["2023-04"] != engine.StatusSucceeded {
		t.Fatalf("recorded: %v", done)
	}

	l2 := &recordingLauncher{}
	b.Launch = l2.launch
	job.Done = done
	res, err := b.Execute(context.Background(), job)
	if err != nil || res.Status != BackfillSucceeded || res.AlreadyDone != 4 || res.Succeeded != 8 {
		t.Fatalf("resumed: %+v, %v", res, err)
	}
	if got := l2.keys(); got[0] != "2023-05" || len(got) != 8 {
		t.Errorf("resume ran %v, want 2023-05..2023-12", got)
	}
	if sel := l2.reqs[0].Selection; !slices.Equal(sel, []string{"tag:monthly"}) {
		t.Errorf("selection = %v", sel)
	}
}

func TestBackfillSingleRunAndCancel(t *testing.T) {
	ctx := context.Background()
	def := mustDef(t, PartitionsConfig{Type: "daily", Start: "2024-01-01"})
	ms := newMemStore()
	l := &recordingLauncher{}
	b := &Backfiller{Store: ms, Launch: l.launch, Def: def}
	job := BackfillJob{ID: "bf3", Job: "j", Policy: PolicySingleRun, Partitions: []string{"2024-01-01", "2024-01-02", "2024-01-04"}}
	if _, err := b.Execute(ctx, job); err != nil {
		t.Fatal(err)
	}
	if got := l.keys(); !slices.Equal(got, []string{"2024-01-01+2024-01-02", "2024-01-04"}) {
		t.Errorf("single-run runs = %v", got)
	}

	// Canceled from another process: no run starts.
	l2 := &recordingLauncher{}
	b = &Backfiller{Store: ms, Launch: l2.launch, Def: def,
		Status: func(context.Context, string) (string, error) { return BackfillCanceled, nil }}
	res, _ := b.Execute(ctx, BackfillJob{ID: "bf4", Policy: PolicyPerPartition, Partitions: []string{"2024-01-01"}})
	if res.Status != BackfillCanceled || len(l2.keys()) != 0 {
		t.Errorf("canceled backfill: %+v ran %v", res, l2.keys())
	}
}
