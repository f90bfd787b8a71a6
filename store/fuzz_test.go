package store

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// FuzzRecordRoundTrip records events with arbitrary text and checks that
// Events, Steps and Materializations give back what was recorded: the
// stored JSON and the derived tables must not mangle any string.
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add("step", "raw/orders", "2026-11-23", "msg", "rows", "10")
	f.Add("dbt:build", "a", "", "ünïcödé \x00 nul", "k\n", "")
	f.Add("s", "x/y/z", "p|q", `{"json":true}`, "", `"quoted"`)
	s := openTest(f)
	mustCreateRun(f, s, Run{ID: "fuzz"})
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, step, key, partition, msg, mdKey, mdVal string) {
		k, err := asset.ParseKey(key)
		if err != nil || step == "" {
			return
		}
		for _, x := range []string{step, key, partition, msg, mdKey, mdVal} {
			if !utf8.ValidString(x) {
				return // JSON replaces invalid UTF-8; not a store concern
			}
		}
		md := map[string]any{mdKey: mdVal}
		evs := []engine.Event{
			{Type: engine.StepStarted, RunID: "fuzz", StepID: step, Attempt: 1, Metadata: map[string]any{"log_path": msg, "assets": []string{key}}},
			{Type: engine.AssetMaterialized, RunID: "fuzz", StepID: step, Asset: k, Partition: partition, Message: msg, Metadata: md},
		}
		before, err := s.Events(ctx, "fuzz", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		last := int64(0)
		if len(before) > 0 {
			last = before[len(before)-1].Seq
		}
		for _, ev := range evs {
			if err := s.Record(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Events(ctx, "fuzz", last, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%d new events, want 2", len(got))
		}
		m := got[1]
		if m.StepID != step || m.Asset != k || m.Partition != partition || m.Message != msg || !reflect.DeepEqual(m.Metadata, md) {
			t.Errorf("event round trip: got %+v, want %+v", m.Event, evs[1])
		}
		mats, err := s.Materializations(ctx, k, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(mats) != 1 || mats[0].Partition != partition || mats[0].StepID != step || !reflect.DeepEqual(mats[0].Metadata, md) {
			t.Errorf("materialization round trip: got %+v", mats)
		}
		steps, err := s.Steps(ctx, "fuzz")
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range steps {
			if a.StepID == step && a.Attempt == 1 {
				// An empty log_path keeps the one an earlier input stored.
				if (msg != "" && a.LogPath != msg) || len(a.Assets) != 1 || a.Assets[0] != k {
					t.Errorf("step round trip: got %+v", a)
				}
				return
			}
		}
		t.Errorf("step %q not found among %d attempts", step, len(steps))
	})
}

// FuzzKeysFrom feeds keysFrom the shapes the "assets" metadata may take
// after a JSON round trip; it must never panic and only return valid keys.
func FuzzKeysFrom(f *testing.F) {
	f.Add("a/b,c")
	f.Add("//,a//b,")
	f.Fuzz(func(t *testing.T, s string) {
		parts := strings.Split(s, ",")
		anys := make([]any, len(parts))
		for i, p := range parts {
			anys[i] = p
		}
		for _, v := range []any{parts, anys, s, []any{anys}, []any{1, nil}} {
			for _, k := range keysFrom(v) {
				if _, err := asset.ParseKey(k.String()); err != nil {
					t.Errorf("keysFrom(%#v) returned invalid key %q", v, k)
				}
			}
		}
	})
}
