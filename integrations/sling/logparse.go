package sling

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Sling's text log lines elt follows (see the fixtures' logs/ and
// core/sling/task_run.go in sling-cli):
//
//	INF [8 / 24] running stream "main"."date_dim"
//	INF inserted 100 rows into "public"."users" in 2 secs [50 r/s]
//	INF wrote 653434 rows [42,131 r/s]
//	INF execution succeeded
//	INF execution failed
var (
	reRunning = regexp.MustCompile(`\[\s*(\d+)\s*/\s*(\d+)\s*\]\s+running stream\s+(.+?)\s*$`)
	reRows    = regexp.MustCompile(`\b(?:inserted|wrote)\s+([\d,]+)\s+rows(?:\s+(?:into|to)\s+(\S+))?`)
	reDone    = regexp.MustCompile(`\bexecution (succeeded|failed)\b`)
	reErr     = regexp.MustCompile(`(?i)(\bERR\b|\bfatal\b|\berror\b)`)
	// reLevel matches a log line's time and level (4:22AM INF …).
	reLevel = regexp.MustCompile(`^(?:\S+\s+){1,2}(?:TRC|DBG|INF|WRN|ERR|FTL)\b`)
	reANSI  = regexp.MustCompile("\x1b\\[[0-9;]*m")
)

func stripANSI(s string) string { return reANSI.ReplaceAllString(s, "") }

// LogEvent is what one log line says about a stream.
type LogEvent struct {
	// Kind is "start", "rows", "succeeded" or "failed"; "" when the line
	// says nothing elt follows.
	Kind string
	// Stream is set on "start" (as Sling prints it).
	Stream string
	// Index and Total are the [i / N] of "start".
	Index, Total int
	// Rows and Table are set on "rows".
	Rows  int64
	Table string
}

// ParseLogLine reads one line of Sling's text log.
func ParseLogLine(line string) LogEvent {
	// Sling 1.4 colors its log even when it is not a terminal.
	if strings.Contains(line, "\x1b[") {
		line = stripANSI(line)
	}
	if m := reRunning.FindStringSubmatch(line); m != nil {
		i, _ := strconv.Atoi(m[1])
		n, _ := strconv.Atoi(m[2])
		return LogEvent{Kind: "start", Stream: m[3], Index: i, Total: n}
	}
	if m := reDone.FindStringSubmatch(line); m != nil {
		return LogEvent{Kind: m[1]}
	}
	if m := reRows.FindStringSubmatch(line); m != nil {
		n, _ := strconv.ParseInt(strings.ReplaceAll(m[1], ",", ""), 10, 64)
		return LogEvent{Kind: "rows", Rows: n, Table: m[2]}
	}
	return LogEvent{}
}

// logProgress follows the log of one run and keeps each planned stream's
// outcome as the log tells it.
type logProgress struct {
	planned []string
	current string // planned stream the log is on
	printed string // stream name as Sling printed it
	results map[string]*outcome
	lastErr string
	// failed is the stream whose "execution failed" line was the last
	// line; Sling prints the reason on the lines after it.
	failed *outcome
}

// defaultFailure is a failed stream's message until Sling's reason is read.
const defaultFailure = "execution failed (see the step log)"

func newLogProgress(planned []string) *logProgress {
	lp := &logProgress{planned: planned, results: map[string]*outcome{}}
	if len(planned) == 1 {
		lp.current = planned[0]
	}
	return lp
}

// plannedFor maps a stream name as Sling prints it to a planned stream.
func (lp *logProgress) plannedFor(printed string) string {
	got := normName(printed)
	for _, p := range lp.planned {
		if normName(p) == got {
			return p
		}
	}
	for _, p := range lp.planned {
		want := normName(p)
		if strings.ContainsAny(want, "*?") {
			if ok, _ := path.Match(want, got); ok {
				return p
			}
		}
	}
	if len(lp.planned) == 1 {
		return lp.planned[0]
	}
	return ""
}

// feed takes one line and returns a progress message worth showing, or "".
func (lp *logProgress) feed(line string) string {
	ev := ParseLogLine(line)
	if o := lp.failed; o != nil {
		// Sling 1.4 prints why a stream failed on the plain lines after
		// "execution failed" (lstat …: no such file or directory).
		plain := strings.TrimSpace(stripANSI(line))
		switch {
		case plain == "" || ev.Kind != "" || reLevel.MatchString(plain):
			lp.failed = nil
		case o.err == defaultFailure:
			o.err = plain
			return ""
		default:
			o.err += "; " + plain
			return ""
		}
	}
	switch ev.Kind {
	case "start":
		lp.current = lp.plannedFor(ev.Stream)
		lp.printed = ev.Stream
		lp.lastErr = ""
		return fmt.Sprintf("sling: [%d/%d] running stream %s", ev.Index, ev.Total, ev.Stream)
	case "rows":
		if o := lp.cur(); o != nil {
			o.rows += ev.Rows
			if ev.Table != "" {
				o.tables = append(o.tables, ev.Table)
			}
		}
	case "succeeded":
		if o := lp.cur(); o != nil {
			if o.status != outcomeFailed {
				o.status = outcomeOK
			}
			return fmt.Sprintf("sling: stream %s succeeded (%d rows so far)", lp.name(), o.rows)
		}
	case "failed":
		if o := lp.cur(); o != nil {
			o.status = outcomeFailed
			o.err = lp.lastErr
			if o.err == "" {
				o.err = defaultFailure
			}
			lp.failed = o
			return fmt.Sprintf("sling: stream %s failed", lp.name())
		}
	default:
		if reErr.MatchString(line) && !strings.Contains(line, " DBG ") {
			lp.lastErr = strings.TrimSpace(line)
		}
	}
	return ""
}

func (lp *logProgress) name() string {
	if lp.printed != "" {
		return lp.printed
	}
	return lp.current
}

func (lp *logProgress) cur() *outcome {
	if lp.current == "" {
		return nil
	}
	o := lp.results[lp.current]
	if o == nil {
		o = &outcome{}
		lp.results[lp.current] = o
	}
	return o
}

// result returns the log's outcome for a planned stream, if it has one.
func (lp *logProgress) result(stream string) (outcome, bool) {
	o, ok := lp.results[stream]
	if !ok || o.status == outcomeUnknown {
		return outcome{}, false
	}
	return *o, true
}
