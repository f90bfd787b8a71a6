// Package sling turns the streams of a Sling replication into asset specs,
// with dagster-sling's default rules so a project moving from Dagster keeps
// its asset keys:
//
//   - Key: meta.elt.asset_key or meta.dagster.asset_key when set ("a.b.c",
//     "a/b/c" or a list). Otherwise "target" + the sanitized object the
//     stream itself sets, exactly as written (templates are not rendered,
//     and defaults.object is not used, as in dagster-sling), or the
//     sanitized stream name, split on ".". Only a wildcard expanded into
//     its tables (Options.Expand) renders the object per table.
//     Sanitize: drop double quotes, lower-case, anything outside
//     [a-z0-9_.] becomes "_". public."Transactions" → target/public/transactions.
//   - Deps: meta.*.deps when set, otherwise the sanitized source stream as
//     an external asset (public/accounts), which is where a dbt source of
//     the same table meets it.
//   - Group: meta.elt.group, meta.dagster.group, else the configured group.
//   - Description: the stream's own sql, else meta description, else the
//     stream's description (dagster-sling's order).
//   - Kinds: sling plus meta kinds; tags: Sling tags plus meta tags.
//   - Metadata: replication, stream, mode, keys, connections, object.
//
// Wildcard streams become one asset per entry, or one per discovered
// table when Options.Expand lists them.
package sling

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/eltproject/elt/asset"
	manifest "github.com/eltproject/elt/manifest/sling"
)

// DefaultTargetPrefix is dagster-sling's default first key part.
const DefaultTargetPrefix = "target"

// Options control Translate.
type Options struct {
	// Replication is the replication path as configured; it goes to
	// Spec.Metadata["replication"].
	Replication string
	// Step is the family name that runs these assets (Spec.Step).
	Step string
	// TargetPrefix is the first part of default keys; "target" when empty.
	TargetPrefix string
	// KeyPrefix is prepended to keys derived by default (not to keys set
	// in meta).
	KeyPrefix []string
	// Group is used when meta sets none.
	Group string
	// Lookup resolves upper-case template variables from the environment.
	Lookup manifest.Lookup
	// Expand maps a wildcard stream name (as written) to the concrete
	// stream names discovered for it.
	Expand map[string][]string
}

// Sanitize applies dagster-sling's stream-name sanitizing: quotes
// dropped, lower case, anything outside [a-z0-9_.] replaced by "_".
func Sanitize(s string) string {
	s = strings.ToLower(strings.ReplaceAll(s, `"`, ""))
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}

// dottedKey splits a dotted name into a key, dropping empty parts.
func dottedKey(s string, prefix ...string) (asset.Key, error) {
	parts := slices.Clone(prefix)
	for _, p := range strings.Split(s, ".") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == len(prefix) {
		return asset.Key{}, fmt.Errorf("%q gives an empty asset key", s)
	}
	return asset.NewKey(parts...)
}

