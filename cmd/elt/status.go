package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/project"
	"github.com/eltproject/elt/store"
)

// assetStatusJSON is one row of `elt assets status -o json`.
type assetStatusJSON struct {
	Key              asset.Key  `json:"key"`
	Status           string     `json:"status"` // succeeded, failed, …, never
	LastRun          string     `json:"last_run,omitempty"`
	LastTime         *time.Time `json:"last_time,omitempty"`
	LastMaterialized *time.Time `json:"last_materialized,omitempty"`
	Stale            bool       `json:"stale"`
	StaleBecause     []string   `json:"stale_because,omitempty"`
	ChecksPassed     int        `json:"checks_passed"`
	ChecksFailed     []string   `json:"checks_failed"`
}

func newAssetsStatusCmd(e *env) *cobra.Command {
	var sel selectFlags
	var output, partitionsOf string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Last materialization of each asset, its checks, and which assets are stale",
		Long: `Show, per asset, the last run that touched it, whether it succeeded, its
latest check results, and whether it is stale: an upstream asset was
materialized after it. With --partitions ASSET, show that asset's partitions
as compact ranges of materialized, failed and missing keys.`,
		Args: cobra.NoArgs,
		RunE: e.readOnlyStore(&output, func(ctx context.Context, cmd *cobra.Command, args []string, p *project.Project, st *store.SQLite) error {
			if partitionsOf != "" {
				return printPartitionStatus(cmd, e, p, st, partitionsOf, output)
			}
			set, err := sel.eval(p)
			if err != nil {
				return err
			}
			statuses, err := st.AssetStatuses(ctx)
			if err != nil {
				return err
			}
			rows := assetStatusRows(p, set, statuses)
			if output == "json" {
				return e.printJSON(rows)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ASSET\tSTATUS\tLAST MATERIALIZED\tRUN\tCHECKS\tSTALE")
			for _, r := range rows {
				when := "-"
				if r.LastMaterialized != nil {
					when = r.LastMaterialized.Local().Format("2006-01-02 15:04:05")
				}
				checks := fmt.Sprintf("%d ok", r.ChecksPassed)
				if len(r.ChecksFailed) > 0 {
					checks += ", failed: " + strings.Join(r.ChecksFailed, ",")
				}
				stale := "-"
				if r.Stale {
					stale = "stale (" + strings.Join(r.StaleBecause, ", ") + " newer)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Key, r.Status, when, dash(r.LastRun), checks, stale)
			}
			return tw.Flush()
		}),
	}
	sel.add(cmd)
	outputFlag(cmd, &output)
	cmd.Flags().StringVar(&partitionsOf, "partitions", "", "show the partition status of this asset")
	return cmd
}

func assetStatusRows(p *project.Project, set asset.Set, statuses map[asset.Key]store.AssetStatus) []assetStatusJSON {
	var rows []assetStatusJSON
	for _, s := range p.Graph.SetSpecs(set) {
		if s.External {
			continue
		}
		r := assetStatusJSON{Key: s.Key, Status: "never", ChecksFailed: []string{}}
		as, ok := statuses[s.Key]
		if ok {
			r.Status, r.LastRun = as.LastStatus, as.LastRunID
			if !as.LastTime.IsZero() {
				t := as.LastTime
				r.LastTime = &t
			}
			if as.LastMaterialization != nil {
				t := as.LastMaterialization.Time
				r.LastMaterialized = &t
			}
			for _, c := range as.Checks {
				if c.Passed {
					r.ChecksPassed++
				} else {
					r.ChecksFailed = append(r.ChecksFailed, c.Check)
				}
			}
		}
		// Stale: an upstream was materialized after this asset was.
		for _, d := range p.Graph.DirectDeps(s.Key) {
			ds, ok := statuses[d]
			if !ok || ds.LastMaterialization == nil {
				continue
			}
			if r.LastMaterialized == nil || ds.LastMaterialization.Time.After(*r.LastMaterialized) {
				if r.LastMaterialized != nil {
					r.Stale = true
					r.StaleBecause = append(r.StaleBecause, d.String())
				}
			}
		}
		rows = append(rows, r)
	}
	if rows == nil {
		rows = []assetStatusJSON{}
	}
	return rows
}
