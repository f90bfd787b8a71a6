package asset

import (
	"slices"
	"strings"
)

// Spec describes one asset: what it is, what it depends on, who owns it and
// which checks validate it. Specs come from elt.yaml and from the
// translators of dbt, Sling and dlt metadata.
type Spec struct {
	Key         Key
	Deps        []Key
	Group       string
	Kinds       []string
	Owners      []string
	Tags        []string
	Description string
	// Metadata is free-form, JSON-serialisable data shown to users
	// (relation name, columns, code version, …).
	Metadata map[string]any
	Checks   []CheckSpec
	// Partitions names the partitions definition the asset is split by.
	Partitions string
	// External marks an asset elt knows but does not materialize, such as a
	// dbt source or the source table of a Sling stream.
	External bool
	// Step names the step family that materializes the asset, such as
	// "command:raw/orders" or "dbt:jaffle_shop". Assets sharing a family
	// that can run together become one multi-asset step. Empty for external
	// assets.
	Step string
	// Origin says where the asset was defined, for error messages:
	// "elt.yaml:12" or "dbt model.jaffle_shop.orders (models/orders.sql)".
	Origin string
	// CodeVersion changes when the definition that produces the asset
	// changes (a SQL checksum, a command line); used to find stale assets.
	CodeVersion string
}

// CheckSpec describes a check of an asset's data. A failed blocking check
// stops everything downstream of its asset.
type CheckSpec struct {
	Name        string
	Blocking    bool
	Description string
	// Severity is "error" or "warn"; a failing warn check never blocks.
	Severity string
	// Runner names who evaluates the check: "" when the asset's own step
	// reports it (a dbt test in `dbt build`, a script's events), otherwise
	// the engine runs it after the materialization (for example "duckdb").
	Runner string
	// Metadata carries what the runner needs and what users see.
	Metadata map[string]any
}

// HasTag reports whether the spec carries tag t.
func (s *Spec) HasTag(t string) bool { return slices.Contains(s.Tags, t) }

// Check returns the check named name and whether it exists.
func (s *Spec) Check(name string) (CheckSpec, bool) {
	for _, c := range s.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return CheckSpec{}, false
}

// Normalize sorts and de-duplicates the list fields so specs compare and
// print deterministically.
func (s *Spec) Normalize() {
	s.Deps = uniqKeys(s.Deps)
	s.Kinds = uniqStrings(s.Kinds)
	s.Owners = uniqStrings(s.Owners)
	s.Tags = uniqStrings(s.Tags)
}

func uniqStrings(in []string) []string {
	if len(in) == 0 {
		return in
	}
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

func uniqKeys(in []Key) []Key {
	if len(in) == 0 {
		return in
	}
	out := slices.Clone(in)
	slicesSortFunc(out)
	return slices.CompactFunc(out, func(a, b Key) bool { return a == b })
}

func slicesSortFunc(keys []Key) {
	slices.SortFunc(keys, func(a, b Key) int { return strings.Compare(a.path, b.path) })
}
