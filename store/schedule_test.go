package store

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

func TestDynamicPartitions(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	steps := []struct {
		op      string
		def     string
		keys    []string
		wantN   int
		wantErr string
		want    []string // Partitions(def) afterwards
	}{
		{"add", "customers", []string{"acme", "globex"}, 2, "", []string{"acme", "globex"}},
		{"add", "customers", []string{"globex", "initech", "acme", "umbrella"}, 2, "", []string{"acme", "globex", "initech", "umbrella"}},
		{"add", "regions", []string{"eu"}, 1, "", []string{"eu"}},
		{"delete", "customers", []string{"globex", "nope"}, 1, "", []string{"acme", "initech", "umbrella"}},
		{"add", "customers", []string{"globex"}, 1, "", []string{"acme", "initech", "umbrella", "globex"}},
		{"add", "customers", []string{"ok", ""}, 0, "key 2 is empty", []string{"acme", "initech", "umbrella", "globex"}},
		{"add", "", []string{"x"}, 0, "empty partition definition", nil},
		{"delete", "", []string{"x"}, 0, "empty partition definition", nil},
		{"delete", "missing", []string{"x"}, 0, "", nil},
	}
	for i, st := range steps {
		var (
			n   int
			err error
		)
		if st.op == "add" {
			n, err = s.AddPartitions(ctx, st.def, st.keys)
		} else {
			n, err = s.DeletePartitions(ctx, st.def, st.keys)
		}
		if st.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Errorf("step %d: err = %v, want %q", i, err, st.wantErr)
			}
		} else if err != nil || n != st.wantN {
			t.Errorf("step %d: %s(%v) = %d, %v; want %d", i, st.op, st.keys, n, err, st.wantN)
		}
		got, err := s.Partitions(ctx, st.def)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, st.want) {
			t.Errorf("step %d: Partitions(%s) = %v, want %v", i, st.def, got, st.want)
		}
	}
}

func TestCursors(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if _, ok, err := s.Cursor(ctx, "files"); ok || err != nil {
		t.Fatalf("unset cursor: ok=%v err=%v", ok, err)
	}
	for _, v := range []string{"a.csv", "", `{"offset":42}`} {
		if err := s.SetCursor(ctx, "files", v); err != nil {
			t.Fatal(err)
		}
		got, ok, err := s.Cursor(ctx, "files")
		if err != nil || !ok || got != v {
			t.Errorf("Cursor = %q %v %v, want %q", got, ok, err, v)
		}
	}
	if err := s.SetCursor(ctx, "", "x"); err == nil {
		t.Error("SetCursor with empty name succeeded")
	}
}

func TestTicks(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	if _, ok, err := s.LastTick(ctx, "daily"); ok || err != nil {
		t.Fatalf("LastTick before any = ok %v err %v", ok, err)
	}
	ticks := []struct {
		schedule string
		tick     time.Time
		status   string
	}{
		{"daily", day, "requested"},
		{"daily", day.Add(48 * time.Hour), "skipped"},
		{"daily", day.Add(24 * time.Hour), "requested"}, // recorded late: not the last
		{"daily", day.Add(48 * time.Hour), "requested"}, // re-recorded
		{"hourly", day.Add(time.Hour), "requested"},
	}
	for _, tk := range ticks {
		if err := s.RecordTick(ctx, tk.schedule, tk.tick, "run-"+tk.status, tk.status); err != nil {
			t.Fatal(err)
		}
	}
	for sched, want := range map[string]time.Time{"daily": day.Add(48 * time.Hour), "hourly": day.Add(time.Hour)} {
		got, ok, err := s.LastTick(ctx, sched)
		if err != nil || !ok || !got.Equal(want) {
			t.Errorf("LastTick(%s) = %v %v %v, want %v", sched, got, ok, err, want)
		}
	}
	var n int
	if err := s.rdb.QueryRow(`SELECT COUNT(*) FROM ticks WHERE schedule = 'daily'`).Scan(&n); err != nil || n != 3 {
		t.Errorf("daily ticks stored = %d (%v), want 3 (re-recording replaces)", n, err)
	}
	if err := s.RecordTick(ctx, "", day, "", ""); err == nil {
		t.Error("RecordTick without schedule succeeded")
	}
}

