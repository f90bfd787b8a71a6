package asset

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
)

// Graph is the asset graph: every spec, indexed, with edges from each asset
// to its deps (upstream) and dependents (downstream). A Graph is immutable
// once built and safe for concurrent reads.
type Graph struct {
	specs []*Spec
	index map[Key]int
	up    [][]int32 // up[i]: indices of i's deps
	down  [][]int32 // down[i]: indices of assets that depend on i
	topo  []int32   // topological order, deps first
	level []int32   // longest path from a root
}

// GraphOptions tune how a Graph is built.
type GraphOptions struct {
	// StrictDeps makes a dep on an unknown key an error instead of an
	// implicit external asset.
	StrictDeps bool
}

// DuplicateKeyError reports two definitions of one key.
type DuplicateKeyError struct {
	Key           Key
	First, Second string // origins
}

func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("asset %s is defined twice: %s and %s; give one of them another key", e.Key, orUnknown(e.First), orUnknown(e.Second))
}

// CycleError reports a dependency cycle.
type CycleError struct {
	Cycle []Key // first key repeated at the end
}

func (e *CycleError) Error() string {
	parts := make([]string, len(e.Cycle))
	for i, k := range e.Cycle {
		parts[i] = k.String()
	}
	return "dependency cycle: " + strings.Join(parts, " -> ") + "; remove one of these deps"
}

// UnknownDepError reports a dep on a key no asset defines, under StrictDeps.
type UnknownDepError struct {
	Asset, Dep Key
	Origin     string
}

func (e *UnknownDepError) Error() string {
	return fmt.Sprintf("%s: asset %s depends on %s, which no asset defines (deps must resolve in this project)", orUnknown(e.Origin), e.Asset, e.Dep)
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown origin)"
	}
	return s
}

