package dbt

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/tidwall/gjson"
)

// State sub-selectors, as in dbt's state:modified.<sub>.
const (
	StateBody                  = "body"
	StateConfigs               = "configs"
	StateRelation              = "relation"
	StatePersistedDescriptions = "persisted_descriptions"
	StateMacros                = "macros"
	StateContract              = "contract"
)

// StateSubSelectors lists the sub-selectors Modified accepts besides "".
func StateSubSelectors() []string {
	return []string{StateBody, StateConfigs, StateRelation, StatePersistedDescriptions, StateMacros, StateContract}
}

// StateDiff is what changed between a previous manifest and the current
// one, by unique_id, following dbt's state:new and state:modified.
type StateDiff struct {
	// New holds resources absent from the previous manifest.
	New map[string]bool
	// modified maps a sub-selector ("" for the whole of state:modified) to
	// its unique_ids.
	modified map[string]map[string]bool
}

// Modified returns the unique_ids selected by state:modified (sub "" or
// "modified") or by one of its sub-selectors: "body", "configs",
// "relation", "persisted_descriptions", "macros", "contract" (also accepted
// with a "modified." prefix). As in dbt, new resources count as modified
// for every sub-selector except "macros". An unknown sub gives nil.
func (d *StateDiff) Modified(sub string) map[string]bool {
	sub = strings.TrimPrefix(strings.TrimPrefix(sub, "modified"), ".")
	return d.modified[sub]
}

// Compare computes state:new and state:modified of cur against prev: the
// manifest of the last production run, as in dbt's --state.
//
// A node is modified when its body changed (raw code; checksum for seeds),
// its unrendered config changed (ignoring alias, schema, database, tags
// and group; tests compare only severity, where, limit, fail_calc, warn_if,
// error_if, store_failures), its configured relation changed (database,
// schema, alias), a persisted description changed (only with persist_docs),
// its fqn changed, its enforced contract changed, or a macro it depends on,
// directly or through other macros, was added, removed or changed its SQL.
func Compare(cur, prev *Manifest) *StateDiff {
	d := &StateDiff{New: map[string]bool{}, modified: map[string]map[string]bool{"": {}}}
	for _, s := range StateSubSelectors() {
		d.modified[s] = map[string]bool{}
	}
	mark := func(sub, id string) {
		d.modified[sub][id] = true
		d.modified[""][id] = true
	}
	mc := newMacroChecker(cur, prev)
	for id, n := range cur.Nodes {
		if mc.changedAny(n.DependsOn.Macros) {
			mark(StateMacros, id)
		}
		old, ok := prev.Nodes[id]
		if !ok {
			d.markNew(id)
			continue
		}
		if !sameBody(n, old) {
			mark(StateBody, id)
		}
		if !sameNodeConfig(n, old) {
			mark(StateConfigs, id)
		}
		if !sameKeys(n.Unrendered, old.Unrendered, "database", "schema", "alias") {
			mark(StateRelation, id)
		}
		if !samePersistedDescription(n, old) {
			mark(StatePersistedDescriptions, id)
		}
		if n.ResourceType == "model" && !sameContract(n, old) {
			mark(StateContract, id)
		}
		if !equalStrings(n.FQN, old.FQN) {
			d.modified[""][id] = true
		}
	}
	for id, s := range cur.Sources {
		old, ok := prev.Sources[id]
		if !ok {
			d.markNew(id)
			continue
		}
		if s.Database != old.Database || s.Schema != old.Schema || s.Identifier != old.Identifier {
			mark(StateRelation, id)
		}
		if !sameConfig(s.Unrendered, old.Unrendered, excludedConfigKey) {
			mark(StateConfigs, id)
		}
		if s.stateHash != old.stateHash || !equalStrings(s.FQN, old.FQN) {
			d.modified[""][id] = true
		}
	}
	for id, e := range cur.Exposures {
		old, ok := prev.Exposures[id]
		if !ok {
			d.markNew(id)
			continue
		}
		if e.stateHash != old.stateHash {
			d.modified[""][id] = true
		}
	}
	return d
}

// markNew records a resource absent from the previous state: dbt selects
// it for state:new, state:modified and every sub-selector but macros.
func (d *StateDiff) markNew(id string) {
	d.New[id] = true
	for sub, set := range d.modified {
		if sub != StateMacros {
			set[id] = true
		}
	}
}

func sameBody(n, old *Node) bool {
	if n.ResourceType == "seed" {
		return n.Checksum == old.Checksum
	}
	return n.RawCodeHash == old.RawCodeHash
}

// testConfigKeys are the only config keys dbt compares for tests.
var testConfigKeys = []string{"severity", "where", "limit", "fail_calc", "warn_if", "error_if", "store_failures"}

