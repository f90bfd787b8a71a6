package schedule

import (
	"fmt"
	"slices"

	"github.com/eltproject/elt/engine"
)

// Partition statuses shown by `elt assets status --partitions`. Keys absent
// from the status map count as StatusMissing.
const (
	StatusMaterialized = "materialized"
	StatusFailed       = "failed"
	StatusMissing      = "missing"
)

// Segment is a run of consecutive keys with the same status.
type Segment struct {
	First  string `json:"first"`
	Last   string `json:"last"`
	Status string `json:"status"`
	Count  int    `json:"count"`
}

// String renders "2024-01-01..2024-03-31 materialized (91)", or
// "2024-04-01 failed" for a single key.
func (s Segment) String() string {
	if s.Count == 1 {
		return fmt.Sprintf("%s %s", s.First, s.Status)
	}
	return fmt.Sprintf("%s..%s %s (%d)", s.First, s.Last, s.Status, s.Count)
}

// CompactStatus folds keys (in definition order) into segments of equal
// status; a key missing from status is StatusMissing.
func CompactStatus(keys []string, status map[string]string) []Segment {
	var out []Segment
	for _, k := range keys {
		st, ok := status[k]
		if !ok || st == "" {
			st = StatusMissing
		}
		if n := len(out); n > 0 && out[n-1].Status == st {
			out[n-1].Last = k
			out[n-1].Count++
			continue
		}
		out = append(out, Segment{First: k, Last: k, Status: st, Count: 1})
	}
	return out
}

// PartitionFor returns the engine partition for one key of def, with its
// window for time-window definitions. It rejects keys the definition cannot
// have (a static key not listed, a time key in the wrong format); whether a
// dynamic key exists is the caller's check (Definition.Contains).
func PartitionFor(def Definition, key string) (*engine.Partition, error) {
	start, end, ok, err := def.Window(key)
	if err != nil {
		return nil, err
	}
	p := &engine.Partition{Key: key}
	if ok {
		p.Start, p.End = start, end
	}
	return p, nil
}

// RangePartition returns the engine partition of a single-run backfill over
// keys (in order): Key is the first key, Keys all of them, and for time
// windows [Start, End) spans from the first window's start to the last
// one's end. It returns nil for no keys and ignores malformed keys' windows.
func RangePartition(def Definition, keys []string) *engine.Partition {
	if len(keys) == 0 {
		return nil
	}
	p := &engine.Partition{Key: keys[0]}
	if len(keys) > 1 {
		p.Keys = slices.Clone(keys)
	}
	s, _, ok1, err1 := def.Window(keys[0])
	_, e, ok2, err2 := def.Window(keys[len(keys)-1])
	if ok1 && ok2 && err1 == nil && err2 == nil {
		p.Start, p.End = s, e
	}
	return p
}
