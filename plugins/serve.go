package plugins

import (
	"fmt"
	"sort"
	"strings"

	"github.com/eltproject/elt/plugins/restapi"
	"github.com/eltproject/elt/plugins/sdk"
)

// builtins lists the plugins the elt binary serves itself.
func builtins() map[string]func() sdk.Plugin {
	return map[string]func() sdk.Plugin{
		"restapi": func() sdk.Plugin { return restapi.New() },
	}
}

// Builtins returns the names of the built-in plugins, sorted.
func Builtins() []string {
	var names []string
	for n := range builtins() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// IsBuiltin reports whether name is a built-in plugin.
func IsBuiltin(name string) bool {
	_, ok := builtins()[name]
	return ok
}

// Serve serves the built-in plugin name on this process (what
// `elt plugin serve NAME` runs). It blocks until the host disconnects and
// fails only for an unknown name; run outside a host, go-plugin prints that
// the binary is a plugin and exits.
func Serve(name string) error {
	mk, ok := builtins()[name]
	if !ok {
		return fmt.Errorf("no built-in plugin %q (built-in plugins: %s)", name, strings.Join(Builtins(), ", "))
	}
	sdk.Serve(mk())
	return nil
}