// NewGraph builds the graph of specs. A dep on an unknown key becomes an
// external asset unless opts.StrictDeps is set. Duplicate keys and cycles
// are errors; all duplicate and unknown-dep errors are returned together.
func NewGraph(specs []Spec, opts GraphOptions) (*Graph, error) {
	g := &Graph{index: make(map[Key]int, len(specs))}
	g.specs = make([]*Spec, 0, len(specs))
	var errs []error
	for i := range specs {
		s := &specs[i]
		if s.Key.IsZero() {
			errs = append(errs, fmt.Errorf("%s: asset has an empty key", orUnknown(s.Origin)))
			continue
		}
		if j, ok := g.index[s.Key]; ok {
			prev := g.specs[j]
			// An external placeholder yields to a real definition.
			switch {
			case prev.External && !s.External:
				g.specs[j] = s
			case s.External && !prev.External, s.External && prev.External:
			default:
				errs = append(errs, &DuplicateKeyError{Key: s.Key, First: prev.Origin, Second: s.Origin})
			}
			continue
		}
		g.index[s.Key] = len(g.specs)
		g.specs = append(g.specs, s)
	}
	// Resolve deps, adding implicit externals.
	n := len(g.specs)
	for i := 0; i < n; i++ {
		s := g.specs[i]
		for _, d := range s.Deps {
			if _, ok := g.index[d]; ok {
				continue
			}
			if opts.StrictDeps {
				errs = append(errs, &UnknownDepError{Asset: s.Key, Dep: d, Origin: s.Origin})
				continue
			}
			g.index[d] = len(g.specs)
			g.specs = append(g.specs, &Spec{Key: d, External: true, Origin: "dep of " + s.Key.String()})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	n = len(g.specs)
	g.up = make([][]int32, n)
	g.down = make([][]int32, n)
	indeg := make([]int32, n)
	for i, s := range g.specs {
		if len(s.Deps) == 0 {
			continue
		}
		ups := make([]int32, 0, len(s.Deps))
		for _, d := range s.Deps {
			j := int32(g.index[d])
			if j == int32(i) {
				return nil, &CycleError{Cycle: []Key{s.Key, s.Key}}
			}
			ups = append(ups, j)
		}
		slices.Sort(ups)
		ups = slices.Compact(ups)
		g.up[i] = ups
		indeg[i] = int32(len(ups))
		for _, j := range ups {
			g.down[j] = append(g.down[j], int32(i))
		}
	}
	// Kahn's algorithm; ties broken by insertion order for stable output.
	g.topo = make([]int32, 0, n)
	g.level = make([]int32, n)
	for i := 0; i < n; i++ {
		if indeg[i] == 0 {
			g.topo = append(g.topo, int32(i))
		}
	}
	for h := 0; h < len(g.topo); h++ {
		i := g.topo[h]
		for _, j := range g.down[i] {
			if l := g.level[i] + 1; l > g.level[j] {
				g.level[j] = l
			}
			indeg[j]--
			if indeg[j] == 0 {
				g.topo = append(g.topo, j)
			}
		}
	}
	if len(g.topo) != n {
		return nil, &CycleError{Cycle: g.findCycle(indeg)}
	}
	return g, nil
}

// findCycle returns one cycle among the nodes Kahn's algorithm left with
// positive in-degree.
func (g *Graph) findCycle(indeg []int32) []Key {
	// Walk upstream from a stuck node through stuck deps until a node
	// repeats; every stuck node has at least one stuck dep.
	start := -1
	for i, d := range indeg {
		if d > 0 {
			start = i
			break
		}
	}
	seen := map[int]int{}
	var path []int
	cur := start
	for {
		if at, ok := seen[cur]; ok {
			cyc := path[at:]
			// path walks upstream; print in dependency direction a -> b
			// meaning a depends on b.
			keys := make([]Key, 0, len(cyc)+1)
			for _, i := range cyc {
				keys = append(keys, g.specs[i].Key)
			}
			keys = append(keys, g.specs[cyc[0]].Key)
			return keys
		}
		seen[cur] = len(path)
		path = append(path, cur)
		next := -1
		for _, j := range g.up[cur] {
			if indeg[j] > 0 {
				next = int(j)
				break
			}
		}
		if next < 0 { // cannot happen for a stuck node; be safe
			return []Key{g.specs[cur].Key}
		}
		cur = next
	}
}

// Len returns the number of assets, external ones included.
func (g *Graph) Len() int { return len(g.specs) }

// Spec returns the spec of key.
func (g *Graph) Spec(k Key) (*Spec, bool) {
	i, ok := g.index[k]
	if !ok {
		return nil, false
	}
	return g.specs[i], true
}

// Has reports whether the graph has an asset with key k.
func (g *Graph) Has(k Key) bool { _, ok := g.index[k]; return ok }

// Specs returns every spec in topological order (deps first).
func (g *Graph) Specs() []*Spec {
	out := make([]*Spec, len(g.topo))
	for i, j := range g.topo {
		out[i] = g.specs[j]
	}
	return out
}

// Keys returns every key in topological order.
func (g *Graph) Keys() []Key {
	out := make([]Key, len(g.topo))
	for i, j := range g.topo {
		out[i] = g.specs[j].Key
	}
	return out
}

// Level returns the length of the longest dependency path from a root to k;
// roots are level 0.
func (g *Graph) Level(k Key) int {
	i, ok := g.index[k]
	if !ok {
		return -1
	}
	return int(g.level[i])
}

// Levels groups keys by level, in topological order within a level.
func (g *Graph) Levels() [][]Key {
	var out [][]Key
	for _, i := range g.topo {
		l := int(g.level[i])
		for len(out) <= l {
			out = append(out, nil)
		}
		out[l] = append(out[l], g.specs[i].Key)
	}
	return out
}

// Upstream returns the deps of k up to depth levels away (depth < 0: all),
// not including k, in topological order.
func (g *Graph) Upstream(k Key, depth int) []Key {
	s := g.NewSet()
	if i, ok := g.index[k]; ok {
		g.walk(s, int32(i), depth, g.up)
	}
	return g.SetKeys(s)
}

// Downstream returns the assets depending on k up to depth levels away
// (depth < 0: all), not including k, in topological order.
func (g *Graph) Downstream(k Key, depth int) []Key {
	s := g.NewSet()
	if i, ok := g.index[k]; ok {
		g.walk(s, int32(i), depth, g.down)
	}
	return g.SetKeys(s)
}

// DirectDeps returns the immediate deps of k.
func (g *Graph) DirectDeps(k Key) []Key {
	i, ok := g.index[k]
	if !ok {
		return nil
	}
	out := make([]Key, len(g.up[i]))
	for n, j := range g.up[i] {
		out[n] = g.specs[j].Key
	}
	return out
}

// walk adds to s every node reachable from start through adj within depth
// hops (depth < 0: unbounded), excluding start itself.
func (g *Graph) walk(s Set, start int32, depth int, adj [][]int32) {
	g.walkFrom(s, []int32{start}, depth, adj)
}

// walkFrom is a breadth-first walk from every node in frontier at once, so
// depth limits are measured from the nearest start and each edge is looked
// at once.
func (g *Graph) walkFrom(s Set, starts []int32, depth int, adj [][]int32) {
	frontier := append([]int32(nil), starts...)
	var next []int32
	for d := 0; len(frontier) > 0 && (depth < 0 || d < depth); d++ {
		next = next[:0]
		for _, i := range frontier {
			for _, j := range adj[i] {
				if !s.has(j) {
					s.add(j)
					next = append(next, j)
				}
			}
		}
		frontier, next = next, frontier
	}
}

// members lists the indices in s.
func (s Set) members() []int32 {
	var out []int32
	for w, word := range s.bits {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			out = append(out, int32(w*64+b))
			word &= word - 1
		}
	}
	return out
}

// Set is a set of assets of one graph, held as a bitset.
type Set struct {
	bits []uint64
}

// NewSet returns an empty set sized for g.
func (g *Graph) NewSet() Set { return Set{bits: make([]uint64, (len(g.specs)+63)/64)} }

// AllSet returns the set of every asset in g.
func (g *Graph) AllSet() Set {
	s := g.NewSet()
	for i := range g.specs {
		s.add(int32(i))
	}
	return s
}

// SetOf returns the set of the given keys; unknown keys are ignored.
func (g *Graph) SetOf(keys ...Key) Set {
	s := g.NewSet()
	for _, k := range keys {
		if i, ok := g.index[k]; ok {
			s.add(int32(i))
		}
	}
	return s
}

// Contains reports whether k is in s.
func (g *Graph) Contains(s Set, k Key) bool {
	i, ok := g.index[k]
	return ok && s.has(int32(i))
}

// SetKeys lists the keys in s in topological order.
func (g *Graph) SetKeys(s Set) []Key {
	out := make([]Key, 0, s.Len())
	for _, i := range g.topo {
		if s.has(i) {
			out = append(out, g.specs[i].Key)
		}
	}
	return out
}

// SetSpecs lists the specs in s in topological order.
func (g *Graph) SetSpecs(s Set) []*Spec {
	out := make([]*Spec, 0, s.Len())
	for _, i := range g.topo {
		if s.has(i) {
			out = append(out, g.specs[i])
		}
	}
	return out
}

func (s Set) has(i int32) bool { return s.bits[i>>6]&(1<<(uint(i)&63)) != 0 }
func (s Set) add(i int32)      { s.bits[i>>6] |= 1 << (uint(i) & 63) }

// Len counts the members of s.
func (s Set) Len() int {
	n := 0
	for _, w := range s.bits {
		n += bits.OnesCount64(w)
	}
	return n
}

// Union returns s ∪ o.
func (s Set) Union(o Set) Set {
	out := Set{bits: slices.Clone(s.bits)}
	for i, w := range o.bits {
		out.bits[i] |= w
	}
	return out
}

// Intersect returns s ∩ o.
func (s Set) Intersect(o Set) Set {
	out := Set{bits: slices.Clone(s.bits)}
	for i, w := range o.bits {
		out.bits[i] &= w
	}
	return out
}

// Minus returns s \ o.
func (s Set) Minus(o Set) Set {
	out := Set{bits: slices.Clone(s.bits)}
	for i, w := range o.bits {
		out.bits[i] &^= w
	}
	return out
}
