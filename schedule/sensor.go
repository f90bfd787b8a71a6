package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/eltproject/elt/asset"
)

// SensorConfig is one entry of the `sensors:` map of elt.yaml; the map key
// is the sensor's name.
//
//	sensors:
//	  landing_files:
//	    type: file
//	    path: landing            # folder, relative to elt.yaml
//	    glob: "**/*.csv"
//	    job: load_landing        # what to run (or select:)
//	    per_file: true           # one run per file …
//	    add_partitions: files    # … keyed by the file name, added to this dynamic definition
//	  orders_updated:
//	    type: asset
//	    assets: [raw/orders]     # what to watch; runs their downstream unless job/select is set
//	  orders_fresh:
//	    type: freshness
//	    assets: [marts/orders]
//	    max_age: 26h
//	    action: notify           # or run (the default)
//	  new_customers:
//	    type: command
//	    command: ["python", "scripts/poll.py"]   # or a shell string
//	    interval: 5m
//	    select: "tag:customers"
type SensorConfig struct {
	// Type is file, asset, freshness or command.
	Type string `yaml:"type"`
	// Interval between evaluations; 30s by default.
	Interval time.Duration `yaml:"interval,omitempty"`
	// Path is the folder a file sensor watches and Glob the pattern of
	// file paths under it (`**` spans folders; `*` by default).
	Path string `yaml:"path,omitempty"`
	Glob string `yaml:"glob,omitempty"`
	// PerFile makes a file sensor request one run per file instead of one
	// run for all new files.
	PerFile bool `yaml:"per_file,omitempty"`
	// AddPartitions names a dynamic partition definition: a per-file run
	// adds the file's name as a key and runs that partition.
	AddPartitions string `yaml:"add_partitions,omitempty"`
	// Assets are the asset keys an asset or freshness sensor watches.
	Assets []string `yaml:"assets,omitempty"`
	// Job or Select is what runs. Asset sensors default to the downstream
	// of the materialized assets, freshness sensors to the stale assets;
	// file and command sensors need one (a command's request may name its
	// own selection).
	Job    string `yaml:"job,omitempty"`
	Select string `yaml:"select,omitempty"`
	// MaxAge is how old a freshness sensor lets an asset's last
	// materialization get.
	MaxAge time.Duration `yaml:"max_age,omitempty"`
	// Action of a freshness sensor: run (rematerialize) or notify.
	Action string `yaml:"action,omitempty"`
	// Command run by a command sensor: a list (argv) or a string (run by
	// /bin/sh -c). It prints run requests as JSON lines.
	Command Command `yaml:"command,omitempty"`
	// Timeout of a command sensor's evaluation; 1m by default.
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// Tags are added to every run the sensor requests.
	Tags map[string]string `yaml:"tags,omitempty"`
}

// Sensor types.
const (
	SensorFile      = "file"
	SensorAsset     = "asset"
	SensorFreshness = "freshness"
	SensorCommand   = "command"
)

// DefaultSensorInterval is used when interval is not set.
const DefaultSensorInterval = 30 * time.Second

// RunRequest is what a schedule tick or a sensor asks the daemon to run.
type RunRequest struct {
	// Selection (expressions, unioned) minus Exclude, or Job, says what
	// runs.
	Selection []string `json:"select,omitempty"`
	Exclude   []string `json:"exclude,omitempty"`
	Job       string   `json:"job,omitempty"`
	// PartitionKey is the partition to run; empty when unpartitioned.
	PartitionKey string `json:"partition_key,omitempty"`
	// PartitionKeys is the whole range of a single-run backfill.
	PartitionKeys []string `json:"partition_keys,omitempty"`
	// AddPartitions are dynamic partition keys to add before the run, by
	// definition name.
	AddPartitions map[string][]string `json:"add_partitions,omitempty"`
	// AddOnly requests no run: only AddPartitions.
	AddOnly bool `json:"add_only,omitempty"`
	// Notify asks for a notification instead of a run (freshness sensors
	// with action: notify).
	Notify bool `json:"notify,omitempty"`
	// Recovered marks a notification that stale assets are fresh again.
	Recovered bool              `json:"recovered,omitempty"`
	Tags      map[string]string `json:"tags,omitempty"`
	// Files are the new or changed files a file sensor found.
	Files []string `json:"files,omitempty"`
	// Reason says why, for logs and `elt sensors tick`.
	Reason string `json:"reason,omitempty"`
}

