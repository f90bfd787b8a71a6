// Package report turns a run's events into the formats CI systems read:
// JUnit XML (one testcase per step and per check) and GitHub Actions
// annotations with a Markdown step summary.
package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/eltproject/elt/engine"
)

// Collector condenses the events of one run as they come: per step its
// status, attempts, duration and assets, and every check's outcome. It
// keeps no events, so a 10,000-step run costs a summary, not its event
// stream. The zero value is ready to use; it is not safe for concurrent
// use (the engine's Observe calls are serialized).
type Collector struct {
	steps  map[string]*StepSummary
	order  []string
	checks []CheckSummary
}

// Add takes in an event.
func (c *Collector) Add(ev engine.Event) {
	switch ev.Type {
	case engine.StepStarted:
		s, first := c.step(ev)
		if first {
			// The first attempt's start times the step and names its
			// assets.
			if a, ok := ev.Metadata["assets"].([]string); ok {
				s.Assets = a
			} else if l, ok := ev.Metadata["assets"].([]any); ok {
				for _, x := range l {
					s.Assets = append(s.Assets, fmt.Sprint(x))
				}
			}
		}
		s.Attempts = ev.Attempt
		s.Status = engine.StatusRunning
	case engine.StepSucceeded, engine.StepFailed, engine.StepSkipped:
		s, _ := c.step(ev)
		s.Status = ev.Status
		s.Message = ev.Message
		if !s.started.IsZero() {
			s.Duration = ev.Time.Sub(s.started)
		}
	case engine.CheckEvaluated:
		c.checks = append(c.checks, CheckSummary{Asset: ev.Asset.String(), Check: ev.Check, Status: ev.Status,
			Severity: ev.Severity, Message: ev.Message, Blocking: ev.Blocking})
	}
}

// step returns the summary of ev's step; first says it was created now,
// at ev's time.
func (c *Collector) step(ev engine.Event) (s *StepSummary, first bool) {
	s = c.steps[ev.StepID]
	if s == nil {
		first = true
		if c.steps == nil {
			c.steps = map[string]*StepSummary{}
		}
		s = &StepSummary{ID: ev.StepID, started: ev.Time}
		c.steps[ev.StepID] = s
		c.order = append(c.order, ev.StepID)
	}
	return s, first
}

// StepSummary is the outcome of one step.
type StepSummary struct {
	ID       string
	Status   string
	Attempts int
	Duration time.Duration
	Message  string
	Assets   []string
	started  time.Time
}

// CheckSummary is the outcome of one check.
type CheckSummary struct {
	Asset, Check, Status, Severity, Message string
	Blocking                                bool
}

// Summary returns the steps in the order they first appeared, and the
// checks in the order they were evaluated.
func (c *Collector) Summary() ([]StepSummary, []CheckSummary) {
	out := make([]StepSummary, 0, len(c.order))
	for _, id := range c.order {
		out = append(out, *c.steps[id])
	}
	return out, c.checks
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// WriteJUnit writes JUnit XML: a suite of steps and a suite of checks.
func WriteJUnit(w io.Writer, runID string, c *Collector, total time.Duration) error {
	steps, checks := c.Summary()
	ss := junitSuite{Name: "elt run " + runID + " steps", Time: secs(total)}
	for _, s := range steps {
		tc := junitCase{Name: s.ID, ClassName: "elt.step", Time: secs(s.Duration)}
		switch s.Status {
		case engine.StatusSucceeded:
		case engine.StatusSkipped, engine.StatusUpstreamFailed, engine.StatusBlockedByCheck:
			tc.Skipped = &junitSkipped{Message: s.Message}
			ss.Skipped++
		default:
			tc.Failure = &junitFailure{Message: firstLine(s.Message), Type: s.Status, Body: s.Message}
			ss.Failures++
		}
		ss.Cases = append(ss.Cases, tc)
	}
	ss.Tests = len(ss.Cases)
	cs := junitSuite{Name: "elt run " + runID + " checks", Time: "0"}
	for _, ch := range checks {
		tc := junitCase{Name: ch.Asset + ":" + ch.Check, ClassName: "elt.check", Time: "0"}
		if ch.Status != "passed" {
			typ := "failed"
			if ch.Status == "warn" {
				typ = "warn"
			}
			tc.Failure = &junitFailure{Message: firstLine(ch.Message), Type: typ, Body: ch.Message}
			cs.Failures++
		}
		cs.Cases = append(cs.Cases, tc)
	}
	cs.Tests = len(cs.Cases)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{ss, cs}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// GitHubAnnotations writes ::error / ::warning workflow commands for failed
// steps and checks.
func GitHubAnnotations(w io.Writer, c *Collector) {
	steps, checks := c.Summary()
	for _, s := range steps {
		if s.Status == engine.StatusFailed {
			fmt.Fprintf(w, "::error title=%s::%s\n", ghProperty("elt step "+s.ID+" failed"), ghData(s.Message))
		}
	}
	for _, ch := range checks {
		switch ch.Status {
		case "failed":
			fmt.Fprintf(w, "::error title=%s::%s\n", ghProperty("check "+ch.Asset+":"+ch.Check+" failed"), ghData(ch.Message))
		case "warn":
			fmt.Fprintf(w, "::warning title=%s::%s\n", ghProperty("check "+ch.Asset+":"+ch.Check), ghData(ch.Message))
		}
	}
}

// ghData escapes a workflow command's message.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghProperty escapes a workflow command's property value.
func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// GitHubSummary writes a Markdown summary for $GITHUB_STEP_SUMMARY.
func GitHubSummary(w io.Writer, runID, status string, c *Collector, total time.Duration) {
	steps, checks := c.Summary()
	icon := "✅"
	if status != engine.StatusSucceeded {
		icon = "❌"
	}
	fmt.Fprintf(w, "### %s elt run `%s` %s in %s\n\n", icon, runID, status, total.Round(time.Millisecond))
	fmt.Fprintln(w, "| step | status | attempts | duration |")
	fmt.Fprintln(w, "|---|---|---|---|")
	sort.SliceStable(steps, func(i, j int) bool { return rank(steps[i].Status) < rank(steps[j].Status) })
	for _, s := range steps {
		fmt.Fprintf(w, "| `%s` | %s | %d | %s |\n", s.ID, s.Status, s.Attempts, s.Duration.Round(time.Millisecond))
	}
	var bad []CheckSummary
	for _, ch := range checks {
		if ch.Status != "passed" {
			bad = append(bad, ch)
		}
	}
	fmt.Fprintf(w, "\n%d checks, %d not passed\n", len(checks), len(bad))
	for _, ch := range bad {
		fmt.Fprintf(w, "- **%s** `%s:%s`: %s\n", ch.Status, ch.Asset, ch.Check, firstLine(ch.Message))
	}
}

func rank(status string) int {
	switch status {
	case engine.StatusFailed:
		return 0
	case engine.StatusSucceeded:
		return 2
	}
	return 1
}
