package dlt

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzConfigYAML checks that no elt.yaml dlt: entry makes decoding or
// validation panic, and that a decoded command is one of the two forms.
func FuzzConfigYAML(f *testing.F) {
	f.Add("pipeline: p\ncommand: python p.py\n")
	f.Add("pipeline: p\ncommand: [python, p.py]\nkeys: table\nasset_keys: {a: x/y}\ndeps: {a: [b]}\n")
	f.Add("command: {a: 1}\n")
	f.Fuzz(func(t *testing.T, src string) {
		var c Config
		if err := yaml.Unmarshal([]byte(src), &c); err != nil {
			return
		}
		if c.Command.Shell != "" && c.Command.Argv != nil {
			t.Fatalf("command decoded as both shell and argv: %+v", c.Command)
		}
		_ = c.Validate()
		_ = c.translatorOptions()
	})
}
