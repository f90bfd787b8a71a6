package project

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/schedule"
	"github.com/eltproject/elt/store"
)

// Automation is the project's partitions, schedules and sensors.
type Automation struct {
	Partitions map[string]schedule.Definition
	Schedules  []*schedule.Schedule
	Sensors    []*schedule.Sensor
	binding    *storeBinding
}

// storeBinding lets definitions and sensors built at load time read the
// run store once a command opens it.
// Runs of a backfill or the daemon bind concurrently, hence the lock.
type storeBinding struct {
	mu sync.RWMutex
	st store.Store
}

func (b *storeBinding) get() store.Store {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.st
}

func (b *storeBinding) set(st store.Store) {
	b.mu.Lock()
	b.st = st
	b.mu.Unlock()
}

func (b *storeBinding) Partitions(ctx context.Context, def string) ([]string, error) {
	st := b.get()
	if st == nil {
		return nil, fmt.Errorf("dynamic partitions %q need the run store", def)
	}
	return st.Partitions(ctx, def)
}

func (b *storeBinding) materializations(ctx context.Context) (map[asset.Key]time.Time, error) {
	st := b.get()
	if st == nil {
		return nil, fmt.Errorf("asset and freshness sensors need the run store")
	}
	m, err := st.LatestMaterializations(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[asset.Key]time.Time, len(m))
	for k, v := range m {
		out[k] = v.Time
	}
	return out, nil
}

