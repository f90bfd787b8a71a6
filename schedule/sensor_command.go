package schedule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/eltproject/elt/integrations/command"
	"github.com/eltproject/elt/process"
)

// Command is a command line in elt.yaml: a YAML list is an argv, a string
// runs with /bin/sh -c.
type Command struct {
	Argv  []string
	Shell string
}

// UnmarshalYAML accepts a string or a list of strings.
func (c *Command) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Decode(&c.Shell)
	case yaml.SequenceNode:
		return n.Decode(&c.Argv)
	}
	return fmt.Errorf("line %d: command must be a string or a list of strings", n.Line)
}

// MarshalYAML writes the form it was read in.
func (c Command) MarshalYAML() (any, error) {
	if c.Shell != "" {
		return c.Shell, nil
	}
	return c.Argv, nil
}

// IsZero reports an unset command (for omitempty).
func (c Command) IsZero() bool { return c.Shell == "" && len(c.Argv) == 0 }

// Environment variables a command sensor gets.
const (
	EnvSensorName   = "ELT_SENSOR_NAME"
	EnvSensorCursor = "ELT_SENSOR_CURSOR"
	EnvSensorTime   = "ELT_SENSOR_TIME"
)

// DefaultSensorTimeout bounds a command sensor's evaluation.
const DefaultSensorTimeout = time.Minute

// maxCommandLines bounds what a command sensor may print.
const maxCommandLines = 100000

// evalCommand runs the sensor's command with the cursor in
// ELT_SENSOR_CURSOR and parses the run requests it prints.
func (s *Sensor) evalCommand(ctx context.Context, now time.Time, cursor string) ([]RunRequest, string, error) {
	timeout := s.Config.Timeout
	if timeout <= 0 {
		timeout = DefaultSensorTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("command timed out after %s", timeout))
	defer cancel()
	var out bytes.Buffer
	lines := 0
	base := s.env.Env
	if base == nil {
		base = os.Environ()
	}
	p := &process.Proc{
		Argv:  s.Config.Command.Argv,
		Shell: s.Config.Command.Shell,
		Dir:   s.env.ProjectDir,
		Env: command.MergeEnv(base,
			EnvSensorName+"="+s.Name,
			EnvSensorCursor+"="+cursor,
			EnvSensorTime+"="+now.UTC().Format(time.RFC3339)),
		OnLine: func(l string) {
			if lines < maxCommandLines {
				out.WriteString(l)
				out.WriteByte('\n')
			}
			lines++
		},
	}
	if _, err := process.Run(ctx, p); err != nil {
		return nil, "", fmt.Errorf("command: %w", err)
	}
	if lines > maxCommandLines {
		return nil, "", fmt.Errorf("command printed more than %d lines", maxCommandLines)
	}
	reqs, next, err := ParseCommandOutput("command output", out.Bytes())
	if err != nil {
		return nil, "", err
	}
	if next == nil {
		return reqs, cursor, nil
	}
	return reqs, *next, nil
}

// commandLine is one JSON line of a command sensor's output.
type commandLine struct {
	Select        stringList          `json:"select"`
	Exclude       stringList          `json:"exclude"`
	Job           string              `json:"job"`
	PartitionKey  string              `json:"partition_key"`
	AddPartitions map[string][]string `json:"add_partitions"`
	Tags          map[string]string   `json:"tags"`
	Files         []string            `json:"files"`
	Reason        string              `json:"reason"`
	Cursor        *string             `json:"cursor"`
	Run           *bool               `json:"run"`
}

// stringList reads a JSON string or array of strings.
type stringList []string

// UnmarshalJSON accepts "a" or ["a", "b"].
func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		if one != "" {
			*l = []string{one}
		}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("want a string or a list of strings")
	}
	*l = many
	return nil
}

// ParseCommandOutput reads a command sensor's output. Lines starting with
// `{` are JSON objects; other lines are the command's own log and are
// ignored. Each object is a run request:
//
//	{"select": "raw/orders+", "partition_key": "2024-05-01", "tags": {"src": "ftp"}}
//	{"partition_key": "f1.csv", "add_partitions": {"files": ["f1.csv"]}}
//	{"add_partitions": {"files": ["f2.csv"]}, "run": false}
//	{"cursor": "opaque text the next evaluation gets in ELT_SENSOR_CURSOR"}
//
// "select" may be a string or a list; without "select" or "job" the
// sensor's own target runs. A line with only "cursor" sets the cursor
// (the last one wins; nil when none is printed). "run": false (or a line
// with only add_partitions) adds partitions without a run. name is used in
// errors, which carry the line number.
func ParseCommandOutput(name string, out []byte) ([]RunRequest, *string, error) {
	var reqs []RunRequest
	var cursor *string
	for n, line := range bytes.Split(out, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		where := fmt.Sprintf("%s:%d", name, n+1)
		var cl commandLine
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cl); err != nil {
			return nil, nil, fmt.Errorf("%s: bad run request: %w", where, err)
		}
		if dec.More() {
			return nil, nil, fmt.Errorf("%s: more than one JSON value on the line", where)
		}
		if cl.Cursor != nil {
			c := *cl.Cursor
			cursor = &c
		}
		target := cl.Job != "" || len(cl.Select) > 0 || cl.PartitionKey != "" || len(cl.Files) > 0 || len(cl.Tags) > 0
		if !target && len(cl.AddPartitions) == 0 {
			if cl.Cursor == nil {
				return nil, nil, fmt.Errorf("%s: empty run request (give select, job, partition_key, add_partitions or cursor)", where)
			}
			continue
		}
		if cl.Job != "" && len(cl.Select) > 0 {
			return nil, nil, fmt.Errorf("%s: give select or job, not both", where)
		}
		for def, keys := range cl.AddPartitions {
			if strings.TrimSpace(def) == "" {
				return nil, nil, fmt.Errorf("%s: add_partitions has an empty definition name", where)
			}
			for _, k := range keys {
				if err := ValidateKey(k); err != nil {
					return nil, nil, fmt.Errorf("%s: add_partitions %q: %w", where, def, err)
				}
			}
		}
		if cl.PartitionKey != "" {
			if err := ValidateKey(cl.PartitionKey); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", where, err)
			}
		}
		r := RunRequest{
			Selection: cl.Select, Exclude: cl.Exclude, Job: cl.Job,
			PartitionKey: cl.PartitionKey, AddPartitions: cl.AddPartitions,
			Tags: cl.Tags, Files: cl.Files, Reason: cl.Reason,
		}
		if (cl.Run != nil && !*cl.Run) || !target {
			if target && (cl.Job != "" || len(cl.Select) > 0 || cl.PartitionKey != "") {
				return nil, nil, fmt.Errorf("%s: \"run\": false with a run target", where)
			}
			if len(cl.AddPartitions) == 0 {
				return nil, nil, fmt.Errorf("%s: \"run\": false without add_partitions does nothing", where)
			}
			r.AddOnly = true
		}
		if r.Reason == "" {
			r.Reason = where
		}
		reqs = append(reqs, r)
	}
	return reqs, cursor, nil
}
