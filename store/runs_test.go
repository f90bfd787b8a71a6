package store

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

func TestNewRunID(t *testing.T) {
	re := regexp.MustCompile(`^\d{8}T\d{6}-[0-9a-f]{8}$`)
	seen := map[string]bool{}
	for range 200 {
		id := NewRunID()
		if !re.MatchString(id) {
			t.Fatalf("NewRunID() = %q, want yyyymmddThhmmss-xxxxxxxx", id)
		}
		if seen[id] {
			t.Fatalf("NewRunID() repeated %q", id)
		}
		seen[id] = true
	}
	a := newID(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	b := newID(time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC))
	if !(a < b) || !strings.HasPrefix(a, "20260102T030405-") {
		t.Errorf("ids do not sort by time: %q, %q", a, b)
	}
}

func TestCreateRunDefaultsAndGetRun(t *testing.T) {
	clock := newFakeClock()
	s := openTest(t, WithClock(clock.Now))
	ctx := context.Background()
	mustCreateRun(t, s, Run{ID: "20261123T223000-aaaa0001", Selection: "+orders", Job: "daily", Trigger: "schedule:daily",
		Partition: "2026-11-22", ParentRunID: "20261122T000000-bbbb0000", Tags: map[string]string{"team": "data"}})
	got, err := s.GetRun(ctx, "20261123T223000-aaaa0001")
	if err != nil {
		t.Fatal(err)
	}
	want := Run{ID: "20261123T223000-aaaa0001", Status: "running", Selection: "+orders", Job: "daily", Trigger: "schedule:daily",
		Partition: "2026-11-22", ParentRunID: "20261122T000000-bbbb0000", PID: s.pid,
		StartedAt: clock.Now(), HeartbeatAt: clock.Now(), Tags: map[string]string{"team": "data"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetRun =\n%+v\nwant\n%+v", got, want)
	}
	if err := s.CreateRun(ctx, Run{ID: want.ID}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate CreateRun error = %v, want 'already exists'", err)
	}
	if err := s.CreateRun(ctx, Run{}); err == nil {
		t.Error("CreateRun without id succeeded")
	}
}

func TestGetRunPrefix(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	for _, id := range []string{"20261123T100000-aaaa0001", "20261123T100000-aaab0002", "20261123T110000-cccc0003", "abc", "abcd"} {
		mustCreateRun(t, s, Run{ID: id})
	}
	tests := []struct {
		prefix  string
		want    string
		wantErr error
	}{
		{"20261123T100000-aaaa0001", "20261123T100000-aaaa0001", nil},
		{"20261123T100000-aaaa", "20261123T100000-aaaa0001", nil},
		{"20261123T11", "20261123T110000-cccc0003", nil},
		{"20261123T100000-aaa", "", ErrAmbiguous},
		{"2026", "", ErrAmbiguous},
		{"abc", "abc", nil}, // an exact id beats longer ids it prefixes
		{"zzz", "", ErrNotFound},
		{"", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			r, err := s.GetRun(ctx, tt.prefix)
			switch {
			case tt.prefix == "":
				if err == nil {
					t.Fatal("empty id accepted")
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr == ErrAmbiguous && !strings.Contains(err.Error(), "20261123T100000-aaaa0001") {
					t.Errorf("ambiguity error does not list candidates: %v", err)
				}
			case err != nil:
				t.Fatal(err)
			case r.ID != tt.want:
				t.Errorf("GetRun(%q) = %s, want %s", tt.prefix, r.ID, tt.want)
			}
		})
	}
}

func TestListRuns(t *testing.T) {
	clock := newFakeClock()
	s := openTest(t, WithClock(clock.Now))
	ctx := context.Background()
	runs := []Run{
		{ID: "r1", Job: "daily", Trigger: "schedule:daily"},
		{ID: "r2", Job: "hourly", Trigger: "manual"},
		{ID: "r3", Job: "daily", Trigger: "manual"},
		{ID: "r4", Job: "daily", Trigger: "schedule:daily"},
	}
	for _, r := range runs {
		mustCreateRun(t, s, r)
		clock.Advance(time.Minute)
	}
	mustRecord(t, s, engine.Event{Type: engine.RunSucceeded, RunID: "r1"}, engine.Event{Type: engine.RunFailed, RunID: "r3"})
	tests := []struct {
		name string
		f    RunFilter
		want []string
	}{
		{"all newest first", RunFilter{}, []string{"r4", "r3", "r2", "r1"}},
		{"limit", RunFilter{Limit: 2}, []string{"r4", "r3"}},
		{"status", RunFilter{Status: "running"}, []string{"r4", "r2"}},
		{"job", RunFilter{Job: "daily"}, []string{"r4", "r3", "r1"}},
		{"trigger", RunFilter{Trigger: "manual"}, []string{"r3", "r2"}},
		{"combined", RunFilter{Job: "daily", Status: "failed"}, []string{"r3"}},
		{"none", RunFilter{Job: "nope"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListRuns(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range got {
				ids = append(ids, r.ID)
			}
			if !reflect.DeepEqual(ids, tt.want) {
				t.Errorf("ListRuns(%+v) = %v, want %v", tt.f, ids, tt.want)
			}
		})
	}
}

func TestRecordValidation(t *testing.T) {
	s := openTest(t)
	mustCreateRun(t, s, Run{ID: "r"})
	k := asset.MustKey("a")
	tests := []struct {
		name string
		ev   engine.Event
		want string
	}{
		{"no type", engine.Event{RunID: "r"}, "no type"},
		{"no run", engine.Event{Type: engine.Log}, "no run id"},
		{"step without id", engine.Event{Type: engine.StepStarted, RunID: "r"}, "no step id"},
		{"materialized without asset", engine.Event{Type: engine.AssetMaterialized, RunID: "r"}, "no asset key"},
		{"check without name", engine.Event{Type: engine.CheckEvaluated, RunID: "r", Asset: k}, "check name"},
		{"unknown run", engine.Event{Type: engine.Log, RunID: "missing"}, "create the run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Record(context.Background(), tt.ev)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Record error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if err := s.Record(context.Background(), engine.Event{Type: engine.Log, RunID: "missing"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown run: err = %v, want ErrNotFound", err)
	}
}

// TestRecordDerivedTables records a run's whole life and checks every table
// derived from the events.
func TestRecordDerivedTables(t *testing.T) {
	clock := newFakeClock()
	s := openTest(t, WithClock(clock.Now))
	ctx := context.Background()
	const run = "20261123T223000-00000001"
	mustCreateRun(t, s, Run{ID: run, Partition: "p1"})
	a, b, c := asset.MustKey("raw", "orders"), asset.MustKey("stg", "orders"), asset.MustKey("mart", "orders")
	if err := s.LockAssets(ctx, run, []asset.Key{a, b}); err != nil {
		t.Fatal(err)
	}
	t0 := clock.Now()
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	passed, failed := true, false
	evs := []engine.Event{
		{Type: engine.RunStarted, RunID: run, Time: at(0)},
		{Type: engine.StepStarted, RunID: run, StepID: "sling", Attempt: 1, Time: at(1),
			Metadata: map[string]any{"log_path": "runs/x/sling.1.log", "assets": []asset.Key{a}}},
		{Type: engine.StepRetrying, RunID: run, StepID: "sling", Attempt: 1, Time: at(2), Message: "exit status 1"},
		{Type: engine.StepStarted, RunID: run, StepID: "sling", Attempt: 2, Time: at(3),
			Metadata: map[string]any{"assets": []any{"raw/orders"}}},
		{Type: engine.AssetMaterialized, RunID: run, StepID: "sling", Attempt: 2, Asset: a, Partition: "p1", Time: at(4),
			Status: "succeeded", Metadata: map[string]any{"rows": 10}},
		{Type: engine.CheckEvaluated, RunID: run, StepID: "sling", Asset: a, Check: "not_null", Passed: &passed, Severity: "error", Blocking: true, Time: at(5)},
		{Type: engine.StepSucceeded, RunID: run, StepID: "sling", Attempt: 2, Time: at(6)},
		{Type: engine.StepStarted, RunID: run, StepID: "dbt", Attempt: 1, Time: at(7)},
		{Type: engine.AssetFailed, RunID: run, StepID: "dbt", Asset: b, Partition: "p1", Time: at(8), Message: "compile error"},
		{Type: engine.CheckEvaluated, RunID: run, StepID: "dbt", Asset: a, Check: "unique", Passed: &failed, Severity: "warn", Message: "2 dupes", Time: at(9)},
		{Type: engine.StepFailed, RunID: run, StepID: "dbt", Attempt: 1, Time: at(10), Message: "dbt exited 1"},
		{Type: engine.AssetSkipped, RunID: run, StepID: "report", Asset: c, Partition: "p1", Status: engine.StatusUpstreamFailed, Time: at(11)},
		{Type: engine.StepSkipped, RunID: run, StepID: "report", Status: engine.StatusUpstreamFailed, Time: at(11), Message: "upstream stg/orders failed"},
		{Type: engine.Log, RunID: run, StepID: "dbt", Message: "done", Time: at(12)},
		{Type: engine.RunFailed, RunID: run, Time: at(13)},
	}
	mustRecord(t, s, evs...)

	t.Run("events", func(t *testing.T) {
		got, err := s.Events(ctx, run, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(evs) {
			t.Fatalf("%d events, want %d", len(got), len(evs))
		}
		for i, e := range got {
			if e.Type != evs[i].Type || !e.Time.Equal(evs[i].Time) || e.Asset != evs[i].Asset || e.Message != evs[i].Message {
				t.Errorf("event %d = %+v, want %+v", i, e.Event, evs[i])
			}
			if i > 0 && e.Seq <= got[i-1].Seq {
				t.Errorf("seq not increasing: %d after %d", e.Seq, got[i-1].Seq)
			}
		}
		page, err := s.Events(ctx, run, got[2].Seq, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != 3 || page[0].Seq != got[3].Seq {
			t.Errorf("Events(after %d, limit 3) = %d events starting %d", got[2].Seq, len(page), page[0].Seq)
		}
		if rows, _ := page[1].Metadata["rows"].(float64); rows != 10 {
			t.Errorf("metadata rows = %v, want 10", page[1].Metadata["rows"])
		}
	})

	t.Run("steps", func(t *testing.T) {
		got, err := s.Steps(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		want := []StepAttempt{
			{RunID: run, StepID: "sling", Attempt: 1, Status: "retrying", Assets: []asset.Key{a}, StartedAt: at(1), EndedAt: at(2), Error: "exit status 1", LogPath: "runs/x/sling.1.log"},
			{RunID: run, StepID: "sling", Attempt: 2, Status: "succeeded", Assets: []asset.Key{a}, StartedAt: at(3), EndedAt: at(6)},
			{RunID: run, StepID: "dbt", Attempt: 1, Status: "failed", StartedAt: at(7), EndedAt: at(10), Error: "dbt exited 1"},
			{RunID: run, StepID: "report", Attempt: 1, Status: "upstream_failed", StartedAt: at(11), EndedAt: at(11), Error: "upstream stg/orders failed"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Steps =\n%+v\nwant\n%+v", got, want)
		}
	})

	t.Run("run ended and unlocked", func(t *testing.T) {
		r, err := s.GetRun(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != "failed" || !r.EndedAt.Equal(at(13)) {
			t.Errorf("run status %s ended %v, want failed at %v", r.Status, r.EndedAt, at(13))
		}
		locks, err := s.Locks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(locks) != 0 {
			t.Errorf("locks after run end: %+v", locks)
		}
	})

	t.Run("asset statuses", func(t *testing.T) {
		got, err := s.AssetStatuses(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mat := &Materialization{Asset: a, RunID: run, StepID: "sling", Partition: "p1", Time: at(4), Metadata: map[string]any{"rows": float64(10)}}
		want := map[asset.Key]AssetStatus{
			a: {Asset: a, LastStatus: "succeeded", LastRunID: run, LastTime: at(4), LastMaterialization: mat, Checks: []CheckResult{
				{Asset: a, Check: "not_null", RunID: run, Severity: "error", Passed: true, Blocking: true, Time: at(5)},
				{Asset: a, Check: "unique", RunID: run, Severity: "warn", Message: "2 dupes", Time: at(9)},
			}},
			b: {Asset: b, LastStatus: "failed", LastRunID: run, LastTime: at(8)},
			c: {Asset: c, LastStatus: "upstream_failed", LastRunID: run, LastTime: at(11)},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("AssetStatuses =\n%+v\nwant\n%+v", got, want)
		}
	})

	t.Run("partition statuses", func(t *testing.T) {
		for k, want := range map[asset.Key]map[string]string{
			a: {"p1": "materialized"},
			b: {"p1": "failed"},
			c: {}, // upstream_failed leaves the partition missing
		} {
			got, err := s.PartitionStatuses(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("PartitionStatuses(%s) = %v, want %v", k, got, want)
			}
		}
	})

	t.Run("check results", func(t *testing.T) {
		got, err := s.CheckResults(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Check != "not_null" || !got[0].Passed || got[1].Check != "unique" || got[1].Passed {
			t.Errorf("CheckResults = %+v", got)
		}
	})
}

func TestStepStatus(t *testing.T) {
	tests := []struct {
		ev   engine.Event
		want string
	}{
		{engine.Event{Type: engine.StepStarted}, "running"},
		{engine.Event{Type: engine.StepSucceeded}, "succeeded"},
		{engine.Event{Type: engine.StepFailed}, "failed"},
		{engine.Event{Type: engine.StepRetrying}, "retrying"},
		{engine.Event{Type: engine.StepSkipped}, "skipped"},
		{engine.Event{Type: engine.StepSkipped, Status: "blocked_by_check"}, "blocked_by_check"},
	}
	for _, tt := range tests {
		if got := stepStatus(tt.ev); got != tt.want {
			t.Errorf("stepStatus(%s/%q) = %q, want %q", tt.ev.Type, tt.ev.Status, got, tt.want)
		}
	}
}

func TestRunEndStatus(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	tests := []struct {
		ev   engine.EventType
		stat string
		want string
	}{
		{engine.RunSucceeded, "", "succeeded"},
		{engine.RunFailed, "", "failed"},
		{engine.RunCanceled, "", "canceled"},
		{engine.RunFailed, "canceled", "canceled"},
	}
	for i, tt := range tests {
		id := NewRunID() + string(rune('a'+i))
		mustCreateRun(t, s, Run{ID: id})
		mustRecord(t, s, engine.Event{Type: tt.ev, RunID: id, Status: tt.stat})
		r, err := s.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != tt.want || r.EndedAt.IsZero() {
			t.Errorf("%s/%q: status %q ended %v, want %q", tt.ev, tt.stat, r.Status, r.EndedAt, tt.want)
		}
	}
}

func TestRecordUnencodableMetadata(t *testing.T) {
	s := openTest(t)
	mustCreateRun(t, s, Run{ID: "r"})
	k := asset.MustKey("a")
	nan := 0.0
	nan = nan / nan
	mustRecord(t, s, engine.Event{Type: engine.AssetMaterialized, RunID: "r", Asset: k, Metadata: map[string]any{"ratio": nan, "rows": 3}})
	ms, err := s.Materializations(context.Background(), k, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Metadata["ratio"] != "NaN" || ms[0].Metadata["rows"] != float64(3) {
		t.Errorf("metadata = %+v, want ratio printed as NaN and rows kept", ms)
	}
}

func TestHeartbeatAndReap(t *testing.T) {
	clock := newFakeClock()
	s := openTest(t, WithClock(clock.Now))
	ctx := context.Background()
	dead := deadPID(t)
	mustCreateRun(t, s, Run{ID: "dead-pid", PID: dead})
	mustCreateRun(t, s, Run{ID: "stale"})
	mustCreateRun(t, s, Run{ID: "fresh"})
	mustCreateRun(t, s, Run{ID: "done"})
	mustRecord(t, s, engine.Event{Type: engine.RunSucceeded, RunID: "done"})
	if err := s.LockAssets(ctx, "dead-pid", []asset.Key{asset.MustKey("x")}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Minute)
	if err := s.Heartbeat(ctx, "fresh"); err != nil {
		t.Fatal(err)
	}
	if err := s.Heartbeat(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Heartbeat(missing) = %v, want ErrNotFound", err)
	}

	// Without a staleness limit only the dead process is reaped.
	got, err := s.ReapDeadRuns(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []string{"dead-pid"}) {
		t.Fatalf("ReapDeadRuns(0) = %v, want [dead-pid]", got)
	}
	got, err = s.ReapDeadRuns(ctx, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []string{"stale"}) {
		t.Fatalf("ReapDeadRuns(5m) = %v, want [stale]", got)
	}

	want := map[string]string{"dead-pid": "failed", "stale": "failed", "fresh": "running", "done": "succeeded"}
	for id, st := range want {
		r, err := s.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != st {
			t.Errorf("run %s status %s, want %s", id, r.Status, st)
		}
	}
	evs, err := s.Events(ctx, "dead-pid", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(evs); n != 1 || evs[0].Type != engine.RunFailed || !strings.Contains(evs[0].Message, "is gone") {
		t.Errorf("reap event = %+v, want one run_failed saying the process is gone", evs)
	}
	evs, _ = s.Events(ctx, "stale", 0, 0)
	if len(evs) != 1 || !strings.Contains(evs[0].Message, "no heartbeat since") {
		t.Errorf("stale reap event = %+v", evs)
	}
	if locks, _ := s.Locks(ctx); len(locks) != 0 {
		t.Errorf("reaped run kept its locks: %+v", locks)
	}
}