// BindStore gives dynamic partitions and sensors access to the run store.
func (p *Project) BindStore(st store.Store) {
	if p.Automation != nil {
		p.Automation.binding.set(st)
	}
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// loadPartitions decodes `partitions:` (before the graph: assets refer to
// them).
func (p *Project) loadPartitions(root *yaml.Node, probs *problems) {
	a := &Automation{Partitions: map[string]schedule.Definition{}, binding: &storeBinding{}}
	p.Automation = a
	pnode := valueOf(root, "partitions")
	for _, name := range sortedNames(p.Config.Partitions) {
		n := p.Config.Partitions[name]
		var cfg schedule.PartitionsConfig
		if !decodeIntegration(&n, &cfg, "partitions."+name, probs) {
			continue
		}
		def, err := schedule.NewDefinition(name, cfg, a.binding)
		if err != nil {
			probs.addErr(lineOfKey(pnode, name), err)
			continue
		}
		a.Partitions[name] = def
	}
}

// loadAutomation checks asset partitions and decodes schedules and sensors
// (after the graph: they select assets).
func (p *Project) loadAutomation(root *yaml.Node, probs *problems) {
	a := p.Automation
	for _, s := range p.Graph.Specs() {
		if s.Partitions != "" && a.Partitions[s.Partitions] == nil {
			defined := "none are defined"
			if len(a.Partitions) > 0 {
				defined = "defined: " + strings.Join(sortedNames(a.Partitions), ", ")
			}
			if line, ok := p.lineOf(s.Origin); ok {
				probs.add(line, "asset %s uses partitions %q, which partitions: does not define (%s)", s.Key, s.Partitions, defined)
			} else {
				probs.add(0, "%s: asset %s uses partitions %q, which partitions: does not define (%s)", s.Origin, s.Key, s.Partitions, defined)
			}
		}
	}
	snode := valueOf(root, "schedules")
	for _, name := range sortedNames(p.Config.Schedules) {
		n := p.Config.Schedules[name]
		line := lineOfKey(snode, name)
		var cfg schedule.ScheduleConfig
		if !decodeIntegration(&n, &cfg, "schedules."+name, probs) {
			continue
		}
		var def schedule.Definition
		if cfg.Job != "" || cfg.Select != "" {
			sel, err := p.Select(cfg.Job, nonEmpty(cfg.Select), nil)
			if err != nil {
				probs.add(line, "schedule %q: %s", name, bare(err))
				continue
			}
			d, err := p.partitionsOf(sel)
			if err != nil {
				probs.add(line, "schedule %q: %s", name, bare(err))
				continue
			}
			def = d
		}
		s, err := schedule.NewSchedule(name, cfg, def)
		if err != nil {
			probs.addErr(line, err)
			continue
		}
		a.Schedules = append(a.Schedules, s)
	}
	sensNode := valueOf(root, "sensors")
	env := schedule.SensorEnv{ProjectDir: p.Dir, Env: p.Env(), Materializations: a.binding.materializations}
	for _, name := range sortedNames(p.Config.Sensors) {
		n := p.Config.Sensors[name]
		line := lineOfKey(sensNode, name)
		var cfg schedule.SensorConfig
		if !decodeIntegration(&n, &cfg, "sensors."+name, probs) {
			continue
		}
		if cfg.Job != "" || cfg.Select != "" {
			if _, err := p.Select(cfg.Job, nonEmpty(cfg.Select), nil); err != nil {
				probs.add(line, "sensor %q: %s", name, bare(err))
				continue
			}
		}
		for _, k := range cfg.Assets {
			key, err := asset.ParseKey(k)
			if err != nil || !p.Graph.Has(key) {
				probs.add(line, "sensor %q watches unknown asset %q", name, k)
			}
		}
		if cfg.Type == schedule.SensorFile && cfg.AddPartitions == "" && (cfg.Job != "" || cfg.Select != "") {
			if sel, err := p.Select(cfg.Job, nonEmpty(cfg.Select), nil); err == nil {
				if d, err := p.partitionsOf(sel); err == nil && d != nil && d.Kind() == schedule.KindDynamic {
					probs.add(line, "sensor %q runs assets partitioned by dynamic partitions %q: add `add_partitions: %s` and `per_file: true` so each new file becomes a key", name, d.Name(), d.Name())
					continue
				}
			}
		}
		if cfg.AddPartitions != "" {
			d := a.Partitions[cfg.AddPartitions]
			if d == nil || d.Kind() != schedule.KindDynamic {
				probs.add(line, "sensor %q: add_partitions %q must name a dynamic partitions definition", name, cfg.AddPartitions)
				continue
			}
		}
		s, err := schedule.NewSensor(name, cfg, env)
		if err != nil {
			probs.addErr(line, err)
			continue
		}
		a.Sensors = append(a.Sensors, s)
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// partitionsOf returns the one partitions definition shared by the
// partitioned assets of sel (nil when none is partitioned).
func (p *Project) partitionsOf(sel asset.Set) (schedule.Definition, error) {
	names := map[string][]string{}
	for _, s := range p.Graph.SetSpecs(sel) {
		if s.Partitions != "" && !s.External {
			names[s.Partitions] = append(names[s.Partitions], s.Key.String())
		}
	}
	switch len(names) {
	case 0:
		return nil, nil
	case 1:
		for n := range names {
			return p.Automation.Partitions[n], nil
		}
	}
	var parts []string
	for _, n := range sortedNames(names) {
		ks := names[n]
		if len(ks) > 3 {
			ks = append(ks[:3], "…")
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", n, strings.Join(ks, ", ")))
	}
	return nil, fmt.Errorf("the selection mixes partitions definitions: %s; select assets of one at a time", strings.Join(parts, "; "))
}

// Definition returns the partitions definition named name.
func (p *Project) Definition(name string) (schedule.Definition, error) {
	d := p.Automation.Partitions[name]
	if d == nil {
		return nil, &Error{Problems: []Problem{{File: p.File, Msg: fmt.Sprintf("no partitions definition %q; defined: %s", name, strings.Join(sortedNames(p.Automation.Partitions), ", "))}}}
	}
	return d, nil
}

// PartitionFor resolves --partition KEY (or a range of keys) for the
// selected assets. No key means an unpartitioned run: partitioned SQL
// assets then rebuild in full.
func (p *Project) PartitionFor(ctx context.Context, st store.Store, sel asset.Set, key string, keys []string) (*engine.Partition, error) {
	if key == "" && len(keys) == 0 {
		return nil, nil
	}
	p.BindStore(st)
	def, err := p.partitionsOf(sel)
	if err != nil {
		return nil, &Error{Problems: []Problem{{Msg: err.Error()}}}
	}
	if def == nil {
		return nil, &Error{Problems: []Problem{{Msg: "--partition given, but none of the selected assets is partitioned"}}}
	}
	if len(keys) == 0 {
		keys = []string{key}
	}
	now := time.Now()
	for _, k := range keys {
		ok, err := def.Contains(ctx, k, now)
		if err != nil {
			return nil, &Error{Problems: []Problem{{Msg: fmt.Sprintf("partition %q of %s: %v", k, def.Name(), err)}}}
		}
		if !ok {
			hint := ""
			if all, err := def.Keys(ctx, now); err == nil && len(all) > 0 {
				hint = fmt.Sprintf("; %s has %d keys, %s … %s", def.Name(), len(all), all[0], all[len(all)-1])
			}
			return nil, &Error{Problems: []Problem{{Msg: fmt.Sprintf("partition %q is not a key of %s%s", k, def.Name(), hint)}}}
		}
	}
	if len(keys) == 1 {
		part, err := schedule.PartitionFor(def, keys[0])
		if err != nil {
			return nil, &Error{Problems: []Problem{{Msg: err.Error()}}}
		}
		return part, nil
	}
	return schedule.RangePartition(def, keys), nil
}

// BackfillSplit divides a backfill's selection: the partitioned assets run
// once per partition (or range); unpartitioned assets they depend on run
// once before, and unpartitioned assets that depend on them once after,
// instead of being rebuilt by every partition's run at the same time.
type BackfillSplit struct {
	Before, Partitioned, After []asset.Key
}

// SplitForBackfill splits sel; see BackfillSplit.
func (p *Project) SplitForBackfill(sel asset.Set) BackfillSplit {
	var out BackfillSplit
	var parts []asset.Key
	for _, s := range p.Graph.SetSpecs(sel) {
		if s.Partitions != "" && !s.External {
			parts = append(parts, s.Key)
		}
	}
	out.Partitioned = parts
	upstream := p.Graph.NewSet()
	for _, k := range parts {
		upstream = upstream.Union(p.Graph.SetOf(p.Graph.Upstream(k, -1)...))
	}
	for _, s := range p.Graph.SetSpecs(sel) {
		if s.Partitions != "" || s.External {
			continue
		}
		if p.Graph.Contains(upstream, s.Key) {
			out.Before = append(out.Before, s.Key)
		} else {
			out.After = append(out.After, s.Key)
		}
	}
	return out
}

// KeysSelection writes keys as a selection expression that selects
// exactly them.
func KeysSelection(keys []asset.Key) string {
	esc := strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = "key:" + esc.Replace(k.String())
	}
	return strings.Join(parts, " ")
}

// lineOf returns the line of an origin "<elt.yaml path>:<line>".
func (p *Project) lineOf(origin string) (int, bool) {
	rest, ok := strings.CutPrefix(origin, p.File+":")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil
}

// bare is an error's text without the file a *Error would prefix: the
// problem that quotes it carries the file already.
func bare(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		msgs := make([]string, len(pe.Problems))
		for i, p := range pe.Problems {
			msgs[i] = p.Msg
		}
		return strings.Join(msgs, "; ")
	}
	return err.Error()
}

// Schedule returns the schedule named name, or an error listing the others.
func (p *Project) Schedule(name string) (*schedule.Schedule, error) {
	var names []string
	for _, s := range p.Automation.Schedules {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return nil, p.notFound("schedule", name, names)
}

// Sensor returns the sensor named name, or an error listing the others.
func (p *Project) Sensor(name string) (*schedule.Sensor, error) {
	var names []string
	for _, s := range p.Automation.Sensors {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return nil, p.notFound("sensor", name, names)
}

func (p *Project) notFound(what, name string, names []string) error {
	msg := fmt.Sprintf("no %s %q: this project defines no %ss", what, name, what)
	if len(names) > 0 {
		msg = fmt.Sprintf("no %s %q; %ss: %s", what, name, what, strings.Join(names, ", "))
	}
	return &Error{Problems: []Problem{{File: p.File, Msg: msg}}}
}