// Translate returns one spec per enabled stream (or per discovered table
// of a wildcard stream), followed by external specs for the default deps.
// Errors name the file:line of the stream.
func Translate(r *manifest.Replication, opts Options) ([]asset.Spec, error) {
	if opts.TargetPrefix == "" {
		opts.TargetPrefix = DefaultTargetPrefix
	}
	var specs, externals []asset.Spec
	seen := map[asset.Key]string{}
	extSeen := map[asset.Key]bool{}
	for i := range r.Streams {
		s := &r.Streams[i]
		if !s.Enabled() {
			continue
		}
		names := []string{s.Name}
		if s.Ref.Wildcard && len(opts.Expand[s.Name]) > 0 {
			names = opts.Expand[s.Name]
		}
		for _, name := range names {
			st := *s
			if name != s.Name {
				st.Ref = manifest.ParseStreamName(name)
			}
			spec, defDep, err := translateStream(r, &st, name, opts, false)
			if err != nil {
				return nil, err
			}
			if prev, dup := seen[spec.Key]; dup && spec.Metadata["key_from"] == "object" {
				// Two streams loading one table (r.57 does: a full
				// refresh then an incremental into the same object):
				// the later one is keyed by its stream name instead.
				spec, defDep, err = translateStream(r, &st, name, opts, true)
				if err != nil {
					return nil, err
				}
				spec.Metadata["shares_object_with"] = prev
			}
			if prev, dup := seen[spec.Key]; dup {
				return nil, fmt.Errorf("%s: asset key %s is also produced by %s; set meta.elt.asset_key on one of them", spec.Origin, spec.Key, prev)
			}
			seen[spec.Key] = spec.Origin
			specs = append(specs, spec)
			if !defDep.IsZero() && !extSeen[defDep] {
				extSeen[defDep] = true
				externals = append(externals, asset.Spec{
					Key:         defDep,
					External:    true,
					Kinds:       []string{"sling_source"},
					Description: fmt.Sprintf("source of Sling stream %s (connection %s)", name, r.Source),
					Metadata:    map[string]any{"connection": r.Source, "source_stream": name},
					Origin:      spec.Origin,
				})
			}
		}
	}
	return append(specs, externals...), nil
}

func translateStream(r *manifest.Replication, s *manifest.Stream, name string, opts Options, byName bool) (asset.Spec, asset.Key, error) {
	c := &s.Config
	origin := fmt.Sprintf("%s:%d (sling stream %s)", r.File, s.Line, s.Name)
	fail := func(format string, a ...any) (asset.Spec, asset.Key, error) {
		return asset.Spec{}, asset.Key{}, fmt.Errorf("%s:%d: stream %s: %s", r.File, s.Line, s.Name, fmt.Sprintf(format, a...))
	}
	elt, dag := c.MetaSection("elt"), c.MetaSection("dagster")
	pick := func(k string) any {
		if v, ok := elt[k]; ok && v != nil {
			return v
		}
		if v, ok := dag[k]; ok && v != nil {
			return v
		}
		return nil
	}
	named := *s
	named.Name = name
	vars := r.Vars(&named)
	object, left := manifest.Render(c.Object, vars, opts.Lookup)

	// Key.
	var key asset.Key
	var err error
	keyFrom := "stream"
	if v := pick("asset_key"); v != nil {
		keyFrom = "meta"
		key, err = keyFromMeta(v)
		if err != nil {
			return fail("meta asset_key: %v", err)
		}
	} else {
		// dagster-sling keys on the stream's own object exactly as
		// written (templates are not rendered: `{stream_table}` becomes
		// `_stream_table_`), else the stream name; a team moving from
		// Dagster keeps its keys. The rendered object is in metadata.
		// A wildcard expanded into its tables (expand_wildcards, which
		// dagster-sling does not do) renders the object per table, or
		// every table would get the same key.
		base := name
		if own := s.Own.Object; own != "" && !byName {
			base, keyFrom = own, "object"
			if name != s.Name {
				if r, _ := manifest.Render(own, vars, opts.Lookup); r != "" && !manifest.IsTemplate(r) {
					base = r
				}
			}
		}
		prefix := append(slices.Clone(opts.KeyPrefix), opts.TargetPrefix)
		key, err = dottedKey(Sanitize(base), prefix...)
		if err != nil {
			return fail("%v", err)
		}
	}

	// Deps.
	var deps []asset.Key
	var defDep asset.Key
	if v := pick("deps"); v != nil {
		list, ok := toStrings(v)
		if !ok {
			return fail("meta deps must be a key or a list of keys")
		}
		for _, d := range list {
			k, err := keyFromMeta(d)
			if err != nil {
				return fail("meta deps: %v", err)
			}
			deps = append(deps, k)
		}
	} else {
		defDep, err = dottedKey(Sanitize(name))
		if err != nil {
			return fail("%v", err)
		}
		deps = []asset.Key{defDep}
	}

	group := opts.Group
	if g, ok := pick("group").(string); ok && g != "" {
		group = g
	}
	desc := s.Own.SQL
	if desc == "" {
		if d, ok := pick("description").(string); ok {
			desc = d
		}
	}
	if desc == "" {
		desc = c.Description
	}
	kinds := []string{"sling"}
	if k, ok := toStrings(pick("kinds")); ok {
		kinds = append(kinds, k...)
	}
	owners, _ := toStrings(pick("owners"))
	tags := slices.Clone(c.Tags)
	tags = append(tags, metaTags(pick("tags"))...)

	md := map[string]any{
		"replication": opts.Replication,
		"stream":      name,
		"source":      r.Source,
		"target":      r.Target,
		"mode":        orDefault(c.Mode, manifest.ModeFullRefresh),
		"key_from":    keyFrom,
	}
	if name != s.Name {
		md["stream_pattern"] = s.Name
	} else if s.Ref.Wildcard {
		md["wildcard"] = true
	}
	if c.Object != "" {
		md["object"] = object
		if object != c.Object {
			md["object_template"] = c.Object
		}
		if len(left) > 0 {
			md["runtime_vars"] = left
		}
	}
	if len(c.PrimaryKey) > 0 {
		md["primary_key"] = c.PrimaryKey
	}
	if c.UpdateKey != "" {
		md["update_key"] = c.UpdateKey
	}
	if rg := c.Range(); rg != "" {
		md["range"] = rg
	}
	if s.Own.SQL != "" || c.SQL != "" {
		md["custom_sql"] = true
	}
	if fp := pick("freshness_policy"); fp != nil {
		md["freshness_policy"] = fp
	}
	partitions, _ := pick("partitions").(string)

	spec := asset.Spec{
		Key:         key,
		Deps:        deps,
		Group:       group,
		Kinds:       kinds,
		Owners:      owners,
		Tags:        tags,
		Description: strings.TrimSpace(desc),
		Metadata:    md,
		Partitions:  partitions,
		Step:        opts.Step,
		Origin:      origin,
		CodeVersion: codeVersion(r, c),
	}
	spec.Normalize()
	return spec, defDep, nil
}

