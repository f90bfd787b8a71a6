package sling

import (
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	manifest "github.com/eltproject/elt/manifest/sling"
)

// Range formats a partition window for Sling's --range.
//
// elt windows are half-open, [start, end); Sling's range is inclusive at
// both ends (update_key >= start AND update_key <= end). Passing end as is
// would load rows stamped exactly at the boundary twice, once in each of
// two adjacent windows. So the end sent to Sling is end minus one
// microsecond, the finest step most warehouses store:
//
//	[2024-01-01 00:00, 2024-01-02 00:00) → "2024-01-01 00:00:00,2024-01-01 23:59:59.999999"
//
// Values are written in the window's own time zone, without an offset,
// which is how Sling compares them with the update_key column.
func Range(start, end time.Time) string {
	const layout = "2006-01-02 15:04:05"
	last := end.Add(-time.Microsecond)
	return start.Format(layout) + "," + last.Format(layout+".000000")
}

// fileWindowError explains why a file stream cannot load a time window.
func fileWindowError(rep *manifest.Replication, s *manifest.Stream, what string) error {
	return fmt.Errorf("%s:%d: stream %s cannot load %s: Sling ignores --range for file streams and would load the whole file; read the file through a DuckDB source instead (a stream with sql: \"select * from read_csv('FILE') where {incremental_where_cond}\" and update_key), or drop partitions", rep.File, s.Line, s.Name, what)
}

// checkPartitionedFiles refuses, when the file is loaded, a partitioned
// asset of a file stream: every run of one of its windows would fail (see
// partitionArgs), so `elt validate` says so with the stream's line.
func checkPartitionedFiles(rep *manifest.Replication, specs []asset.Spec) error {
	var errs []error
	for i := range specs {
		sp := &specs[i]
		if sp.External || sp.Partitions == "" {
			continue
		}
		name, _ := sp.Metadata["stream"].(string)
		s := findStream(rep, name)
		if s == nil || !s.Ref.File {
			continue
		}
		errs = append(errs, fileWindowError(rep, s, "the time windows of partitions "+sp.Partitions))
	}
	return errors.Join(errs...)
}

// partitionArgs turns a time window into Sling flags: --mode backfill
// --range when every planned stream has primary_key and update_key, or
// just --range when every planned stream is incremental with an
// update_key (its own mode plus the range).
func partitionArgs(rep *manifest.Replication, plan []planned, p *engine.Partition) ([]string, error) {
	if !p.HasWindow() {
		return nil, nil
	}
	allBackfill, allIncremental := true, true
	for _, pl := range plan {
		s := findStream(rep, pl.stream)
		if s == nil {
			return nil, fmt.Errorf("sling %s: stream %s is no longer in the file", rep.File, pl.stream)
		}
		c := &s.Config
		if s.Ref.File {
			// Sling applies --range (and where) only to database
			// sources: a file stream would load the whole file into
			// every window.
			return nil, fileWindowError(rep, s, "the time window "+p.Key)
		}
		if c.UpdateKey == "" {
			return nil, fmt.Errorf("%s:%d: stream %s cannot load the time window %s: add update_key (the column the window filters on)", rep.File, s.Line, s.Name, p.Key)
		}
		if len(c.PrimaryKey) == 0 {
			allBackfill = false
		}
		if c.Mode != manifest.ModeIncremental && c.Mode != manifest.ModeBackfill {
			allIncremental = false
		}
	}
	rg := Range(p.Start, p.End)
	switch {
	case allBackfill:
		return []string{"--mode", manifest.ModeBackfill, "--range", rg}, nil
	case allIncremental:
		return []string{"--range", rg}, nil
	}
	return nil, fmt.Errorf("sling %s: a time window needs every selected stream to have primary_key and update_key (backfill), or to be incremental with update_key", rep.File)
}

// findStream finds a planned stream in the file: by name, or the wildcard
// stream a discovered table came from.
func findStream(rep *manifest.Replication, name string) *manifest.Stream {
	if s, ok := rep.Stream(name); ok {
		return s
	}
	for i := range rep.Streams {
		s := &rep.Streams[i]
		if s.Ref.Wildcard {
			if ok, _ := path.Match(normName(s.Name), normName(name)); ok {
				return s
			}
		}
	}
	return nil
}
