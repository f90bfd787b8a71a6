package project

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/eltproject/elt/asset"
)

// KeyValue is an asset key in YAML: "a/b" or [a, b].
type KeyValue struct {
	Key  asset.Key
	Line int
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (k *KeyValue) UnmarshalYAML(n *yaml.Node) error {
	k.Line = n.Line
	switch n.Kind {
	case yaml.ScalarNode:
		key, err := asset.ParseKey(n.Value)
		if err != nil {
			return errAt(n, "%v", err)
		}
		k.Key = key
	case yaml.SequenceNode:
		var parts []string
		if err := n.Decode(&parts); err != nil {
			return err
		}
		key, err := asset.NewKey(parts...)
		if err != nil {
			return errAt(n, "%v", err)
		}
		k.Key = key
	default:
		return errAt(n, "an asset key is \"a/b\" or a list of parts")
	}
	return nil
}

// Duration is a time.Duration written as "90s", "10m", "2h" or "1d".
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errAt(n, "a duration is a value like 90s, 10m, 2h or 1d")
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return errAt(n, "%v", err)
	}
	if v < 0 {
		return errAt(n, "%q is negative; durations are 0 (none) or more", n.Value)
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses Go durations plus a "d" (24h) suffix; a bare number
// is seconds.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	if strings.HasSuffix(s, "d") {
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		if err == nil {
			return time.Duration(n * 24 * float64(time.Hour)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q: write it like 90s, 10m, 2h or 1d", s)
	}
	return d, nil
}

// CommandValue is a command: a shell string or an argv list.
type CommandValue struct {
	Shell string
	Argv  []string
	Line  int
}

// IsZero reports whether no command is set.
func (c CommandValue) IsZero() bool { return c.Shell == "" && len(c.Argv) == 0 }

// UnmarshalYAML implements yaml.Unmarshaler.
func (c *CommandValue) UnmarshalYAML(n *yaml.Node) error {
	c.Line = n.Line
	switch n.Kind {
	case yaml.ScalarNode:
		c.Shell = n.Value
		if strings.TrimSpace(c.Shell) == "" {
			return errAt(n, "command is empty")
		}
	case yaml.SequenceNode:
		if err := n.Decode(&c.Argv); err != nil {
			return err
		}
		if len(c.Argv) == 0 || c.Argv[0] == "" {
			return errAt(n, "command list is empty")
		}
	default:
		return errAt(n, "command is a string (run by /bin/sh) or a list (argv)")
	}
	return nil
}

// RetryValue is `retries: 3` or a mapping with the whole policy.
type RetryValue struct {
	Max      int      `yaml:"max"`
	Delay    Duration `yaml:"delay"`
	Backoff  string   `yaml:"backoff"`
	MaxDelay Duration `yaml:"max_delay"`
	Jitter   float64  `yaml:"jitter"`
	Line     int      `yaml:"-"`
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (r *RetryValue) UnmarshalYAML(n *yaml.Node) error {
	r.Line = n.Line
	if n.Kind == yaml.ScalarNode {
		v, err := strconv.Atoi(n.Value)
		if err != nil || v < 0 {
			return errAt(n, "retries is a number of retries or a mapping {max, delay, backoff, max_delay, jitter}")
		}
		r.Max = v
		return nil
	}
	type plain RetryValue
	var p plain
	if err := strictDecode(n, &p, "retries"); err != nil {
		return err
	}
	*r = RetryValue(p)
	r.Line = n.Line
	switch r.Backoff {
	case "", "exponential", "linear", "constant":
	default:
		return errAt(n, "backoff must be exponential, linear or constant, not %q", r.Backoff)
	}
	if r.Jitter < 0 || r.Jitter > 1 {
		return errAt(n, "jitter is a fraction between 0 and 1")
	}
	return nil
}

// StringList is a list written as a list or as one string.
type StringList []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *StringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = []string{n.Value}
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return errAt(n, "found %s where a list of names (or one name) belongs", describeNode(n))
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*s = l
	return nil
}
