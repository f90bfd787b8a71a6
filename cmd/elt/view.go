package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/eltproject/elt/engine"
)

// runView renders a run's events: JSON lines, plain prefixed lines, or on
// a terminal a live block of running steps that redraws in place.
type runView struct {
	mu      sync.Mutex
	w       io.Writer
	mode    string // json, plain, live
	color   bool
	running map[string]time.Time
	drawn   int // lines of the live block currently on screen
	done    int
	failed  int
	// unchanged counts materializations whose data equals the last one.
	unchanged int
	stop      chan struct{}
	stopped   chan struct{}
}

func newRunView(w io.Writer, mode string, color bool) *runView {
	v := &runView{w: w, mode: mode, color: color, running: map[string]time.Time{}}
	if mode == "live" {
		v.stop, v.stopped = make(chan struct{}), make(chan struct{})
		go v.ticker()
	}
	return v
}

func (v *runView) ticker() {
	defer close(v.stopped)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-v.stop:
			return
		case <-t.C:
			v.mu.Lock()
			v.redraw()
			flushOut(v.w)
			v.mu.Unlock()
		}
	}
}

// close removes the live block.
func (v *runView) close() {
	if v.stop != nil {
		close(v.stop)
		<-v.stopped
		v.mu.Lock()
		v.clear()
		flushOut(v.w)
		v.mu.Unlock()
	}
}

const (
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiDim    = "\x1b[2m"
	ansiReset  = "\x1b[0m"
)

func (v *runView) paint(color, s string) string {
	if !v.color {
		return s
	}
	return color + s + ansiReset
}

// observe is the engine's Observe hook.
func (v *runView) observe(ev engine.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ev.Type == engine.AssetMaterialized && ev.Metadata["unchanged"] == true {
		v.unchanged++
	}
	if v.mode == "json" {
		b, err := json.Marshal(ev)
		if err == nil {
			fmt.Fprintf(v.w, "%s\n", b)
			flushOut(v.w)
		}
		return
	}
	switch ev.Type {
	case engine.StepStarted:
		v.running[ev.StepID] = ev.Time
	case engine.StepSucceeded, engine.StepFailed, engine.StepSkipped:
		delete(v.running, ev.StepID)
		v.done++
		if ev.Type == engine.StepFailed {
			v.failed++
		}
	case engine.StepRetrying:
		delete(v.running, ev.StepID)
	}
	line := v.line(ev)
	if line == "" {
		return
	}
	v.clear()
	fmt.Fprintln(v.w, line)
	v.redraw()
	// Each event is shown as it happens, not when the buffer fills.
	flushOut(v.w)
}

