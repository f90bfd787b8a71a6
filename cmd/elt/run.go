package main

import (
	"fmt"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/project"
	"github.com/eltproject/elt/report"
)

type runOptions struct {
	sel         selectFlags
	partition   string
	fromFailure string
	concurrency int
	failFast    bool
	output      string
	junit       string
}

func newRunCmd(e *env) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Materialize assets (all, or a selection)",
		Long: `Materialize the selected assets in dependency order, in parallel.

Examples:
  elt run                                  # everything
  elt run -s +marts/orders                 # orders and everything upstream
  elt run --job nightly --partition 2024-05-01
  elt run --from-failure RUN_ID            # only what failed or never ran
  elt run -s state:modified+ --state prod-artifacts/   # slim CI`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAssets(cmd, e, o, project.RunOptions{})
		},
	}
	o.addFlags(cmd)
	return cmd
}

func (o *runOptions) addFlags(cmd *cobra.Command) {
	o.sel.add(cmd)
	f := cmd.Flags()
	f.StringVar(&o.partition, "partition", "", "materialize one partition key")
	f.StringVar(&o.fromFailure, "from-failure", "", "re-run only what failed, was skipped or never ran in RUN_ID")
	f.IntVar(&o.concurrency, "concurrency", 0, "steps running at once (default: concurrency in elt.yaml, else the number of CPUs)")
	f.BoolVar(&o.failFast, "fail-fast", false, "stop everything at the first failure")
	f.StringVarP(&o.output, "output", "o", "", "output: json for the event stream as JSON lines (default: live view on a terminal, plain lines otherwise)")
	f.StringVar(&o.junit, "junit", "", "write a JUnit XML report to FILE (one testcase per step and per check)")
}

// runAssets is `elt run` and its shorthands.
func runAssets(cmd *cobra.Command, e *env, o runOptions, base project.RunOptions) error {
	if o.output != "" && o.output != "json" && o.output != "table" {
		return usagef("--output must be json (event stream) or table, not %q", o.output)
	}
	if o.fromFailure != "" && (len(o.sel.selects) > 0 || o.sel.job != "" || len(o.sel.excludes) > 0 || o.sel.selector != "") {
		return usagef("--from-failure takes its selection from that run; drop --select, --exclude, --job and --selector")
	}
	if o.concurrency < 0 {
		return usagef("--concurrency must be 1 or more (0: the default)")
	}
	var junit *os.File
	if o.junit != "" {
		// Refuse an unwritable report path before running anything.
		f, err := os.Create(o.junit)
		if err != nil {
			return usagef("--junit: %v", err)
		}
		junit = f
		defer junit.Close()
	}
	ctx := cmd.Context()
	p, st, err := e.loadWithStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	mode := "plain"
	switch {
	case o.output == "json":
		mode = "json"
	case e.isTTY():
		mode = "live"
	}
	view := newRunView(e.stdout, mode, e.color())
	var col report.Collector
	opts := base
	opts.Job, opts.Select, opts.Exclude = o.sel.job, o.sel.selects, o.sel.excludes
	if o.sel.selector != "" {
		set, err := o.sel.eval(p)
		if err != nil {
			return err
		}
		opts.Job, opts.Select, opts.Exclude, opts.Assets = "", nil, nil, p.Graph.SetKeys(set)
	}
	opts.Partition, opts.FromFailure = o.partition, o.fromFailure
	opts.Concurrency, opts.FailFast = o.concurrency, o.failFast
	// The collector serves the JUnit report and GitHub's annotations only.
	collect := junit != nil || os.Getenv("GITHUB_ACTIONS") == "true"
	opts.Observe = func(ev engine.Event) {
		if ev.Type == engine.RunStarted {
			e.interrupts.setAbort(abortRun(st, ev.RunID))
		}
		if collect {
			col.Add(ev)
		}
		view.observe(ev)
	}
	res, err := p.Run(ctx, st, opts)
	e.interrupts.setAbort(nil)
	view.close()
	if err != nil {
		return err
	}
	if junit != nil {
		if err := report.WriteJUnit(junit, res.RunID, &col, res.Duration); err != nil {
			return fmt.Errorf("--junit %s: %w", o.junit, err)
		}
	}
	if collect && os.Getenv("GITHUB_ACTIONS") == "true" {
		report.GitHubAnnotations(e.stdout, &col)
		if path := os.Getenv("GITHUB_STEP_SUMMARY"); path != "" {
			f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			if err == nil {
				report.GitHubSummary(f, res.RunID, res.Status, &col, res.Duration)
				f.Close()
			}
		}
	}
	if mode != "json" {
		printRunSummary(e, res, view.unchanged)
	}
	switch res.Status {
	case engine.StatusSucceeded:
		return nil
	case engine.StatusCanceled:
		return &runFailed{canceled: true}
	}
	return &runFailed{}
}

