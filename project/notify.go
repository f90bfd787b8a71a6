package project

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/notify"
)

// validateNotifications checks the notifications block.
func (p *Project) validateNotifications(probs *problems) {
	for i, n := range p.Config.Notifications {
		switch n.Type {
		case "webhook":
			if n.URL == "" {
				probs.add(0, "notifications[%d]: a webhook needs url:", i)
			}
		case "command":
			if n.Command.IsZero() {
				probs.add(n.Command.Line, "notifications[%d]: a command notification needs command:", i)
			}
		default:
			probs.add(0, "notifications[%d]: type must be webhook or command, not %q", i, n.Type)
		}
		for _, on := range n.On {
			if on != "failure" && on != "success" && on != "always" {
				probs.add(0, "notifications[%d]: on: takes failure, success or always, not %q", i, on)
			}
		}
	}
}

// notify sends the run's notifications; a failure to notify is printed,
// never fatal.
func (p *Project) notify(ctx context.Context, res *engine.Result) {
	if len(p.Config.Notifications) == 0 || res == nil {
		return
	}
	msg := notify.Message{Project: p.Config.Name, RunID: res.RunID, Status: res.Status, Duration: res.Duration}
	if res.Err != nil {
		msg.Error = p.Redact(res.Err.Error())
	}
	keys := make([]string, 0)
	for k, s := range res.Assets {
		if s == engine.StatusFailed {
			keys = append(keys, k.String())
		}
	}
	sort.Strings(keys)
	msg.Failed = keys
	for _, c := range res.FailedChecks {
		msg.Checks = append(msg.Checks, fmt.Sprintf("%s:%s %s", c.Asset, c.Check, p.Redact(c.Message)))
	}
	p.notifyMessage(ctx, msg, res.Status != engine.StatusSucceeded)
}

// notifyMessage sends msg through every notification whose `on:` matches
// (failure covers failed runs and stale assets).
func (p *Project) notifyMessage(ctx context.Context, msg notify.Message, failure bool) {
	for _, n := range p.Config.Notifications {
		on := n.On
		if len(on) == 0 {
			on = []string{"failure"}
		}
		want := slices.Contains(on, "always") ||
			(!failure && slices.Contains(on, "success")) ||
			(failure && slices.Contains(on, "failure"))
		if !want {
			continue
		}
		var s notify.Sender
		switch n.Type {
		case "webhook":
			s = &notify.Webhook{URL: n.URL, Headers: n.Headers, Timeout: time.Duration(n.Timeout)}
		case "command":
			s = &notify.Command{Argv: n.Command.Argv, Shell: n.Command.Shell, Env: p.Env(), Dir: p.Dir, Timeout: time.Duration(n.Timeout)}
		}
		if err := s.Send(ctx, msg); err != nil {
			fmt.Fprintf(os.Stderr, "elt: notification failed: %s\n", p.Redact(err.Error()))
		}
	}
}