// MaterializationsFunc returns the time of each asset's latest
// materialization (from store.LatestMaterializations).
type MaterializationsFunc func(ctx context.Context) (map[asset.Key]time.Time, error)

// SensorEnv is what sensors need from the project.
type SensorEnv struct {
	// ProjectDir is where relative paths and commands start.
	ProjectDir string
	// Env is the base environment of command sensors (nil: the process's).
	Env []string
	// Materializations serves asset and freshness sensors.
	Materializations MaterializationsFunc
}

// Sensor is a parsed sensor, ready to evaluate.
type Sensor struct {
	Name   string
	Config SensorConfig
	env    SensorEnv
	watch  []asset.Key

	// memo keeps the last parsed time cursor: the daemon evaluates with
	// the cursor it stored last time, so parsing it again is waste.
	memoMu  sync.Mutex
	memoRaw string
	memo    timeCursor
	// fileMemo is the same for a file sensor's cursor.
	fileMemoRaw string
	fileMemo    map[string][2]int64
}

// NewSensor checks cfg and returns the sensor named name.
func NewSensor(name string, cfg SensorConfig, env SensorEnv) (*Sensor, error) {
	s := &Sensor{Name: name, Config: cfg, env: env}
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("sensor %q: "+format, append([]any{name}, a...)...))
	}
	if cfg.Interval < 0 {
		bad("interval must not be negative")
	}
	if cfg.Job != "" && cfg.Select != "" {
		bad("set job: or select:, not both")
	}
	for _, a := range cfg.Assets {
		k, err := asset.ParseKey(a)
		if err != nil {
			bad("assets: %v", err)
			continue
		}
		s.watch = append(s.watch, k)
	}
	hasTarget := cfg.Job != "" || cfg.Select != ""
	switch cfg.Type {
	case SensorFile:
		if cfg.Path == "" {
			bad("a file sensor needs path: (the folder to watch)")
		}
		if !hasTarget {
			bad("a file sensor needs job: or select:")
		}
		if cfg.AddPartitions != "" && !cfg.PerFile {
			bad("add_partitions needs per_file: true")
		}
		if cfg.Glob != "" {
			if err := validateGlob(cfg.Glob); err != nil {
				bad("glob %q: %v", cfg.Glob, err)
			}
		}
	case SensorAsset, SensorFreshness:
		if len(cfg.Assets) == 0 {
			bad("an %s sensor needs assets: [KEY, …] to watch", cfg.Type)
		}
		if cfg.Type == SensorFreshness && cfg.MaxAge <= 0 {
			bad("a freshness sensor needs max_age: (for example 26h)")
		}
	case SensorCommand:
		if len(cfg.Command.Argv) == 0 && cfg.Command.Shell == "" {
			bad("a command sensor needs command: (a list or a shell string)")
		}
	case "":
		bad("type is missing: use file, asset, freshness or command")
	default:
		bad("unknown type %q: use file, asset, freshness or command", cfg.Type)
	}
	switch cfg.Action {
	case "", "run":
	case "notify":
		if cfg.Type != SensorFreshness {
			bad("action: notify applies to freshness sensors")
		}
	default:
		bad("action %q: use run or notify", cfg.Action)
	}
	if cfg.Type != SensorFile && (cfg.Path != "" || cfg.Glob != "" || cfg.PerFile || cfg.AddPartitions != "") {
		bad("path, glob, per_file and add_partitions apply to file sensors")
	}
	if (cfg.Type == SensorAsset || cfg.Type == SensorFreshness) && env.Materializations == nil {
		bad("an %s sensor needs the run store's materializations", cfg.Type)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// Validate reports problems found without the project.
func (c *SensorConfig) Validate() []error {
	_, err := NewSensor("sensor", *c, SensorEnv{Materializations: func(context.Context) (map[asset.Key]time.Time, error) { return nil, nil }})
	return splitErrors(err)
}

// Interval returns how often the sensor is evaluated.
func (s *Sensor) Interval() time.Duration {
	if s.Config.Interval > 0 {
		return s.Config.Interval
	}
	return DefaultSensorInterval
}

// CursorName is the store key of the sensor's cursor.
func (s *Sensor) CursorName() string { return "sensor:" + s.Name }

// Evaluate looks for new work since cursor (empty on the first
// evaluation) and returns the run requests and the cursor to persist. It
// has no side effects beyond running a command sensor's command, so
// `elt sensors tick --dry-run` can call it and discard the cursor.
func (s *Sensor) Evaluate(ctx context.Context, now time.Time, cursor string) ([]RunRequest, string, error) {
	return s.evaluate(ctx, now, cursor, nil)
}

// evaluate is Evaluate; file sensors share scans (may be nil).
func (s *Sensor) evaluate(ctx context.Context, now time.Time, cursor string, scans *fileScans) ([]RunRequest, string, error) {
	var (
		reqs []RunRequest
		next string
		err  error
	)
	switch s.Config.Type {
	case SensorFile:
		reqs, next, err = s.evalFile(cursor, scans)
	case SensorAsset:
		reqs, next, err = s.evalAsset(ctx, cursor)
	case SensorFreshness:
		reqs, next, err = s.evalFreshness(ctx, now, cursor)
	case SensorCommand:
		reqs, next, err = s.evalCommand(ctx, now, cursor)
	default:
		err = fmt.Errorf("unknown type %q", s.Config.Type)
	}
	if err != nil {
		return nil, cursor, fmt.Errorf("sensor %q: %w", s.Name, err)
	}
	for i := range reqs {
		s.finish(&reqs[i])
	}
	return reqs, next, nil
}

// finish fills the configured target and tags into a request.
func (s *Sensor) finish(r *RunRequest) {
	if !r.AddOnly && r.Job == "" && len(r.Selection) == 0 {
		r.Job = s.Config.Job
		if s.Config.Select != "" {
			r.Selection = []string{s.Config.Select}
		}
	}
	if r.Tags == nil {
		r.Tags = map[string]string{}
	}
	for k, v := range s.Config.Tags {
		if _, ok := r.Tags[k]; !ok {
			r.Tags[k] = v
		}
	}
	r.Tags[TagSensor] = s.Name
}

// timeCursor maps asset keys to times; the cursor of asset and freshness
// sensors.
type timeCursor map[string]time.Time

// timeCursor reads cursor, returning a copy the caller may change.
func (s *Sensor) timeCursor(cursor string) (timeCursor, error) {
	s.memoMu.Lock()
	defer s.memoMu.Unlock()
	if cursor != "" && cursor == s.memoRaw {
		return maps.Clone(s.memo), nil
	}
	c := timeCursor{}
	if cursor != "" {
		if err := json.Unmarshal([]byte(cursor), &c); err != nil {
			return nil, fmt.Errorf("cursor is not a JSON object of times (reset it with `elt sensors reset`): %w", err)
		}
	}
	s.memoRaw, s.memo = cursor, maps.Clone(c)
	return c, nil
}

// encode returns the cursor text of c and remembers it as parsed.
func (s *Sensor) encode(c timeCursor) string {
	b, _ := json.Marshal(map[string]time.Time(c))
	s.memoMu.Lock()
	s.memoRaw, s.memo = string(b), maps.Clone(c)
	s.memoMu.Unlock()
	return string(b)
}

// evalAsset requests the downstream of watched assets materialized since
// the cursor. The first evaluation only records where things stand.
func (s *Sensor) evalAsset(ctx context.Context, cursor string) ([]RunRequest, string, error) {
	c, err := s.timeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	mats, err := s.env.Materializations(ctx)
	if err != nil {
		return nil, "", err
	}
	first := cursor == ""
	var fired []string
	for _, k := range s.watch {
		t, ok := mats[k]
		if !ok || !t.After(c[k.String()]) {
			continue
		}
		c[k.String()] = t
		fired = append(fired, k.String())
	}
	if len(fired) == 0 && !first {
		return nil, cursor, nil
	}
	if first {
		return nil, s.encode(c), nil
	}
	r := RunRequest{Reason: "materialized: " + strings.Join(fired, ", ")}
	if s.Config.Job == "" && s.Config.Select == "" {
		for _, k := range fired {
			r.Selection = append(r.Selection, k+"+")
		}
		r.Exclude = slices.Clone(fired)
	}
	return []RunRequest{r}, s.encode(c), nil
}

// evalFreshness requests (or notifies about) watched assets whose last
// materialization is older than max_age. The cursor remembers when each
// was last requested. With action: run a stale asset is requested again
// after another max_age, or after it was materialized and went stale
// again. With action: notify an asset is notified once when it becomes
// stale and once when it recovers (is materialized after the
// notification): its cursor entry is the notified staleness, removed on
// recovery.
func (s *Sensor) evalFreshness(ctx context.Context, now time.Time, cursor string) ([]RunRequest, string, error) {
	c, err := s.timeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	mats, err := s.env.Materializations(ctx)
	if err != nil {
		return nil, "", err
	}
	notify := s.Config.Action == "notify"
	var stale, why, recovered []string
	for _, k := range s.watch {
		key := k.String()
		last, ok := mats[k]
		asked, was := c[key]
		if ok && now.Sub(last) <= s.Config.MaxAge {
			if notify && was && asked.Before(last) {
				delete(c, key)
				recovered = append(recovered, fmt.Sprintf("%s materialized %s ago", k, now.Sub(last).Round(time.Second)))
			}
			continue
		}
		if was && !asked.Before(last) && (notify || now.Sub(asked) < s.Config.MaxAge) {
			continue
		}
		c[key] = now
		stale = append(stale, key)
		if ok {
			why = append(why, fmt.Sprintf("%s last materialized %s ago", k, now.Sub(last).Round(time.Second)))
		} else {
			why = append(why, fmt.Sprintf("%s never materialized", k))
		}
	}
	if len(stale) == 0 && len(recovered) == 0 {
		return nil, cursor, nil
	}
	var reqs []RunRequest
	if len(stale) > 0 {
		sort.Strings(stale)
		r := RunRequest{Reason: fmt.Sprintf("older than %s: %s", s.Config.MaxAge, strings.Join(why, "; "))}
		if notify {
			r.Notify, r.AddOnly = true, true
		} else if s.Config.Job == "" && s.Config.Select == "" {
			r.Selection = stale
		}
		reqs = append(reqs, r)
	}
	if len(recovered) > 0 {
		reqs = append(reqs, RunRequest{Notify: true, AddOnly: true, Recovered: true,
			Reason: fmt.Sprintf("fresh again (max_age %s): %s", s.Config.MaxAge, strings.Join(recovered, "; "))})
	}
	return reqs, s.encode(c), nil
}

// MemoMaterializations wraps f so that calls within ttl (by clock) of the
// one that queried share its result: one store query per daemon tick
// instead of one per asset or freshness sensor. Callers must not modify
// the returned map.
func MemoMaterializations(clock Clock, ttl time.Duration, f MaterializationsFunc) MaterializationsFunc {
	var (
		mu   sync.Mutex
		at   time.Time
		last map[asset.Key]time.Time
	)
	return func(ctx context.Context) (map[asset.Key]time.Time, error) {
		mu.Lock()
		defer mu.Unlock()
		now := clock.Now()
		if last != nil && now.Sub(at) < ttl && !now.Before(at) {
			return last, nil
		}
		m, err := f(ctx)
		if err != nil {
			return nil, err
		}
		last, at = m, now
		return m, nil
	}
}
