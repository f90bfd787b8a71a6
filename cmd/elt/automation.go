package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/project"
	"github.com/eltproject/elt/schedule"
	"github.com/eltproject/elt/store"
)

// addLaterCommands registers the automation, sync and plugin commands.
func addLaterCommands(root *cobra.Command, e *env) {
	root.AddCommand(
		newSyncCmd(e),
		newPartitionsCmd(e),
		newBackfillCmd(e),
		newSchedulesCmd(e),
		newSensorsCmd(e),
		newDaemonCmd(e),
		newStatusCmd(e),
		newPluginCmd(e),
	)
	for _, c := range root.Commands() {
		if c.Name() == "run" {
			c.AddCommand(newRunSlingCmd(e))
		}
	}
}

func newPartitionsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "partitions", Short: "List partition keys; add and delete dynamic ones"}
	var output string
	list := &cobra.Command{
		Use:   "list NAME",
		Short: "List the keys of a partitions definition",
		Args:  cobra.ExactArgs(1),
		RunE: e.withStore(&output, func(ctx context.Context, cmd *cobra.Command, args []string, p *project.Project, st *store.SQLite) error {
			p.BindStore(st)
			def, err := p.Definition(args[0])
			if err != nil {
				return err
			}
			keys, err := def.Keys(ctx, time.Now())
			if err != nil {
				return err
			}
			if output == "json" {
				if keys == nil {
					keys = []string{}
				}
				return e.printJSON(keys)
			}
			for _, k := range keys {
				fmt.Fprintln(e.stdout, k)
			}
			return nil
		}),
	}
	outputFlag(list, &output)
	change := func(use, short string, add bool) *cobra.Command {
		return &cobra.Command{
			Use:   use + " NAME KEY...",
			Short: short,
			Args:  cobra.MinimumNArgs(2),
			RunE: e.withStore(nil, func(ctx context.Context, cmd *cobra.Command, args []string, p *project.Project, st *store.SQLite) error {
				def, err := p.Definition(args[0])
				if err != nil {
					return err
				}
				if def.Kind() != schedule.KindDynamic {
					return usagef("partitions %q are %s; only dynamic partitions take keys from the CLI", args[0], def.Kind())
				}
				for _, k := range args[1:] {
					if err := schedule.ValidateKey(k); err != nil {
						return usagef("%v", err)
					}
				}
				var n int
				if add {
					n, err = st.AddPartitions(ctx, args[0], args[1:])
				} else {
					n, err = st.DeletePartitions(ctx, args[0], args[1:])
				}
				if err != nil {
					return err
				}
				verb := "added"
				if !add {
					verb = "deleted"
				}
				fmt.Fprintf(e.stdout, "%s %d of %d keys in %s\n", verb, n, len(args)-1, args[0])
				return nil
			}),
		}
	}
	cmd.AddCommand(list, change("add", "Add keys to a dynamic partitions definition", true), change("delete", "Delete keys from a dynamic partitions definition", false))
	return cmd
}

// printPartitionStatus is `elt assets status --partitions ASSET`.
func printPartitionStatus(cmd *cobra.Command, e *env, p *project.Project, st *store.SQLite, key, output string) error {
	ctx := cmd.Context()
	k, err := asset.ParseKey(key)
	if err != nil {
		return usagef("%v", err)
	}
	spec, ok := p.Graph.Spec(k)
	if !ok {
		return usagef("no asset %s; list assets with 'elt assets list'", k)
	}
	if spec.Partitions == "" {
		return usagef("asset %s is not partitioned", k)
	}
	p.BindStore(st)
	def, err := p.Definition(spec.Partitions)
	if err != nil {
		return err
	}
	keys, err := def.Keys(ctx, time.Now())
	if err != nil {
		return err
	}
	status, err := st.PartitionStatuses(ctx, k)
	if err != nil {
		return err
	}
	segs := schedule.CompactStatus(keys, status)
	if output == "json" {
		return e.printJSON(map[string]any{"asset": k, "partitions": spec.Partitions, "total": len(keys), "segments": segs})
	}
	counts := map[string]int{}
	for _, s := range segs {
		counts[s.Status] += s.Count
	}
	fmt.Fprintf(e.stdout, "%s (partitions %s): %d keys: %d materialized, %d failed, %d missing\n", k, spec.Partitions, len(keys),
		counts[schedule.StatusMaterialized], counts[schedule.StatusFailed], counts[schedule.StatusMissing])
	for _, s := range segs {
		fmt.Fprintf(e.stdout, "  %s\n", s.String())
	}
	return nil
}

func newSchedulesCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "schedules", Short: "List schedules and preview their ticks"}
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List schedules with their next tick",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			p, err := e.loadReadOnly(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			type row struct {
				Name     string    `json:"name"`
				Cron     string    `json:"cron"`
				Timezone string    `json:"timezone"`
				Runs     string    `json:"runs"`
				Next     time.Time `json:"next"`
				Catchup  string    `json:"catchup"`
			}
			var rows []row
			for _, s := range p.Automation.Schedules {
				pol, _ := s.Catchup()
				runs := "job:" + s.Config.Job
				if s.Config.Job == "" {
					runs = s.Config.Select
				}
				cronText := s.Config.Cron
				if cronText == "" {
					cronText = s.Describe()
				}
				rows = append(rows, row{Name: s.Name, Cron: cronText, Timezone: s.Location().String(), Runs: runs, Next: s.Next(now), Catchup: pol})
			}
			if output == "json" {
				if rows == nil {
					rows = []row{}
				}
				return e.printJSON(rows)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SCHEDULE\tCRON\tTIMEZONE\tRUNS\tNEXT TICK\tCATCHUP")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Cron, r.Timezone, r.Runs, r.Next.Format("2006-01-02 15:04:05 MST"), r.Catchup)
			}
			return tw.Flush()
		},
	}
	outputFlag(list, &output)
	var count int
	preview := &cobra.Command{
		Use:   "preview NAME",
		Short: "Show a schedule's next ticks and what each would run",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := e.load(cmd.Context())
			if err != nil {
				return err
			}
			s, err := p.Schedule(args[0])
			if err != nil {
				return err
			}
			for _, t := range s.Preview(time.Now(), count) {
				line := t.Format("2006-01-02 15:04:05 MST")
				if req, ok := s.Request(t); ok && req.PartitionKey != "" {
					line += "  partition " + req.PartitionKey
				}
				fmt.Fprintln(e.stdout, line)
			}
			return nil
		},
	}
	preview.Flags().IntVar(&count, "count", 5, "how many ticks")
	cmd.AddCommand(list, preview)
	return cmd
}

func newSensorsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "sensors", Short: "List sensors and evaluate one"}
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List sensors with their type, interval and cursor",
		Args:  cobra.NoArgs,
		RunE: e.readOnlyStore(&output, func(ctx context.Context, cmd *cobra.Command, args []string, p *project.Project, st *store.SQLite) error {
			type row struct {
				Name     string `json:"name"`
				Type     string `json:"type"`
				Interval string `json:"interval"`
				Cursor   string `json:"cursor"`
			}
			var rows []row
			for _, s := range p.Automation.Sensors {
				cur, _, err := st.Cursor(ctx, s.CursorName())
				if err != nil {
					return err
				}
				rows = append(rows, row{Name: s.Name, Type: s.Config.Type, Interval: s.Interval().String(), Cursor: cur})
			}
			if output == "json" {
				if rows == nil {
					rows = []row{}
				}
				return e.printJSON(rows)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SENSOR\tTYPE\tINTERVAL\tCURSOR")
			for _, r := range rows {
				c := r.Cursor
				if len(c) > 60 {
					c = c[:57] + "..."
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.Type, r.Interval, dash(c))
			}
			return tw.Flush()
		}),
	}
	outputFlag(list, &output)
	var dryRun bool
	tick := &cobra.Command{
		Use:   "tick NAME",
		Short: "Evaluate a sensor once and print what it requests (and run it, unless --dry-run)",
		Args:  cobra.ExactArgs(1),
		RunE: e.withStore(nil, func(ctx context.Context, cmd *cobra.Command, args []string, p *project.Project, st *store.SQLite) error {
			p.BindStore(st)
			s, err := p.Sensor(args[0])
			if err != nil {
				return err
			}
			reqs, err := schedule.EvaluateSensor(ctx, st, s, time.Now(), dryRun)
			if err != nil {
				fmt.Fprintf(e.stderr, "elt: sensor %s: %s\n", s.Name, p.Redact(err.Error()))
				return &silentError{code: exitFailed}
			}
			if len(reqs) == 0 {
				fmt.Fprintln(e.stdout, "no run requested")
				return nil
			}
			launch := p.Launcher(st, func(schedule.RunRequest) string { return "sensor:" + s.Name }, nil)
			failed := false
			for _, r := range reqs {
				fmt.Fprintf(e.stdout, "request: %s\n", describeRequest(r))
				e.flush()
				if dryRun {
					continue
				}
				id, err := launch(ctx, r)
				if err != nil {
					failed = true
					fmt.Fprintf(e.stdout, "  run %s: %v\n", id, err)
				} else if id != "" {
					fmt.Fprintf(e.stdout, "  run %s succeeded\n", id)
				}
				e.flush()
			}
			if failed {
				return &runFailed{}
			}
			return nil
		}),
	}
	tick.Flags().BoolVar(&dryRun, "dry-run", false, "print the requests without running them or moving the cursor")
	cmd.AddCommand(list, tick)
	return cmd
}