func sameNodeConfig(n, old *Node) bool {
	if n.ResourceType == "test" {
		return sameKeys(n.Unrendered, old.Unrendered, testConfigKeys...)
	}
	return sameConfig(n.Unrendered, old.Unrendered, excludedConfigKey)
}

// excludedConfigKey reports config keys dbt leaves out of config
// comparison: alias, schema and database belong to the relation, tags and
// group are compared elsewhere.
func excludedConfigKey(k string) bool {
	switch k {
	case "alias", "schema", "database", "tags", "group":
		return true
	}
	return false
}

// sameConfig compares two config objects key by key, ignoring excluded
// keys; a key present in one and absent in the other is a difference.
func sameConfig(a, b string, excluded func(string) bool) bool {
	if a == b {
		return true
	}
	ra, rb := gjson.Parse(orEmptyObject(a)), gjson.Parse(orEmptyObject(b))
	same := true
	ra.ForEach(func(k, va gjson.Result) bool {
		if excluded(k.Str) {
			return true
		}
		vb := rb.Get(gjson.Escape(k.Str))
		if !vb.Exists() || !jsonEqual(va, vb) {
			same = false
		}
		return same
	})
	if !same {
		return false
	}
	rb.ForEach(func(k, _ gjson.Result) bool {
		if !excluded(k.Str) && !ra.Get(gjson.Escape(k.Str)).Exists() {
			same = false
		}
		return same
	})
	return same
}

// sameKeys compares only the given keys of two config objects; absent on
// both sides is equal.
func sameKeys(a, b string, keys ...string) bool {
	if a == b {
		return true
	}
	ra, rb := gjson.Parse(orEmptyObject(a)), gjson.Parse(orEmptyObject(b))
	for _, k := range keys {
		va, vb := ra.Get(k), rb.Get(k)
		if va.Exists() != vb.Exists() || (va.Exists() && !jsonEqual(va, vb)) {
			return false
		}
	}
	return true
}

func orEmptyObject(s string) string {
	if s == "" {
		return "{}"
	}
	return s
}

func jsonEqual(a, b gjson.Result) bool {
	if a.Raw == b.Raw {
		return true
	}
	return reflect.DeepEqual(toAny(a), toAny(b))
}

func samePersistedDescription(n, old *Node) bool {
	if n.Config.PersistDocs.Relation && n.Description != old.Description {
		return false
	}
	if n.Config.PersistDocs.Columns {
		if len(n.Columns) != len(old.Columns) {
			return false
		}
		prev := make(map[string]string, len(old.Columns))
		for _, c := range old.Columns {
			prev[c.Name] = c.Description
		}
		for _, c := range n.Columns {
			if d, ok := prev[c.Name]; !ok || d != c.Description {
				return false
			}
		}
	}
	return true
}

// sameContract follows dbt: unenforced on both sides is the same; newly
// enforced is a change; enforced on both compares the contract checksum.
func sameContract(n, old *Node) bool {
	switch {
	case !old.Contract.Enforced && !n.Contract.Enforced:
		return true
	case !old.Contract.Enforced && n.Contract.Enforced:
		return false
	case n.Contract.Enforced && n.Contract.Checksum == old.Contract.Checksum:
		return true
	}
	return false
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// macroChecker answers whether any macro in a dependency list, or any
// macro those depend on, was added, removed or changed.
type macroChecker struct {
	cur     map[string]*Macro
	changed map[string]bool // macro changed itself
	memo    map[string]int8 // 0 unknown, 1 clean, 2 dirty, 3 in progress
}

func newMacroChecker(cur, prev *Manifest) *macroChecker {
	mc := &macroChecker{cur: cur.Macros, changed: map[string]bool{}, memo: map[string]int8{}}
	for id, m := range cur.Macros {
		if o, ok := prev.Macros[id]; !ok || o.Checksum != m.Checksum {
			mc.changed[id] = true
		}
	}
	for id := range prev.Macros {
		if _, ok := cur.Macros[id]; !ok {
			mc.changed[id] = true
		}
	}
	return mc
}

func (mc *macroChecker) changedAny(ids []string) bool {
	for _, id := range ids {
		if mc.dirty(id) {
			return true
		}
	}
	return false
}

func (mc *macroChecker) dirty(id string) bool {
	switch mc.memo[id] {
	case 1, 3:
		return false
	case 2:
		return true
	}
	if mc.changed[id] {
		mc.memo[id] = 2
		return true
	}
	mc.memo[id] = 3
	m, ok := mc.cur[id]
	res := ok && mc.changedAny(m.DependsOn)
	if res {
		mc.memo[id] = 2
	} else {
		mc.memo[id] = 1
	}
	return res
}

// String summarizes the diff for messages.
func (d *StateDiff) String() string {
	return fmt.Sprintf("%d new, %d modified", len(d.New), len(d.modified[""]))
}
