// Package sdk is what a plugin author needs to write an elt plugin in Go: a
// plugin is a main function calling Serve with one value implementing
// Plugin. elt starts the plugin binary as a subprocess and talks to it over
// gRPC through hashicorp/go-plugin (see protocol.go for the wire format).
//
//	type hello struct{}
//
//	func (hello) Describe(ctx context.Context, cfg sdk.Config) ([]asset.Spec, error) { … }
//	func (hello) Materialize(ctx context.Context, req *sdk.Request, emit engine.Emitter) error { … }
//
//	func main() { sdk.Serve(hello{}) }
//
// The context of every call ends when the step is cancelled or times out;
// a plugin must return promptly then, or the host kills its process.
package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// Plugin is implemented by a plugin author: one type, served by Serve.
type Plugin interface {
	// Describe returns the assets (with their checks) that Materialize
	// produces for cfg. The host sets Spec.Step.
	Describe(ctx context.Context, cfg Config) ([]asset.Spec, error)
	// Materialize materializes req.Assets and reports what happened through
	// emit: engine.Materialized, engine.Checked, engine.LogLine and
	// AssetFailed events. emit is safe for concurrent use. An error fails
	// the step.
	Materialize(ctx context.Context, req *Request, emit engine.Emitter) error
}

// Checker is implemented by plugins that also evaluate checks the engine
// runs after a materialization (CheckSpec.Runner naming the plugin).
type Checker interface {
	Check(ctx context.Context, req *CheckRequest) (engine.CheckResult, error)
}

// Config is the plugin's configuration from elt.yaml, as JSON.
type Config json.RawMessage

// Decode decodes the configuration into v, rejecting unknown fields so a
// misspelt key is reported rather than ignored.
func (c Config) Decode(v any) error {
	if len(c) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(c))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("plugin config: %w", err)
	}
	return nil
}

// MarshalJSON returns the raw configuration ("null" when empty).
func (c Config) MarshalJSON() ([]byte, error) {
	if len(c) == 0 {
		return []byte("null"), nil
	}
	return c, nil
}

// UnmarshalJSON keeps a copy of the raw configuration.
func (c *Config) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*c = nil
		return nil
	}
	*c = append((*c)[:0], b...)
	return nil
}

// Request is what Materialize gets: the engine's step request, minus what
// only makes sense in the host process (writers, the environment).
type Request struct {
	RunID   string `json:"run_id"`
	StepID  string `json:"step_id"`
	Attempt int    `json:"attempt"`
	// Assets are the keys to materialize, in topological order.
	Assets []asset.Key `json:"assets"`
	// Partition is nil for an unpartitioned run.
	Partition *Partition `json:"partition,omitempty"`
	// Resources holds the project resources the configuration names
	// ("resource: NAME" anywhere in it), secrets included.
	Resources map[string]Resource `json:"resources,omitempty"`
	// ProjectDir is the folder of elt.yaml; relative paths resolve from it.
	ProjectDir string `json:"project_dir"`
	// StepDir is a scratch folder for this attempt.
	StepDir string `json:"step_dir"`
	// Config is the plugin's configuration for this step.
	Config Config `json:"config"`
}

// CheckRequest is what Check gets.
type CheckRequest struct {
	RunID            string              `json:"run_id"`
	Asset            asset.Key           `json:"asset"`
	Check            string              `json:"check"`
	Metadata         map[string]any      `json:"metadata,omitempty"`
	Partition        *Partition          `json:"partition,omitempty"`
	ProjectDir       string              `json:"project_dir"`
	Resources        map[string]Resource `json:"resources,omitempty"`
	LastMaterialized time.Time           `json:"last_materialized,omitzero"`
	Config           Config              `json:"config"`
}

// Partition mirrors engine.Partition on the wire.
type Partition struct {
	Key   string    `json:"key"`
	Keys  []string  `json:"keys,omitempty"`
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
}

// Engine converts p to the engine's type (nil stays nil).
func (p *Partition) Engine() *engine.Partition {
	if p == nil {
		return nil
	}
	return &engine.Partition{Key: p.Key, Keys: p.Keys, Start: p.Start, End: p.End}
}

// PartitionOf converts an engine partition to its wire form (nil stays nil).
func PartitionOf(p *engine.Partition) *Partition {
	if p == nil {
		return nil
	}
	return &Partition{Key: p.Key, Keys: p.Keys, Start: p.Start, End: p.End}
}

// Resource mirrors engine.Resource on the wire.
type Resource struct {
	Type   string            `json:"type"`
	Config map[string]string `json:"config,omitempty"`
	Secret []string          `json:"secret,omitempty"`
}

// Serve serves p as an elt plugin on this process's stdin/stdout handshake
// and blocks until the host closes it. Call it from main.
func Serve(p Plugin) {
	plugin.Serve(serveConfig(p))
}

func serveConfig(p Plugin) *plugin.ServeConfig {
	return &plugin.ServeConfig{
		HandshakeConfig: Handshake(),
		// Every protocol version: go-plugin serves the newest one the
		// host also speaks.
		VersionedPlugins: VersionedPlugins(p),
		GRPCServer:       plugin.DefaultGRPCServer,
		// go-plugin's own chatter would fill the stderr tail the host
		// shows when a plugin crashes; keep warnings only.
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr, JSONFormat: true}),
	}
}