func describeRequest(r schedule.RunRequest) string {
	var parts []string
	if r.Job != "" {
		parts = append(parts, "job "+r.Job)
	}
	if len(r.Selection) > 0 {
		parts = append(parts, "select "+strings.Join(r.Selection, " "))
	}
	if r.PartitionKey != "" {
		parts = append(parts, "partition "+r.PartitionKey)
	}
	for def, keys := range r.AddPartitions {
		parts = append(parts, fmt.Sprintf("add %s: %s", def, strings.Join(keys, ",")))
	}
	if len(r.Files) > 0 {
		parts = append(parts, fmt.Sprintf("%d files", len(r.Files)))
	}
	if r.Reason != "" {
		parts = append(parts, "("+r.Reason+")")
	}
	return strings.Join(parts, ", ")
}

func newDaemonCmd(e *env) *cobra.Command {
	var maxRuns int
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Evaluate schedules and sensors and launch their runs until stopped",
		Long: `Run the scheduler: every schedule tick and sensor request becomes a run
through the engine, at most --max-runs at once. One daemon per project (a lock
in the run store). SIGTERM or Ctrl-C lets running runs finish for 30s, then
cancels and records them. 'elt status' tells whether the daemon is alive.`,
		Args: cobra.NoArgs,
		RunE: e.withStore(nil, func(ctx context.Context, cmd *cobra.Command, args []string, p *project.Project, st *store.SQLite) error {
			host, _ := os.Hostname()
			owner := fmt.Sprintf("%s:%d", host, os.Getpid())
			logf := func(format string, a ...any) {
				fmt.Fprintf(e.stdout, "%s %s\n", time.Now().Format("2006-01-02 15:04:05"), p.Redact(fmt.Sprintf(format, a...)))
				e.flush()
			}
			d := p.Daemon(st, owner, maxRuns, logf)
			err := d.Run(ctx)
			if errors.Is(err, schedule.ErrDaemonRunning) {
				return usagef("%v; see 'elt status'", err)
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		}),
	}
	cmd.Flags().IntVar(&maxRuns, "max-runs", 4, "runs at once")
	return cmd
}

func newStatusCmd(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Is the daemon alive, what is running, which assets are locked",
		Long: `Show whether the daemon is alive, the running runs and the locked assets.
A daemon whose recorded process on this host is gone is "not running",
whatever its last heartbeat; one on another host is judged by its heartbeat
(none for 2 minutes: "not responding").

Exit codes, for use as a health check: 0 the daemon is alive, 1 it is not
running or not responding, 2 bad project, 3 the run store could not be read.`,
		Args: cobra.NoArgs,
		RunE: e.readOnlyStore(&output, func(ctx context.Context, cmd *cobra.Command, args []string, p *project.Project, st *store.SQLite) error {
			if _, err := st.ReapDeadRuns(ctx, 2*time.Minute); err != nil {
				return err
			}
			d, ok, err := st.Daemon(ctx)
			if err != nil {
				return err
			}
			alive := ok && !d.Gone && time.Since(d.LastBeat) < 2*time.Minute
			running, err := st.ListRuns(ctx, store.RunFilter{Status: "running", Limit: 100})
			if err != nil {
				return err
			}
			locks, err := st.Locks(ctx)
			if err != nil {
				return err
			}
			var unhealthy error
			if !alive {
				unhealthy = &silentError{code: exitFailed}
			}
			if output == "json" {
				daemon := map[string]any{"alive": alive, "owner": d.Owner, "pid": d.PID, "host": d.Host, "last_heartbeat": d.LastBeat}
				if err := e.printJSON(map[string]any{"daemon": daemon, "running": nonNilRuns(running), "locks": len(locks)}); err != nil {
					return err
				}
				return unhealthy
			}
			age := time.Since(d.LastBeat).Round(time.Second)
			switch {
			case alive:
				fmt.Fprintf(e.stdout, "daemon: alive (%s, last heartbeat %s ago)\n", d.Owner, age)
			case ok && d.Gone:
				fmt.Fprintf(e.stdout, "daemon: not running (%s: its process %d on %s is gone; start it with 'elt daemon')\n", d.Owner, d.PID, d.Host)
			case ok:
				fmt.Fprintf(e.stdout, "daemon: not responding (%s, last heartbeat %s ago)\n", d.Owner, age)
			default:
				fmt.Fprintln(e.stdout, "daemon: not running (start it with 'elt daemon')")
			}
			fmt.Fprintf(e.stdout, "running runs: %d, locked assets: %d\n", len(running), len(locks))
			for _, r := range running {
				fmt.Fprintf(e.stdout, "  %s  %s  started %s\n", r.ID, r.Trigger, r.StartedAt.Local().Format("15:04:05"))
			}
			return unhealthy
		}),
	}
	outputFlag(cmd, &output)
	return cmd
}

func nonNilRuns(r []store.Run) []store.Run {
	if r == nil {
		return []store.Run{}
	}
	return r
}
