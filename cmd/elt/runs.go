package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/project"
	"github.com/eltproject/elt/store"
)

func newRunsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "runs", Short: "Inspect past runs: list, show, logs"}
	cmd.AddCommand(newRunsListCmd(e), newRunsShowCmd(e), newRunsLogsCmd(e))
	return cmd
}

func newRunsListCmd(e *env) *cobra.Command {
	var output, status string
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List recent runs, newest first",
		Args:  cobra.NoArgs,
		RunE: e.readOnlyStore(&output, func(ctx context.Context, cmd *cobra.Command, args []string, p *project.Project, st *store.SQLite) error {
			if _, err := st.ReapDeadRuns(ctx, 2*time.Minute); err != nil {
				return err
			}
			runs, err := st.ListRuns(ctx, store.RunFilter{Limit: limit, Status: status})
			if err != nil {
				return err
			}
			if output == "json" {
				if runs == nil {
					runs = []store.Run{}
				}
				return e.printJSON(runs)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tSTATUS\tSTARTED\tDURATION\tTRIGGER\tPARTITION\tSELECTION")
			for _, r := range runs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Status, r.StartedAt.Local().Format("2006-01-02 15:04:05"),
					runDuration(r), r.Trigger, dash(r.Partition), dash(selectionText(r)))
			}
			return tw.Flush()
		}),
	}
	outputFlag(cmd, &output)
	cmd.Flags().IntVar(&limit, "limit", 20, "how many runs")
	cmd.Flags().StringVar(&status, "status", "", "only runs with this status (running, succeeded, failed, canceled)")
	return cmd
}

func selectionText(r store.Run) string {
	s := strings.ReplaceAll(r.Selection, "\n", " ")
	if r.Job != "" {
		s = strings.TrimSpace("job:" + r.Job + " " + s)
	}
	if r.ParentRunID != "" {
		s = strings.TrimSpace(s + " (from-failure " + r.ParentRunID + ")")
	}
	return s
}

func runDuration(r store.Run) string {
	if r.EndedAt.IsZero() {
		if r.Status == engine.StatusRunning {
			return time.Since(r.StartedAt).Round(time.Second).String() + "…"
		}
		return "-"
	}
	return r.EndedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
}

// runDetail is `elt runs show -o json`.
type runDetail struct {
	Run              store.Run               `json:"run"`
	Steps            []store.StepAttempt     `json:"steps"`
	Materializations []store.Materialization `json:"materializations"`
	Checks           []store.CheckResult     `json:"checks"`
}

func newRunsShowCmd(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show RUN",
		Short: "Show a run: steps, statuses, durations, materializations, checks",
		Args:  cobra.ExactArgs(1),
		RunE: e.readOnlyStore(&output, func(ctx context.Context, cmd *cobra.Command, args []string, p *project.Project, st *store.SQLite) error {
			// Like runs list: a run whose process is gone shows as failed.
			if _, err := st.ReapDeadRuns(ctx, 2*time.Minute); err != nil {
				return err
			}
			d, err := loadRunDetail(ctx, st, args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return e.printJSON(d)
			}
			r := d.Run
			fmt.Fprintf(e.stdout, "run %s  %s  started %s  duration %s  trigger %s\n", r.ID, r.Status,
				r.StartedAt.Local().Format("2006-01-02 15:04:05"), runDuration(r), r.Trigger)
			if s := selectionText(r); s != "" {
				fmt.Fprintf(e.stdout, "selection: %s\n", s)
			}
			if r.Partition != "" {
				fmt.Fprintf(e.stdout, "partition: %s\n", r.Partition)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "\nSTEP\tATTEMPT\tSTATUS\tDURATION\tERROR")
			for _, s := range d.Steps {
				dur := "-"
				if !s.EndedAt.IsZero() {
					dur = s.EndedAt.Sub(s.StartedAt).Round(time.Millisecond).String()
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", s.StepID, s.Attempt, s.Status, dur, dash(firstLine(s.Error)))
			}
			tw.Flush()
			if len(d.Materializations) > 0 {
				fmt.Fprintln(e.stdout, "\nmaterialized:")
				for _, m := range d.Materializations {
					fmt.Fprintf(e.stdout, "  %s%s\n", m.Asset, metaSummary(m.Metadata))
				}
			}
			if len(d.Checks) > 0 {
				fmt.Fprintln(e.stdout, "\nchecks:")
				for _, c := range d.Checks {
					st := "passed"
					if !c.Passed {
						st = "failed"
						if c.Severity == "warn" {
							st = "warn"
						}
						if c.Blocking {
							st += " (blocking)"
						}
					}
					msg := ""
					if !c.Passed && c.Message != "" {
						msg = ": " + firstLine(c.Message)
					}
					fmt.Fprintf(e.stdout, "  %s:%s %s%s\n", c.Asset, c.Check, st, msg)
				}
			}
			return nil
		}),
	}
	outputFlag(cmd, &output)
	return cmd
}

