package engine

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/eltproject/elt/asset"
)

// Step is a unit of execution: one runner call materializing one or more
// assets of one family.
type Step struct {
	ID     string      `json:"id"`
	Family string      `json:"family"`
	Kind   string      `json:"kind"`
	Assets []asset.Key `json:"assets"`
	// Deps are the ids of steps that must finish first.
	Deps  []string `json:"deps"`
	Pools []string `json:"pools,omitempty"`
	// Level is the step's depth in the step graph; steps of one level can
	// run in parallel.
	Level int `json:"level"`
}

// Plan is the ordered list of steps for a selection.
type Plan struct {
	Steps []*Step `json:"steps"`
	// Skipped lists selected assets that are not materialized: external
	// assets such as dbt sources.
	Skipped []asset.Key `json:"external,omitempty"`
}

// PlanError reports assets that cannot be planned.
type PlanError struct{ Problems []string }

func (e *PlanError) Error() string { return strings.Join(e.Problems, "\n") }

// NewPlan turns the selected assets of g into steps. Assets of a Multi
// family become one step, split where another family's assets sit between
// them (dbt model → Sling stream → dbt model) so the step graph stays
// acyclic. External assets are left out; an asset with no family is an
// error.
func NewPlan(g *asset.Graph, families map[string]*Family, selected asset.Set) (*Plan, error) {
	specs := g.SetSpecs(selected)
	plan := &Plan{}
	var problems []string
	var run []*asset.Spec
	for _, s := range specs {
		switch {
		case s.External:
			plan.Skipped = append(plan.Skipped, s.Key)
		case s.Step == "":
			problems = append(problems, fmt.Sprintf("asset %s (%s) has nothing that materializes it: give it a command, sql or import", s.Key, s.Origin))
		case families[s.Step] == nil:
			problems = append(problems, fmt.Sprintf("asset %s (%s): unknown step family %q", s.Key, s.Origin, s.Step))
		default:
			run = append(run, s)
		}
	}
	if len(problems) > 0 {
		return nil, &PlanError{Problems: problems}
	}
	inPlan := make(map[asset.Key]bool, len(run))
	for _, s := range run {
		inPlan[s.Key] = true
	}
	// crossings(a) counts family changes on the longest path into a within
	// the plan. A multi family's assets with equal crossings form one step;
	// every edge between different steps raises crossings, so no cycle.
	crossings := make(map[asset.Key]int, len(run))
	// Upstream assets in the plan, looking through unselected ones would
	// change semantics: deps outside the selection are taken as done.
	for _, s := range run {
		c := 0
		for _, d := range g.DirectDeps(s.Key) {
			if !inPlan[d] {
				continue
			}
			ds, _ := g.Spec(d)
			v := crossings[d]
			if ds.Step != s.Step || !families[s.Step].Multi {
				v++
			}
			c = max(c, v)
		}
		crossings[s.Key] = c
	}
	stepOf := make(map[asset.Key]*Step, len(run))
	byGroup := map[string]*Step{}
	multiCount := map[string]map[int]bool{}
	for _, s := range run {
		f := families[s.Step]
		if f.Multi {
			if multiCount[f.Name] == nil {
				multiCount[f.Name] = map[int]bool{}
			}
			multiCount[f.Name][crossings[s.Key]] = true
		}
	}
	for _, s := range run {
		f := families[s.Step]
		var st *Step
		if f.Multi {
			gk := f.Name + "\x00" + strconv.Itoa(crossings[s.Key])
			st = byGroup[gk]
			if st == nil {
				// A command asset with outputs is named after its key.
				id := safeID(strings.TrimPrefix(f.Name, "asset:"))
				if len(multiCount[f.Name]) > 1 {
					id += "_" + strconv.Itoa(crossings[s.Key])
				}
				st = &Step{ID: id, Family: f.Name, Kind: f.Kind, Pools: f.Pools, Deps: []string{}}
				byGroup[gk] = st
				plan.Steps = append(plan.Steps, st)
			}
		} else {
			st = &Step{ID: safeID(s.Key.String()), Family: f.Name, Kind: f.Kind, Pools: f.Pools, Deps: []string{}}
			plan.Steps = append(plan.Steps, st)
		}
		st.Assets = append(st.Assets, s.Key)
		stepOf[s.Key] = st
	}
	// Unique ids: single-asset ids from different keys may collide after
	// sanitising.
	seen := map[string]int{}
	for _, st := range plan.Steps {
		if n := seen[st.ID]; n > 0 {
			seen[st.ID] = n + 1
			st.ID += "~" + strconv.Itoa(n+1)
		} else {
			seen[st.ID] = 1
		}
	}
	for _, s := range run {
		st := stepOf[s.Key]
		for _, d := range g.DirectDeps(s.Key) {
			if ds := stepOf[d]; ds != nil && ds != st && !slices.Contains(st.Deps, ds.ID) {
				st.Deps = append(st.Deps, ds.ID)
			}
		}
	}
	// Order steps topologically with levels.
	byID := make(map[string]*Step, len(plan.Steps))
	for _, st := range plan.Steps {
		byID[st.ID] = st
	}
	ordered := make([]*Step, 0, len(plan.Steps))
	done := map[string]bool{}
	var visit func(*Step) int
	visit = func(st *Step) int {
		if done[st.ID] {
			return st.Level
		}
		lvl := 0
		for _, d := range st.Deps {
			lvl = max(lvl, visit(byID[d])+1)
		}
		st.Level = lvl
		done[st.ID] = true
		ordered = append(ordered, st)
		return lvl
	}
	for _, st := range plan.Steps {
		visit(st)
	}
	slices.SortStableFunc(ordered, func(a, b *Step) int { return a.Level - b.Level })
	plan.Steps = ordered
	return plan, nil
}

// safeID turns a key or family name into a file-name-safe step id.
func safeID(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
			b.WriteRune(r)
		case r == '/':
			b.WriteByte('.')
		default:
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "step"
	}
	return b.String()
}

// Step returns the step with id.
func (p *Plan) Step(id string) *Step {
	for _, s := range p.Steps {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// AssetCount counts the assets the plan materializes.
func (p *Plan) AssetCount() int {
	n := 0
	for _, s := range p.Steps {
		n += len(s.Assets)
	}
	return n
}
