// Command plugin-hello is an example external elt plugin: a main function
// and one type. Declare it in elt.yaml by path after `go build`:
//
//	plugins:
//	  hello: {path: ./bin/plugin-hello}
//	assets:
//	  - plugin: {name: hello, config: {greeting: Hi, assets: [greetings/en]}}
//
// It writes one file per asset into the step's folder and reports each as
// materialized, with a check that the file is not empty.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/plugins/sdk"
)

// hello greets into files.
type hello struct{}

type config struct {
	Greeting string   `json:"greeting"`
	Assets   []string `json:"assets"`
}

func (hello) config(raw sdk.Config) (config, error) {
	c := config{Greeting: "Hello"}
	if err := raw.Decode(&c); err != nil {
		return c, err
	}
	if len(c.Assets) == 0 {
		return c, errors.New("hello: config.assets lists no asset keys")
	}
	return c, nil
}

// Describe returns one asset per configured key, each with a blocking check.
func (h hello) Describe(_ context.Context, raw sdk.Config) ([]asset.Spec, error) {
	c, err := h.config(raw)
	if err != nil {
		return nil, err
	}
	var specs []asset.Spec
	for _, a := range c.Assets {
		k, err := asset.ParseKey(a)
		if err != nil {
			return nil, fmt.Errorf("hello: %w", err)
		}
		specs = append(specs, asset.Spec{
			Key:         k,
			Kinds:       []string{"file"},
			Description: "A greeting written by the hello plugin.",
			Checks:      []asset.CheckSpec{{Name: "not_empty", Blocking: true, Severity: "error"}},
		})
	}
	return specs, nil
}

// Materialize writes the greeting of each requested asset.
func (h hello) Materialize(ctx context.Context, req *sdk.Request, emit engine.Emitter) error {
	c, err := h.config(req.Config)
	if err != nil {
		return err
	}
	for _, k := range req.Assets {
		if err := ctx.Err(); err != nil {
			return err
		}
		text := c.Greeting + ", " + k.Last()
		if req.Partition != nil {
			text += " (" + req.Partition.Key + ")"
		}
		path := filepath.Join(req.StepDir, strings.ReplaceAll(k.String(), "/", "_")+".txt")
		if err := os.WriteFile(path, []byte(text+"\n"), 0o644); err != nil {
			return fmt.Errorf("hello %s: %w", k, err)
		}
		emit(engine.LogLine("wrote " + path))
		emit(engine.Materialized(k, map[string]any{"path": path, "bytes": len(text) + 1}))
		emit(engine.Checked(k, "not_empty", engine.CheckResult{Passed: len(text) > 0, Severity: "error"}))
	}
	return nil
}

func main() { sdk.Serve(hello{}) }