func TestBackfills(t *testing.T) {
	clock := newFakeClock()
	s := openTest(t, WithClock(clock.Now))
	ctx := context.Background()
	b1 := Backfill{ID: "bf-20261120", Selection: "tag:daily", Job: "daily", Policy: "per-partition",
		Partitions: []string{"2026-11-20", "2026-11-21"}, Results: map[string]BackfillPartition{"2026-11-20": {Status: "succeeded", RunID: "r0"}}}
	if err := s.CreateBackfill(ctx, b1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if err := s.CreateBackfill(ctx, Backfill{ID: "bf-20261121", Partitions: nil}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBackfill(ctx, Backfill{ID: "bf-20261120"}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate backfill: %v", err)
	}
	if err := s.CreateBackfill(ctx, Backfill{}); err == nil {
		t.Error("backfill without id accepted")
	}
	clock.Advance(time.Minute)
	if err := s.UpdateBackfillPartition(ctx, "bf-20261120", "2026-11-21", "running", "r1"); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateBackfillPartition(ctx, "bf-20261120", "2026-11-21", "failed", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.SetBackfillStatus(ctx, "bf-20261120", "failed"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"nope"} {
		if err := s.UpdateBackfillPartition(ctx, id, "p", "x", ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("UpdateBackfillPartition(%s) = %v, want ErrNotFound", id, err)
		}
		if err := s.SetBackfillStatus(ctx, id, "x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetBackfillStatus(%s) = %v, want ErrNotFound", id, err)
		}
	}

	got, err := s.GetBackfill(ctx, "bf-20261120")
	if err != nil {
		t.Fatal(err)
	}
	t0 := clock.Now().Add(-2 * time.Minute)
	want := Backfill{ID: "bf-20261120", Selection: "tag:daily", Job: "daily", Policy: "per-partition", Status: "failed",
		Partitions: []string{"2026-11-20", "2026-11-21"}, CreatedAt: t0, UpdatedAt: clock.Now(),
		Results: map[string]BackfillPartition{"2026-11-20": {"succeeded", "r0"}, "2026-11-21": {"failed", "r1"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetBackfill =\n%+v\nwant\n%+v", got, want)
	}
	if _, err := s.GetBackfill(ctx, "bf-2026112"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("ambiguous prefix: %v", err)
	}
	if b, err := s.GetBackfill(ctx, "bf-20261121"); err != nil || b.Status != "requested" || len(b.Partitions) != 0 {
		t.Errorf("GetBackfill(bf-20261121) = %+v %v", b, err)
	}
	list, err := s.ListBackfills(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "bf-20261121" || !reflect.DeepEqual(list[1], want) {
		t.Errorf("ListBackfills = %+v", list)
	}
	if list, _ := s.ListBackfills(ctx, 1); len(list) != 1 {
		t.Errorf("ListBackfills(1) returned %d", len(list))
	}
}

func TestSnapshots(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if _, ok, err := s.LatestSnapshot(ctx); ok || err != nil {
		t.Fatalf("LatestSnapshot on empty store: ok %v err %v", ok, err)
	}
	first := []SnapshotAsset{{Key: asset.MustKey("b"), Fingerprint: "f1", Spec: json.RawMessage(`{"x":1}`)}}
	second := []SnapshotAsset{
		{Key: asset.MustKey("z", "y"), Fingerprint: "f3"},
		{Key: asset.MustKey("a"), Fingerprint: "f2", Spec: json.RawMessage(`{"deps":["b"]}`)},
	}
	id1, err := s.SaveSnapshot(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := s.SaveSnapshot(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	if id2 <= id1 {
		t.Errorf("snapshot ids %d then %d", id1, id2)
	}
	got, ok, err := s.LatestSnapshot(ctx)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	want := []SnapshotAsset{
		{Key: asset.MustKey("a"), Fingerprint: "f2", Spec: json.RawMessage(`{"deps":["b"]}`)},
		{Key: asset.MustKey("z", "y"), Fingerprint: "f3", Spec: json.RawMessage(`null`)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LatestSnapshot = %s, want %s", fmtSnap(got), fmtSnap(want))
	}
	bad := []struct {
		name   string
		assets []SnapshotAsset
		want   string
	}{
		{"invalid json", []SnapshotAsset{{Key: asset.MustKey("a"), Spec: json.RawMessage(`{`)}}, "not valid JSON"},
		{"empty key", []SnapshotAsset{{}}, "empty key"},
		{"duplicate", []SnapshotAsset{{Key: asset.MustKey("a")}, {Key: asset.MustKey("a")}}, "appears twice"},
	}
	for _, tt := range bad {
		if _, err := s.SaveSnapshot(ctx, tt.assets); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	if got2, _, _ := s.LatestSnapshot(ctx); !reflect.DeepEqual(got2, want) {
		t.Error("a failed SaveSnapshot changed the latest snapshot")
	}
}

func fmtSnap(as []SnapshotAsset) string {
	var b strings.Builder
	for _, a := range as {
		b.WriteString(a.Key.String() + " " + a.Fingerprint + " " + string(a.Spec) + "; ")
	}
	return b.String()
}

func TestMaterializations(t *testing.T) {
	clock := newFakeClock()
	s := openTest(t, WithClock(clock.Now))
	ctx := context.Background()
	a, b := asset.MustKey("a"), asset.MustKey("b")
	mustCreateRun(t, s, Run{ID: "r1"})
	mustCreateRun(t, s, Run{ID: "r2"})
	for i, ev := range []engine.Event{
		{Type: engine.AssetMaterialized, RunID: "r1", Asset: a, Partition: "2026-11-01"},
		{Type: engine.AssetMaterialized, RunID: "r1", Asset: b},
		{Type: engine.AssetMaterialized, RunID: "r2", Asset: a, Partition: "2026-11-02", Metadata: map[string]any{"rows": 5}},
		{Type: engine.AssetFailed, RunID: "r2", Asset: a, Partition: "2026-11-01"},
		{Type: engine.AssetFailed, RunID: "r2", Asset: b, Status: engine.StatusBlockedByCheck},
	} {
		ev.StepID = "s"
		ev.Time = clock.Now().Add(time.Duration(i) * time.Second)
		mustRecord(t, s, ev)
	}
	t0 := clock.Now()
	tests := []struct {
		key   asset.Key
		limit int
		want  []Materialization
	}{
		{a, 0, []Materialization{
			{Asset: a, RunID: "r2", StepID: "s", Partition: "2026-11-02", Time: t0.Add(2 * time.Second), Metadata: map[string]any{"rows": 5.0}},
			{Asset: a, RunID: "r1", StepID: "s", Partition: "2026-11-01", Time: t0},
		}},
		{a, 1, []Materialization{
			{Asset: a, RunID: "r2", StepID: "s", Partition: "2026-11-02", Time: t0.Add(2 * time.Second), Metadata: map[string]any{"rows": 5.0}},
		}},
		{asset.MustKey("none"), 0, nil},
	}
	for _, tt := range tests {
		got, err := s.Materializations(ctx, tt.key, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Materializations(%s, %d) =\n%+v\nwant\n%+v", tt.key, tt.limit, got, tt.want)
		}
	}
	latest, err := s.LatestMaterializations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 2 || latest[a].RunID != "r2" || latest[b].RunID != "r1" {
		t.Errorf("LatestMaterializations = %+v", latest)
	}
	parts, _ := s.PartitionStatuses(ctx, a)
	if want := map[string]string{"2026-11-01": "failed", "2026-11-02": "materialized"}; !reflect.DeepEqual(parts, want) {
		t.Errorf("PartitionStatuses(a) = %v, want %v (latest wins)", parts, want)
	}
	st, _ := s.AssetStatuses(ctx)
	if st[b].LastStatus != "blocked_by_check" || st[b].LastMaterialization == nil || st[b].LastMaterialization.RunID != "r1" {
		t.Errorf("status of b = %+v, want blocked_by_check keeping r1's materialization", st[b])
	}
}
