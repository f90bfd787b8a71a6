package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eltproject/elt/asset"
	slingint "github.com/eltproject/elt/integrations/sling"
	"github.com/eltproject/elt/plugins"
	"github.com/eltproject/elt/project"
)

func newSyncCmd(e *env) *cobra.Command {
	var prepare bool
	var output string
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Re-read dbt, Sling and dlt metadata, store a snapshot, and show what changed",
		Long: `Re-import every integration's metadata, store a snapshot of the asset
definitions in the run store, and print what changed since the last sync:
added, removed and changed assets (a changed SQL checksum, command, deps or
checks). --prepare first runs 'dbt deps' (only when packages are missing)
and 'dbt parse' so a stale manifest is refreshed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ctx := cmd.Context()
			if prepare {
				path, err := project.Resolve(e.projectFlag)
				if err != nil {
					return err
				}
				if err := project.PrepareDBT(ctx, path, nil, e.stderr); err != nil {
					var pe *project.Error
					if errors.As(err, &pe) {
						return err
					}
					return &failedError{err}
				}
			}
			p, st, err := e.loadWithStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := p.Sync(ctx, st)
			if err != nil {
				return err
			}
			if !prepare {
				for _, note := range p.StaleDBTManifests() {
					fmt.Fprintln(e.stderr, "note: "+note)
				}
			}
			if output == "json" {
				return e.printJSON(res)
			}
			if res.First {
				fmt.Fprintf(e.stdout, "first sync: %d assets\n", res.Assets)
				return nil
			}
			if len(res.Changes) == 0 {
				fmt.Fprintf(e.stdout, "%d assets, nothing changed since the last sync\n", res.Assets)
				return nil
			}
			counts := map[string]int{}
			for _, c := range res.Changes {
				counts[c.Change]++
				mark := map[string]string{"added": "+", "removed": "-", "changed": "~"}[c.Change]
				what := ""
				if len(c.What) > 0 {
					what = " (" + strings.Join(c.What, ", ") + ")"
				}
				fmt.Fprintf(e.stdout, "%s %s%s\n", mark, c.Key, what)
			}
			fmt.Fprintf(e.stdout, "%d assets: %d added, %d removed, %d changed\n", res.Assets, counts["added"], counts["removed"], counts["changed"])
			return nil
		},
	}
	cmd.Flags().BoolVar(&prepare, "prepare", false, "run dbt deps (when needed) and dbt parse first")
	outputFlag(cmd, &output)
	return cmd
}

func newPluginCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "plugin", Short: "Serve elt's built-in plugins"}
	cmd.AddCommand(&cobra.Command{
		Use:    "serve NAME",
		Short:  "Serve a built-in plugin over go-plugin (started by elt itself)",
		Args:   cobra.ExactArgs(1),
		Hidden: false,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !plugins.IsBuiltin(args[0]) {
				return usagef("no built-in plugin %q; built-ins: %s", args[0], strings.Join(plugins.Builtins(), ", "))
			}
			return plugins.Serve(args[0])
		},
	}, &cobra.Command{
		Use:   "list",
		Short: "List built-in plugins",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, n := range plugins.Builtins() {
				fmt.Fprintln(e.stdout, n)
			}
			return nil
		},
	})
	return cmd
}

func newRunSlingCmd(e *env) *cobra.Command {
	var o runOptions
	var streams []string
	cmd := &cobra.Command{
		Use:   "sling [REPLICATION ...]",
		Short: "Run the streams of one or all Sling replication files through the engine",
		Long: `Shorthand for running Sling assets: every stream of the named replication
files (all files when none is named), or only --streams, with the same store,
logs, retries and checks as 'elt run'.

  elt run sling                                  # every replication
  elt run sling replications/pg.yaml --streams public.orders,public.users`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := e.load(ctx)
			if err != nil {
				return err
			}
			var specs []asset.Spec
			files := map[string]bool{}
			for _, s := range p.Graph.Specs() {
				if r, ok := s.Metadata["replication"].(string); ok && !s.External {
					specs = append(specs, *s)
					files[r] = true
				}
			}
			if len(specs) == 0 {
				return usagef("this project has no Sling replications (add a sling: list to elt.yaml)")
			}
			targets := args
			if len(targets) == 0 {
				for f := range files {
					targets = append(targets, f)
				}
			}
			var keys []asset.Key
			for _, f := range targets {
				if !files[f] {
					var known []string
					for k := range files {
						known = append(known, k)
					}
					return usagef("no replication %q in elt.yaml; replications: %s", f, strings.Join(known, ", "))
				}
				ks, err := slingint.StreamSelection(specs, f, streams)
				if err != nil {
					if len(targets) > 1 && len(streams) > 0 {
						continue // the streams may belong to another file
					}
					return usagef("%v", err)
				}
				keys = append(keys, ks...)
			}
			if len(keys) == 0 {
				return usagef("no stream matches --streams %s", strings.Join(streams, ","))
			}
			return runAssets(cmd, e, o, project.RunOptions{Assets: keys})
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&streams, "streams", nil, "only these streams (names as written in the replication file)")
	f.StringVar(&o.partition, "partition", "", "materialize one partition key")
	f.IntVar(&o.concurrency, "concurrency", 0, "steps running at once")
	f.BoolVar(&o.failFast, "fail-fast", false, "stop everything at the first failure")
	f.StringVarP(&o.output, "output", "o", "", "json for the event stream")
	f.StringVar(&o.junit, "junit", "", "write a JUnit XML report to FILE")
	return cmd
}
