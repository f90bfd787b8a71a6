package plugins

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/plugins/sdk"
)

// init lets the test binary stand in for a plugin that speaks one protocol
// version only: "test-plugin-version N" serves testPlugin{"ok"} over
// version N, as a plugin built with an SDK of that generation does (N = 3
// stands for a protocol this host does not know).
func init() {
	if len(os.Args) != 3 || os.Args[1] != "test-plugin-version" {
		return
	}
	v, _ := strconv.Atoi(os.Args[2])
	set := sdk.VersionedPlugins(testPlugin{mode: "ok"})[min(v, sdk.ProtocolVersion)]
	h := sdk.Handshake()
	h.ProtocolVersion = uint(v)
	plugin.Serve(&plugin.ServeConfig{HandshakeConfig: h, Plugins: set, GRPCServer: plugin.DefaultGRPCServer})
	os.Exit(0)
}

func versionRef(v int) PluginRef {
	return PluginRef{Name: "v" + strconv.Itoa(v), Cmd: []string{os.Args[0], "test-plugin-version", strconv.Itoa(v)}}
}

// TestOldAndNewPlugins: plugins of protocol version 1 (built before the
// .proto) and 2 both run; a plugin of an unknown version is refused with
// the versions named.
func TestOldAndNewPlugins(t *testing.T) {
	for _, v := range sdk.ProtocolVersions {
		t.Run("v"+strconv.Itoa(v), func(t *testing.T) {
			r := NewRunner(versionRef(v), map[string]any{"n": 1}, nil)
			req := request(t, asset.MustKey("a"))
			req.Partition = &engine.Partition{Key: "2024-03-09"}
			var c collector
			if err := r.Run(context.Background(), req, c.emit); err != nil {
				t.Fatal(err)
			}
			want := []string{"log:", "asset_materialized:a", "check_evaluated:a"}
			if got := c.types(); !slices.Equal(got, want) {
				t.Fatalf("events = %v, want %v", got, want)
			}
			specs, err := Describe(context.Background(), versionRef(v), map[string]any{"assets": []string{"x/y"}})
			if err != nil || len(specs) != 1 || specs[0].Key.String() != "x/y" || len(specs[0].Checks) != 1 {
				t.Errorf("describe = %+v, %v", specs, err)
			}
		})
	}
	_, err := Describe(context.Background(), versionRef(3), nil)
	var verr *sdk.VersionError
	if !errors.As(err, &verr) || verr.Plugin != 3 ||
		err.Error() != "plugin v3: it speaks plugin protocol version 3, and this elt speaks versions 1 and 2; rebuild the plugin with this elt's plugins/sdk (or implement proto/elt/plugin/v2/plugin.proto), or upgrade elt" {
		t.Errorf("a version 3 plugin: err = %v, want the versions named", err)
	}
}
