package main

import (
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/store"
)

func newCheckCmd(e *env) *cobra.Command {
	var sel selectFlags
	var output, partition string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Run the built-in checks of assets without materializing them",
		Long: `Run the checks elt evaluates itself (not_null, unique, accepted_values,
row_count, freshness, expression, sql) on the selected assets as they are now.
Checks that a tool reports while materializing (dbt tests, script events) run
with 'elt run'. Exit 1 when an error-severity check fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != "json" && output != "table" {
				return usagef("--output must be json or table")
			}
			ctx := cmd.Context()
			p, st, err := e.loadWithStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			set, err := sel.eval(p)
			if err != nil {
				return err
			}
			var keys []asset.Key
			n := 0
			for _, s := range p.Graph.SetSpecs(set) {
				has := false
				for _, c := range s.Checks {
					if c.Runner != "" {
						has = true
						n++
					}
				}
				if has {
					keys = append(keys, s.Key)
				}
			}
			if len(keys) == 0 {
				return usagef("the selected assets have no checks elt can run on its own; add checks with a type (not_null, unique, …) in elt.yaml")
			}
			part, err := p.PartitionFor(ctx, st, p.Graph.SetOf(keys...), partition, nil)
			if err != nil {
				return err
			}
			runID := store.NewRunID()
			if err := st.CreateRun(ctx, store.Run{ID: runID, Status: engine.StatusRunning, Trigger: "check", Tags: map[string]string{"kind": "checks"}}); err != nil {
				return err
			}
			mode := "plain"
			if output == "json" {
				mode = "json"
			}
			view := newRunView(e.stdout, mode, e.color())
			eng := p.Engine(st, 1, nil)
			latest, _ := st.LatestMaterializations(ctx)
			eng.LastMaterialized = func(k asset.Key) time.Time { return latest[k].Time }
			eng.Observe = view.observe
			res := eng.RunChecks(ctx, runID, keys, part)
			if mode != "json" {
				failed := len(res.FailedChecks)
				fmt.Fprintf(e.stdout, "\n%d checks on %d assets, %d not passed\n", n, len(keys), failed)
				if failed > 0 {
					sort.Slice(res.FailedChecks, func(i, j int) bool { return res.FailedChecks[i].Asset.Compare(res.FailedChecks[j].Asset) < 0 })
					tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
					for _, c := range res.FailedChecks {
						fmt.Fprintf(tw, "  %s:%s\t%s\t%s\n", c.Asset, c.Check, c.Severity, firstLine(c.Message))
					}
					tw.Flush()
				}
			}
			if res.Status != engine.StatusSucceeded {
				return &runFailed{canceled: res.Status == engine.StatusCanceled}
			}
			return nil
		},
	}
	sel.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "json for JSON lines")
	cmd.Flags().StringVar(&partition, "partition", "", "check one partition")
	return cmd
}