// line formats an event for people; "" hides it.
func (v *runView) line(ev engine.Event) string {
	ts := ev.Time.Format("15:04:05")
	prefix := v.paint(ansiDim, ts) + " "
	switch ev.Type {
	case engine.RunStarted:
		if ev.Metadata["checks_only"] == true {
			return prefix + fmt.Sprintf("checks %s started", ev.RunID)
		}
		return prefix + fmt.Sprintf("run %s started: %s, %s", ev.RunID, plural(ev.Metadata["steps"], "step"), plural(ev.Metadata["assets"], "asset"))
	case engine.StepStarted:
		if v.mode == "live" {
			return ""
		}
		a := ""
		if ev.Attempt > 1 {
			a = fmt.Sprintf(" (attempt %d)", ev.Attempt)
		}
		return prefix + fmt.Sprintf("[%s] started%s", ev.StepID, a)
	case engine.StepSucceeded:
		return prefix + v.paint(ansiGreen, "✓") + fmt.Sprintf(" [%s] succeeded", ev.StepID)
	case engine.StepFailed:
		return prefix + v.paint(ansiRed, "✗") + fmt.Sprintf(" [%s] %s: %s", ev.StepID, ev.Status, indent(ev.Message))
	case engine.StepRetrying:
		return prefix + v.paint(ansiYellow, "↻") + fmt.Sprintf(" [%s] %s", ev.StepID, firstLine(ev.Message))
	case engine.StepSkipped:
		return prefix + v.paint(ansiYellow, "-") + fmt.Sprintf(" [%s] skipped: %s", ev.StepID, ev.Message)
	case engine.AssetMaterialized:
		return prefix + fmt.Sprintf("  materialized %s%s", ev.Asset, metaSummary(ev.Metadata))
	case engine.AssetFailed:
		return prefix + v.paint(ansiRed, fmt.Sprintf("  failed %s", ev.Asset)) + ": " + firstLine(ev.Message)
	case engine.AssetSkipped:
		return prefix + v.paint(ansiYellow, fmt.Sprintf("  %s %s", ev.Status, ev.Asset)) + ": " + ev.Message
	case engine.CheckEvaluated:
		mark := v.paint(ansiGreen, "passed")
		switch ev.Status {
		case "failed":
			mark = v.paint(ansiRed, "FAILED")
			if ev.Blocking {
				mark += " (blocking)"
			}
		case "warn":
			mark = v.paint(ansiYellow, "warn")
		}
		msg := ""
		if ev.Message != "" && ev.Status != "passed" {
			msg = ": " + ev.Message
		}
		if ev.Status != "passed" {
			msg += sampleRows(ev.Metadata["sample"])
		}
		return prefix + fmt.Sprintf("  check %s:%s %s%s", ev.Asset, ev.Check, mark, msg)
	case engine.Log:
		return prefix + fmt.Sprintf("  [%s] %s", ev.StepID, ev.Message)
	}
	return ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n    ") }

// metaSummary shows the few metadata values people scan for.
func metaSummary(md map[string]any) string {
	var parts []string
	for _, k := range []string{"rows", "rows_inserted", "rows_deleted", "rows_affected", "rows_loaded", "duration_ms", "relation"} {
		if v, ok := md[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	if md["unchanged"] == true {
		parts = append(parts, "unchanged")
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func (v *runView) clear() {
	if v.mode != "live" || v.drawn == 0 {
		return
	}
	fmt.Fprintf(v.w, "\x1b[%dA\x1b[J", v.drawn)
	v.drawn = 0
}

func (v *runView) redraw() {
	if v.mode != "live" {
		return
	}
	v.clear()
	ids := make([]string, 0, len(v.running))
	for id := range v.running {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return v.running[ids[i]].Before(v.running[ids[j]]) })
	const maxShown = 12
	now := time.Now()
	for i, id := range ids {
		if i == maxShown {
			fmt.Fprintf(v.w, "  … and %d more running\n", len(ids)-maxShown)
			v.drawn++
			break
		}
		fmt.Fprintf(v.w, "  %s %s %s\n", v.paint(ansiYellow, "●"), id, v.paint(ansiDim, now.Sub(v.running[id]).Round(100*time.Millisecond).String()))
		v.drawn++
	}
	fmt.Fprintf(v.w, "%s\n", v.paint(ansiDim, fmt.Sprintf("  %d running, %d done, %d failed", len(ids), v.done, v.failed)))
	v.drawn++
}

// sampleRows shows up to three failing rows a check reported.
func sampleRows(v any) string {
	var rows []any
	switch t := v.(type) {
	case []any:
		rows = t
	case []map[string]any:
		for _, m := range t {
			rows = append(rows, m)
		}
	}
	if len(rows) == 0 {
		return ""
	}
	var b strings.Builder
	for i, r := range rows {
		if i == 3 {
			fmt.Fprintf(&b, "\n           … %d more in the run's events", len(rows)-3)
			break
		}
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for j, k := range keys {
			parts[j] = fmt.Sprintf("%s=%v", k, m[k])
		}
		fmt.Fprintf(&b, "\n           failing row: %s", strings.Join(parts, " "))
	}
	return b.String()
}

// plural writes "1 step", "3 steps".
func plural(n any, word string) string {
	s := fmt.Sprint(n)
	if s == "1" {
		return s + " " + word
	}
	return s + " " + word + "s"
}