func loadRunDetail(ctx context.Context, st *store.SQLite, id string) (*runDetail, error) {
	r, err := st.GetRun(ctx, id)
	if err != nil {
		return nil, usagef("%v; list runs with 'elt runs list'", err)
	}
	steps, err := st.Steps(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	checks, err := st.CheckResults(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	evs, err := st.Events(ctx, r.ID, 0, 0)
	if err != nil {
		return nil, err
	}
	d := &runDetail{Run: r, Steps: steps, Checks: checks, Materializations: []store.Materialization{}}
	for _, ev := range evs {
		if ev.Type == engine.AssetMaterialized {
			d.Materializations = append(d.Materializations, store.Materialization{Asset: ev.Asset, RunID: ev.RunID, StepID: ev.StepID, Partition: ev.Partition, Time: ev.Time, Metadata: ev.Metadata})
		}
	}
	if d.Steps == nil {
		d.Steps = []store.StepAttempt{}
	}
	if d.Checks == nil {
		d.Checks = []store.CheckResult{}
	}
	return d, nil
}

func newRunsLogsCmd(e *env) *cobra.Command {
	var step string
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs RUN",
		Short: "Print the output of a run's steps (every attempt)",
		Args:  cobra.ExactArgs(1),
		RunE: e.readOnlyStore(nil, func(ctx context.Context, cmd *cobra.Command, args []string, p *project.Project, st *store.SQLite) error {
			r, err := st.GetRun(ctx, args[0])
			if err != nil {
				return usagef("%v; list runs with 'elt runs list'", err)
			}
			printed := map[string]int64{}
			headed := map[string]bool{}
			for {
				steps, err := st.Steps(ctx, r.ID)
				if err != nil {
					return err
				}
				found := false
				for _, s := range steps {
					if step != "" && s.StepID != step && !strings.HasPrefix(s.StepID, step) {
						continue
					}
					found = true
					if s.LogPath == "" {
						continue
					}
					if !headed[s.LogPath] {
						headed[s.LogPath] = true
						fmt.Fprintf(e.stdout, "── %s (attempt %d, %s) ──\n", s.StepID, s.Attempt, s.Status)
					}
					n, err := copyFrom(e.stdout, s.LogPath, printed[s.LogPath])
					if err != nil && !os.IsNotExist(err) {
						return err
					}
					printed[s.LogPath] = n
				}
				if step != "" && !found && !follow {
					return usagef("run %s has no step %q", r.ID, step)
				}
				if !follow {
					return nil
				}
				e.flush()
				cur, err := st.GetRun(ctx, r.ID)
				if err != nil {
					return err
				}
				if cur.Status != engine.StatusRunning {
					follow = false // one last pass prints what was written at the end
					continue
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(300 * time.Millisecond):
				}
			}
		}),
	}
	cmd.Flags().StringVar(&step, "step", "", "only this step (id or prefix)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output until the run ends")
	return cmd
}

// copyFrom prints path from offset on and returns the new offset.
func copyFrom(w io.Writer, path string, off int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return off, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return off, err
	}
	n, err := io.Copy(w, f)
	return off + n, err
}
