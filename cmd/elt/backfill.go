package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/project"
	"github.com/eltproject/elt/schedule"
	"github.com/eltproject/elt/store"
)

type backfillOptions struct {
	selects       []string
	job           string
	from, to      string
	partitions    []string
	missingOnly   bool
	policy        string
	maxConcurrent int
	dryRun        bool
}

func newBackfillCmd(e *env) *cobra.Command {
	var o backfillOptions
	cmd := &cobra.Command{
		Use:   "backfill",
		Short: "Materialize a range of partitions; list, show, resume and cancel backfills",
		Long: `Run a job or selection over a range of partitions, one run per partition
(--policy per-partition) or one run for each contiguous range (--policy
single-run: dbt gets the window in --vars, Sling a --range, dlt the interval).
A backfill is recorded: 'elt backfill resume ID' runs only what is not done.

  elt backfill --job daily --from 2024-01-01 --to 2024-01-31 --max-concurrent 4
  elt backfill -s "+marts/daily_prices" --from 2024-01-01 --to 2024-03-31 --missing-only --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBackfill(cmd, e, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.selects, "select", "s", nil, "assets to backfill (selection grammar)")
	f.StringVar(&o.job, "job", "", "job to backfill")
	f.StringVar(&o.from, "from", "", "first partition key (included)")
	f.StringVar(&o.to, "to", "", "last partition key (included)")
	f.StringSliceVar(&o.partitions, "partitions", nil, "explicit partition keys k1,k2,…")
	f.BoolVar(&o.missingOnly, "missing-only", false, "skip partitions already materialized for every selected asset")
	f.StringVar(&o.policy, "policy", schedule.PolicyPerPartition, "per-partition or single-run")
	f.IntVar(&o.maxConcurrent, "max-concurrent", 1, "runs at once")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the partitions and runs without running")
	cmd.AddCommand(newBackfillListCmd(e), newBackfillShowCmd(e), newBackfillResumeCmd(e), newBackfillCancelCmd(e))
	return cmd
}

func runBackfill(cmd *cobra.Command, e *env, o backfillOptions) error {
	if len(o.selects) == 0 && o.job == "" {
		return usagef("backfill needs --select or --job")
	}
	if o.from == "" && o.to == "" && len(o.partitions) == 0 {
		return usagef("backfill needs --from/--to or --partitions")
	}
	ctx := cmd.Context()
	p, st, err := e.loadWithStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	p.BindStore(st)
	set, err := p.Select(o.job, o.selects, nil)
	if err != nil {
		return err
	}
	def, err := partitionsOfSelection(p, set)
	if err != nil {
		return err
	}
	status, err := partitionStatusAll(ctx, p, st, set)
	if err != nil {
		return err
	}
	plan, err := schedule.PlanBackfill(ctx, def, schedule.BackfillOptions{From: o.from, To: o.to, Keys: o.partitions,
		MissingOnly: o.missingOnly, Policy: o.policy, Status: status, Now: time.Now()})
	if err != nil {
		return usagef("%v", err)
	}
	fmt.Fprintf(e.stdout, "backfill of %s of %s in %s (%s)\n", plural(len(plan.Keys), "partition"), plan.Definition, plural(len(plan.Runs), "run"), plan.Policy)
	if o.dryRun {
		for _, r := range plan.Runs {
			if len(r) == 1 {
				fmt.Fprintf(e.stdout, "  run %s\n", r[0])
			} else {
				fmt.Fprintf(e.stdout, "  run %s..%s (%d keys)\n", r[0], r[len(r)-1], len(r))
			}
		}
		return nil
	}
	if len(plan.Keys) == 0 {
		fmt.Fprintln(e.stdout, "nothing to do")
		return nil
	}
	id := "bf-" + store.NewRunID()
	bf := store.Backfill{ID: id, Selection: strings.Join(o.selects, " "), Job: o.job, Policy: plan.Policy, Status: schedule.BackfillRequested, Partitions: plan.Keys}
	if err := st.CreateBackfill(ctx, bf); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backfill %s started\n", id)
	e.flush()
	return executeBackfill(ctx, e, p, st, def, bf, p.SplitForBackfill(set), nil, o.maxConcurrent)
}

// executeBackfill runs the unpartitioned upstream once, the partitions,
// then (when every partition succeeded) the unpartitioned downstream once.
func executeBackfill(ctx context.Context, e *env, p *project.Project, st *store.SQLite, def schedule.Definition, bf store.Backfill, split project.BackfillSplit, done map[string]string, maxConc int) error {
	once := func(keys []asset.Key, when string) error {
		if len(keys) == 0 {
			return nil
		}
		res, err := p.Run(ctx, st, project.RunOptions{Assets: keys, Trigger: "backfill:" + bf.ID, Tags: map[string]string{schedule.TagBackfill: bf.ID}})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "  %s (%d unpartitioned assets) run %s %s\n", when, len(keys), res.RunID, res.Status)
		e.flush()
		if res.Status != engine.StatusSucceeded {
			return &runFailed{canceled: res.Status == engine.StatusCanceled}
		}
		return nil
	}
	if err := once(split.Before, "upstream"); err != nil {
		fmt.Fprintf(e.stdout, "backfill %s stopped: its unpartitioned upstream failed; resume with: elt backfill resume %s\n", bf.ID, bf.ID)
		return err
	}
	if err := runPartitions(ctx, e, p, st, def, bf, project.KeysSelection(split.Partitioned), done, maxConc); err != nil {
		return err
	}
	return once(split.After, "downstream")
}

func runPartitions(ctx context.Context, e *env, p *project.Project, st *store.SQLite, def schedule.Definition, bf store.Backfill, selection string, done map[string]string, maxConc int) error {
	var mu = make(chan struct{}, 1)
	observe := func(ev engine.Event) {
		switch ev.Type {
		case engine.RunSucceeded, engine.RunFailed, engine.RunCanceled:
			mu <- struct{}{}
			fmt.Fprintf(e.stdout, "  %s run %s %s\n", ev.Partition, ev.RunID, ev.Status)
			e.flush()
			<-mu
		}
	}
	b := &schedule.Backfiller{Store: st, Def: def, MaxConcurrent: maxConc,
		Launch: p.Launcher(st, func(schedule.RunRequest) string { return "backfill:" + bf.ID }, observe),
		Status: func(ctx context.Context, id string) (string, error) {
			got, err := st.GetBackfill(ctx, id)
			return got.Status, err
		}}
	res, err := b.Execute(ctx, schedule.BackfillJob{ID: bf.ID, Selection: selection, Policy: bf.Policy, Partitions: bf.Partitions, Done: done})
	fmt.Fprintf(e.stdout, "backfill %s %s: %d succeeded, %d failed, %d canceled, %d already done\n", bf.ID, res.Status, res.Succeeded, res.Failed, res.Canceled, res.AlreadyDone)
	if err != nil {
		return err
	}
	switch res.Status {
	case schedule.BackfillSucceeded:
		return nil
	case schedule.BackfillCanceled:
		fmt.Fprintf(e.stdout, "resume with: elt backfill resume %s\n", bf.ID)
		return &runFailed{canceled: ctx.Err() != nil}
	}
	fmt.Fprintf(e.stdout, "resume with: elt backfill resume %s\n", bf.ID)
	return &runFailed{}
}

func partitionsOfSelection(p *project.Project, set asset.Set) (schedule.Definition, error) {
	names := map[string]bool{}
	for _, s := range p.Graph.SetSpecs(set) {
		if s.Partitions != "" && !s.External {
			names[s.Partitions] = true
		}
	}
	switch len(names) {
	case 0:
		return nil, usagef("none of the selected assets is partitioned; give them partitions: NAME in elt.yaml")
	case 1:
		for n := range names {
			return p.Definition(n)
		}
	}
	var l []string
	for n := range names {
		l = append(l, n)
	}
	sort.Strings(l)
	return nil, usagef("the selection mixes partitions definitions (%s); backfill one at a time", strings.Join(l, ", "))
}

// partitionStatusAll marks a key materialized only when every selected
// partitioned asset has it materialized, failed when any failed.
func partitionStatusAll(ctx context.Context, p *project.Project, st *store.SQLite, set asset.Set) (map[string]string, error) {
	var out map[string]string
	for _, s := range p.Graph.SetSpecs(set) {
		if s.Partitions == "" || s.External {
			continue
		}
		m, err := st.PartitionStatuses(ctx, s.Key)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = map[string]string{}
			for k, v := range m {
				out[k] = v
			}
			continue
		}
		for k, v := range out {
			switch {
			case m[k] == "":
				delete(out, k)
			case m[k] == schedule.StatusFailed || v == schedule.StatusFailed:
				out[k] = schedule.StatusFailed
			}
		}
	}
	return out, nil
}

func newBackfillListCmd(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List backfills with their progress",
		Args:  cobra.NoArgs,
		RunE: e.withStore(&output, func(ctx context.Context, cmd *cobra.Command, args []string, p *project.Project, st *store.SQLite) error {
			bfs, err := st.ListBackfills(ctx, 50)
			if err != nil {
				return err
			}
			if output == "json" {
				if bfs == nil {
					bfs = []store.Backfill{}
				}
				return e.printJSON(bfs)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "BACKFILL\tSTATUS\tPOLICY\tPROGRESS\tSELECTION\tCREATED")
			for _, b := range bfs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.Status, b.Policy, progress(b), dash(strings.TrimSpace("job:"+b.Job+" "+b.Selection)), b.CreatedAt.Local().Format("2006-01-02 15:04"))
			}
			return tw.Flush()
		}),
	}
	outputFlag(cmd, &output)
	return cmd
}

func progress(b store.Backfill) string {
	counts := map[string]int{}
	for _, r := range b.Results {
		counts[r.Status]++
	}
	return fmt.Sprintf("%d/%d ok, %d failed", counts[engine.StatusSucceeded], len(b.Partitions), counts[engine.StatusFailed])
}

func newBackfillShowCmd(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a backfill: which partitions succeeded or failed, with their runs",
		Args:  cobra.ExactArgs(1),
		RunE: e.withStore(&output, func(ctx context.Context, cmd *cobra.Command, args []string, p *project.Project, st *store.SQLite) error {
			b, err := st.GetBackfill(ctx, args[0])
			if err != nil {
				return usagef("%v; list backfills with 'elt backfill list'", err)
			}
			if output == "json" {
				return e.printJSON(b)
			}
			fmt.Fprintf(e.stdout, "backfill %s  %s  %s  %s\n", b.ID, b.Status, b.Policy, progress(b))
			status := map[string]string{}
			for k, r := range b.Results {
				status[k] = r.Status
			}
			for _, seg := range schedule.CompactStatus(b.Partitions, status) {
				fmt.Fprintf(e.stdout, "  %s\n", strings.Replace(seg.String(), schedule.StatusMissing, "pending", 1))
			}
			return nil
		}),
	}
	outputFlag(cmd, &output)
	return cmd
}

func newBackfillResumeCmd(e *env) *cobra.Command {
	var maxConcurrent int
	cmd := &cobra.Command{
		Use:   "resume ID",
		Short: "Run the partitions of a backfill that have not succeeded",
		Args:  cobra.ExactArgs(1),
		RunE: e.withStore(nil, func(ctx context.Context, cmd *cobra.Command, args []string, p *project.Project, st *store.SQLite) error {
			p.BindStore(st)
			b, err := st.GetBackfill(ctx, args[0])
			if err != nil {
				return usagef("%v; list backfills with 'elt backfill list'", err)
			}
			var sel []string
			if b.Selection != "" {
				sel = []string{b.Selection}
			}
			set, err := p.Select(b.Job, sel, nil)
			if err != nil {
				return err
			}
			def, err := partitionsOfSelection(p, set)
			if err != nil {
				return err
			}
			done := map[string]string{}
			for k, r := range b.Results {
				done[k] = r.Status
			}
			return executeBackfill(ctx, e, p, st, def, b, p.SplitForBackfill(set), done, maxConcurrent)
		}),
	}
	cmd.Flags().IntVar(&maxConcurrent, "max-concurrent", 1, "runs at once")
	return cmd
}

func newBackfillCancelCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a backfill: no new runs start; running ones finish",
		Args:  cobra.ExactArgs(1),
		RunE: e.withStore(nil, func(ctx context.Context, cmd *cobra.Command, args []string, p *project.Project, st *store.SQLite) error {
			b, err := st.GetBackfill(ctx, args[0])
			if err != nil {
				return usagef("%v", err)
			}
			if err := st.SetBackfillStatus(ctx, b.ID, schedule.BackfillCanceled); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "backfill %s canceled; resume it with 'elt backfill resume %s'\n", b.ID, b.ID)
			return nil
		}),
	}
}