func keyFromMeta(v any) (asset.Key, error) {
	switch x := v.(type) {
	case string:
		if strings.Contains(x, "/") {
			return asset.ParseKey(x)
		}
		return dottedKey(x)
	case []any:
		parts, ok := toStrings(x)
		if !ok {
			return asset.Key{}, fmt.Errorf("a key list must hold text parts")
		}
		return asset.NewKey(parts...)
	}
	return asset.Key{}, fmt.Errorf("want \"a.b\", \"a/b\" or a list of parts, not %v", v)
}

func toStrings(v any) ([]string, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case string:
		return []string{x}, true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// metaTags accepts a list of tags or dagster's map of tag → value ("k=v").
func metaTags(v any) []string {
	if l, ok := toStrings(v); ok {
		return l
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	keys := slices.Sorted(maps.Keys(m))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if s := fmt.Sprint(m[k]); s != "" && m[k] != nil {
			out = append(out, k+"="+s)
		} else {
			out = append(out, k)
		}
	}
	return out
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// codeVersion hashes what changes the data a stream produces.
func codeVersion(r *manifest.Replication, c *manifest.StreamConfig) string {
	v := map[string]any{
		"source": r.Source, "target": r.Target, "mode": c.Mode, "object": c.Object,
		"select": c.Select, "where": c.Where, "primary_key": c.PrimaryKey,
		"update_key": c.UpdateKey, "sql": c.SQL, "columns": c.Columns,
		"transforms": c.Transforms, "source_options": c.SourceOptions,
		"target_options": c.TargetOptions,
	}
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(fmt.Sprint(v))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Streams returns the stream names of specs from replication, sorted;
// a helper for messages listing what a file offers.
func Streams(specs []asset.Spec, replication string) []string {
	var out []string
	for i := range specs {
		s := &specs[i]
		if s.External || s.Metadata["replication"] != replication {
			continue
		}
		if n, ok := s.Metadata["stream"].(string); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}
