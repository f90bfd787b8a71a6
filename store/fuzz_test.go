package store

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// FuzzEventCodec checks the stored JSON form of an event (eventJSON and
// the decoding Events does) on its own, without SQLite, so it runs
// thousands of inputs a second: no string may be mangled.
func FuzzEventCodec(f *testing.F) {
	f.Add("step", "raw/orders", "2026-11-23", "msg", "rows", "10")
	f.Add("dbt:build", "a", "", "ünïcödé \x00 nul", "k\n", "")
	f.Add("s", "x/y/z", "p|q", `{"json":true}`, "", `"quoted"`)
	f.Fuzz(func(t *testing.T, step, key, partition, msg, mdKey, mdVal string) {
		ev, ok := fuzzEvent("fuzz", step, key, partition, msg, mdKey, mdVal)
		if !ok {
			return
		}
		body, err := eventJSON(ev)
		if err != nil {
			t.Fatal(err)
		}
		var got engine.Event
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("stored JSON does not decode: %v\n%s", err, body)
		}
		if got.StepID != step || got.Asset != ev.Asset || got.Partition != partition || got.Message != msg || !reflect.DeepEqual(got.Metadata, ev.Metadata) {
			t.Errorf("codec round trip: got %+v, want %+v", got, ev)
		}
	})
}

// fuzzEvent builds a materialization from fuzzed text; ok is false for
// text no event can hold (an invalid key, invalid UTF-8: JSON replaces it
// and asset keys refuse it).
func fuzzEvent(runID, step, key, partition, msg, mdKey, mdVal string) (engine.Event, bool) {
	k, err := asset.ParseKey(key)
	if err != nil || step == "" {
		return engine.Event{}, false
	}
	for _, x := range []string{step, key, partition, msg, mdKey, mdVal} {
		if !utf8.ValidString(x) {
			return engine.Event{}, false
		}
	}
	return engine.Event{Type: engine.AssetMaterialized, RunID: runID, StepID: step, Asset: k, Partition: partition,
		Message: msg, Metadata: map[string]any{mdKey: mdVal}}, true
}

// FuzzRecordRoundTrip records events with arbitrary text and checks that
// Events, Steps and Materializations give back what was recorded: the
// stored JSON and the derived tables must not mangle any string. Each input
// gets a run of its own, so an execution reads back only its own events
// (reading every earlier input's events made it crawl at a few a second).
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add("step", "raw/orders", "2026-11-23", "msg", "rows", "10")
	f.Add("dbt:build", "a", "", "ünïcödé \x00 nul", "k\n", "")
	f.Add("s", "x/y/z", "p|q", `{"json":true}`, "", `"quoted"`)
	s := openTest(f)
	ctx := context.Background()
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, step, key, partition, msg, mdKey, mdVal string) {
		runID := fmt.Sprintf("fuzz-%d", n.Add(1))
		mat, ok := fuzzEvent(runID, step, key, partition, msg, mdKey, mdVal)
		if !ok {
			return
		}
		if err := s.CreateRun(ctx, Run{ID: runID}); err != nil {
			t.Fatal(err)
		}
		k, md := mat.Asset, mat.Metadata
		evs := []engine.Event{
			{Type: engine.StepStarted, RunID: runID, StepID: step, Attempt: 1, Metadata: map[string]any{"log_path": msg, "assets": []string{key}}},
			mat,
		}
		if err := s.RecordAll(ctx, evs); err != nil {
			t.Fatal(err)
		}
		got, err := s.Events(ctx, runID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%d events, want 2", len(got))
		}
		m := got[1]
		if m.StepID != step || m.Asset != k || m.Partition != partition || m.Message != msg || !reflect.DeepEqual(m.Metadata, md) {
			t.Errorf("event round trip: got %+v, want %+v", m.Event, mat)
		}
		mats, err := s.Materializations(ctx, k, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(mats) != 1 || mats[0].RunID != runID || mats[0].Partition != partition || mats[0].StepID != step || !reflect.DeepEqual(mats[0].Metadata, md) {
			t.Errorf("materialization round trip: got %+v", mats)
		}
		steps, err := s.Steps(ctx, runID)
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) != 1 || steps[0].StepID != step || steps[0].Attempt != 1 || steps[0].LogPath != msg ||
			len(steps[0].Assets) != 1 || steps[0].Assets[0] != k {
			t.Errorf("step round trip: got %+v", steps)
		}
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
