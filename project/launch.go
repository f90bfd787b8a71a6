package project

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/notify"
	"github.com/eltproject/elt/schedule"
	"github.com/eltproject/elt/store"
)

// Launcher returns the function the daemon and backfills use to start a
// run and wait for it. observe, when set, sees every event.
func (p *Project) Launcher(st store.Store, trigger func(schedule.RunRequest) string, observe func(engine.Event)) schedule.Launcher {
	p.BindStore(st)
	return func(ctx context.Context, req schedule.RunRequest) (string, error) {
		if len(req.AddPartitions) > 0 {
			names := make([]string, 0, len(req.AddPartitions))
			for n := range req.AddPartitions {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				if _, err := st.AddPartitions(ctx, n, req.AddPartitions[n]); err != nil {
					return "", err
				}
			}
		}
		if req.AddOnly {
			return "", nil
		}
		opts := RunOptions{Job: req.Job, Select: req.Selection, Exclude: req.Exclude, Partition: req.PartitionKey,
			PartitionKeys: req.PartitionKeys, Tags: req.Tags, Observe: observe}
		if opts.Tags == nil {
			opts.Tags = map[string]string{}
		}
		if len(req.Files) > 0 {
			opts.Tags["files"] = strings.Join(req.Files, "\n")
		}
		if req.Reason != "" {
			opts.Tags["reason"] = req.Reason
		}
		if trigger != nil {
			opts.Trigger = trigger(req)
		}
		res, err := p.Run(ctx, st, opts)
		if err != nil {
			if res != nil {
				return res.RunID, err
			}
			return "", err
		}
		if res.Status != engine.StatusSucceeded {
			msg := res.Status
			if res.Err != nil {
				msg += ": " + res.Err.Error()
			}
			return res.RunID, fmt.Errorf("run %s %s", res.RunID, msg)
		}
		return res.RunID, nil
	}
}

// Daemon builds the daemon for this project.
func (p *Project) Daemon(st store.Store, owner string, maxRuns int, logf func(string, ...any)) *schedule.Daemon {
	p.BindStore(st)
	trigger := func(req schedule.RunRequest) string { return "daemon" }
	d := &schedule.Daemon{
		Clock: schedule.RealClock{}, Store: st, Launch: p.Launcher(st, trigger, nil),
		Schedules: p.Automation.Schedules, Sensors: p.Automation.Sensors,
		MaxRuns: maxRuns, Owner: owner, Log: logf, ShutdownGrace: 30 * time.Second,
		Notify: func(ctx context.Context, req schedule.RunRequest) error {
			status := "stale"
			if req.Recovered {
				status = "fresh"
			}
			p.notifyMessage(ctx, notify.Message{Project: p.Config.Name, Status: status, Error: req.Reason}, true)
			return nil
		},
	}
	return d
}
