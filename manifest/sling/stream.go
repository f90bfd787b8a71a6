package sling

import (
	"os"
	"regexp"
	"slices"
	"strings"
)

// StreamRef is a stream name taken apart the way Sling fills its stream_*
// template variables.
type StreamRef struct {
	// Schema and Table for database streams ("public.users",
	// `public."Transactions"`); quotes are removed, case is kept.
	Schema, Table string
	// File is set for file streams (file://…, s3://…, or a path with "/").
	File bool
	// FileFolder, FileName (without extension) and FileExt for file streams.
	FileFolder, FileName, FileExt, FilePath string
	// Wildcard is set when the name is a pattern (*, ?) that Sling expands.
	Wildcard bool
}

// ParseStreamName parses a stream name as written in a replication file.
func ParseStreamName(name string) StreamRef {
	var r StreamRef
	r.Wildcard = hasWildcard(name)
	if strings.Contains(name, "://") || strings.Contains(name, "/") {
		r.File = true
		p := name
		if i := strings.Index(p, "://"); i >= 0 {
			p = p[i+3:]
		}
		r.FilePath = strings.Trim(p, "/")
		parts := strings.Split(strings.Trim(p, "/"), "/")
		base := parts[len(parts)-1]
		if len(parts) > 1 {
			r.FileFolder = parts[len(parts)-2]
		}
		r.FileName = base
		if dot := strings.Split(base, "."); len(dot) > 1 {
			ext := dot[len(dot)-1]
			if len(dot) >= 3 && slices.Contains([]string{"gz", "zst", "snappy"}, ext) {
				ext = dot[len(dot)-2] + "." + ext
			}
			r.FileExt = strings.ReplaceAll(ext, ".", "_")
			r.FileName = strings.TrimSuffix(base, "."+ext)
		}
		return r
	}
	parts := splitQuoted(name)
	switch len(parts) {
	case 0:
	case 1:
		r.Table = parts[0]
	default:
		r.Schema, r.Table = parts[len(parts)-2], parts[len(parts)-1]
	}
	return r
}

// splitQuoted splits on dots outside double quotes and drops the quotes.
func splitQuoted(s string) []string {
	var parts []string
	var cur strings.Builder
	inQ := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			inQ = !inQ
		case c == '.' && !inQ:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, cur.String())
}

func hasWildcard(s string) bool {
	inQ := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inQ = !inQ
		case '*', '?':
			if !inQ {
				return true
			}
		}
	}
	return false
}

// RuntimeVars are template variables only Sling knows, at run time. They
// stay in rendered text as {name}.
var RuntimeVars = []string{
	"run_timestamp", "timestamp", "execution_id", "incremental_value", "incremental_where_cond",
	"where_clause", "update_key", "primary_key", "fields", "col_types",
	"YYYY", "YY", "MMM", "MM", "DD", "DDD", "HH", "hh", "mm", "ss", "ISO8601",
	"part_year", "part_month", "part_week", "part_day", "part_hour", "part_minute",
	"part_year_month", "target_schema", "object_name", "object_full_name",
}

// Vars returns the template variables known before a run for stream s:
// stream_* (with _lower/_upper variants), source_name, target_name and the
// env block. Process environment variables are consulted by Render for
// upper-case names only.
func (r *Replication) Vars(s *Stream) map[string]string {
	v := map[string]string{
		"stream_name":   strings.ToLower(s.Name),
		"source_name":   r.Source,
		"target_name":   r.Target,
		"stream_schema": s.Ref.Schema,
		"stream_table":  s.Ref.Table,
	}
	if s.Ref.Schema != "" {
		v["stream_full_name"] = s.Ref.Schema + "." + s.Ref.Table
	} else if !s.Ref.File {
		v["stream_full_name"] = s.Ref.Table
	}
	for _, k := range []string{"stream_schema", "stream_table"} {
		v[k+"_lower"] = strings.ToLower(v[k])
		v[k+"_upper"] = strings.ToUpper(v[k])
	}
	if s.Ref.File {
		v["stream_file_folder"] = cleanName(s.Ref.FileFolder)
		v["stream_file_name"] = cleanName(s.Ref.FileName)
		v["stream_file_ext"] = s.Ref.FileExt
		v["stream_file_path"] = cleanName(s.Ref.FilePath)
		v["stream_full_name"] = s.Name
	}
	for _, e := range r.Env {
		if !strings.Contains(e.Value, "$") {
			v[e.Name] = e.Value
		}
	}
	return v
}

var nonWord = regexp.MustCompile(`\W+`)

// cleanName replaces runs of non-word characters with "_", as Sling does
// for file-derived variables.
func cleanName(s string) string { return nonWord.ReplaceAllString(s, "_") }

var templateVar = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_.]*)\}`)

// Render replaces the {var} placeholders of tmpl that vars (or, for
// upper-case names, the process environment via lookup) define, and
// returns the text and the names left for Sling to fill at run time.
func Render(tmpl string, vars map[string]string, lookup Lookup) (string, []string) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var left []string
	out := templateVar.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := m[1 : len(m)-1]
		if val, ok := vars[name]; ok && !slices.Contains(RuntimeVars, name) {
			return val
		}
		if name == strings.ToUpper(name) && !slices.Contains(RuntimeVars, name) {
			if val, ok := lookup(name); ok {
				return val
			}
		}
		if !slices.Contains(left, name) {
			left = append(left, name)
		}
		return m
	})
	return out, left
}