func printRunSummary(e *env, res *engine.Result, unchanged int) {
	counts := map[string]int{}
	for _, s := range res.Assets {
		counts[s]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := ""
	for _, k := range keys {
		parts += fmt.Sprintf(" %d %s,", counts[k], k)
	}
	if parts != "" {
		parts = parts[:len(parts)-1]
	}
	status := res.Status
	if e.color() {
		c := ansiGreen
		if status != engine.StatusSucceeded {
			c = ansiRed
		}
		status = c + status + ansiReset
	}
	if unchanged > 0 {
		parts += fmt.Sprintf(" (%d with unchanged data)", unchanged)
	}
	fmt.Fprintf(e.stdout, "\nrun %s %s in %s:%s\n", res.RunID, status, res.Duration.Round(time.Millisecond), parts)
	var failedChecks []engine.Event
	for _, c := range res.FailedChecks {
		failedChecks = append(failedChecks, c)
	}
	if len(failedChecks) > 0 {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		for _, c := range failedChecks {
			kind := "warn"
			if c.Blocking {
				kind = "BLOCKING"
			} else if c.Status == "failed" {
				kind = "failed"
			}
			fmt.Fprintf(tw, "  check %s:%s\t%s\t%s\n", c.Asset, c.Check, kind, firstLine(c.Message))
		}
		tw.Flush()
	}
	if res.Err != nil {
		fmt.Fprintf(e.stdout, "first failure: %s\n", firstLine(res.Err.Error()))
	}
	if res.Status != engine.StatusSucceeded {
		fmt.Fprintf(e.stdout, "logs: elt runs logs %s    re-run what failed: elt run --from-failure %s\n", res.RunID, res.RunID)
	}
}

func newPlanCmd(e *env) *cobra.Command {
	var sel selectFlags
	var output string
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show the steps a run would execute, without running anything",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, set, err := sel.load(cmd, e, &output)
			if err != nil {
				return err
			}
			plan, err := p.Plan(set)
			if err != nil {
				return err
			}
			if output == "json" {
				return e.printJSON(plan)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "LEVEL\tSTEP\tKIND\tASSETS\tAFTER")
			for _, s := range plan.Steps {
				assets := ""
				for i, a := range s.Assets {
					if i == 3 {
						assets += fmt.Sprintf(" +%d more", len(s.Assets)-3)
						break
					}
					if i > 0 {
						assets += " "
					}
					assets += a.String()
				}
				after := "-"
				if len(s.Deps) > 0 {
					after = fmt.Sprint(s.Deps)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", s.Level, s.ID, s.Kind, assets, after)
			}
			tw.Flush()
			fmt.Fprintf(e.stdout, "%s, %s", plural(len(plan.Steps), "step"), plural(plan.AssetCount(), "asset"))
			if len(plan.Skipped) > 0 {
				fmt.Fprintf(e.stdout, ", %s not materialized", plural(len(plan.Skipped), "external asset"))
			}
			fmt.Fprintln(e.stdout)
			return nil
		},
	}
	sel.add(cmd)
	outputFlag(cmd, &output)
	return cmd
}
