package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"

	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/process"
)

// stepProcessesSQL is migration 2: the process groups (supervisors, on
// Linux) that step attempts started, so that a dead run's processes can be
// ended before its locks are freed.
const stepProcessesSQL = `
CREATE TABLE step_processes (
	run_id     TEXT NOT NULL REFERENCES runs(id),
	pgid       INTEGER NOT NULL,
	step_id    TEXT NOT NULL,
	attempt    INTEGER NOT NULL,
	started_at INTEGER NOT NULL,
	PRIMARY KEY (run_id, pgid)
) WITHOUT ROWID;
`

// DiedReason is the error of a step attempt that was running when the elt
// process running it died.
const DiedReason = "elt process died"

// RecordProcess records that a step attempt of runID started a process
// group pgid (see engine.ProcessRecorder).
func (s *SQLite) RecordProcess(ctx context.Context, runID, stepID string, attempt, pgid int) error {
	now := unixNano(s.now())
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT OR REPLACE INTO step_processes(run_id, pgid, step_id, attempt, started_at) VALUES (?, ?, ?, ?, ?)`,
			runID, pgid, stepID, attempt, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("record process %d of step %s of run %s: %w", pgid, stepID, runID, err)
	}
	return nil
}

// StepProcesses returns the process groups recorded for runID.
func (s *SQLite) StepProcesses(ctx context.Context, runID string) ([]int, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT pgid FROM step_processes WHERE run_id = ? ORDER BY started_at`, runID)
	if err != nil {
		return nil, fmt.Errorf("processes of run %s: %w", runID, err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var p int
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("processes of run %s: %w", runID, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// endProcesses makes sure nothing a dead run started on this host still
// runs: its recorded supervisors get SIGTERM (they end their descendants),
// then anything left that carries the run's id in its environment is
// killed. It reports how many processes could not be ended.
func endProcesses(tx *sql.Tx, runID string, eltPid int) (int, error) {
	rows, err := tx.Query(`SELECT pgid FROM step_processes WHERE run_id = ?`, runID)
	if err != nil {
		return 0, err
	}
	var groups []int
	for rows.Next() {
		var p int
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return 0, err
		}
		groups = append(groups, p)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	left := process.EndRun(groups, eltPid, "ELT_RUN_ID="+runID, process.DefaultGrace+time.Second)
	return len(left), nil
}

// endRunningSteps ends the attempts of runID still marked running with
// status and why, at time at.
func endRunningSteps(tx *sql.Tx, runID string, at time.Time, status, why string) error {
	// The running attempts, and the attempts that started a process but
	// whose start was not recorded yet (a short step's start is committed
	// with its end): those start when their process did.
	rows, err := tx.Query(`SELECT step_id, attempt, 0 FROM step_attempts WHERE run_id = ? AND status = ?
		UNION
		SELECT p.step_id, p.attempt, MIN(p.started_at) FROM step_processes p
		WHERE p.run_id = ? AND NOT EXISTS (SELECT 1 FROM step_attempts a
			WHERE a.run_id = p.run_id AND a.step_id = p.step_id AND a.attempt = p.attempt)
		GROUP BY p.step_id, p.attempt`, runID, engine.StatusRunning, runID)
	if err != nil {
		return err
	}
	var evs []engine.Event
	for rows.Next() {
		ev := engine.Event{Type: engine.StepFailed, Time: at, RunID: runID, Status: status, Message: why}
		var started int64
		if err := rows.Scan(&ev.StepID, &ev.Attempt, &started); err != nil {
			rows.Close()
			return err
		}
		if started != 0 {
			begin := fromUnixNano(started)
			if at.Before(begin) {
				ev.Time = begin
			}
			evs = append(evs, engine.Event{Type: engine.StepStarted, Time: begin, RunID: runID, StepID: ev.StepID, Attempt: ev.Attempt, Status: engine.StatusRunning})
		}
		evs = append(evs, ev)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, ev := range evs {
		body, err := eventJSON(ev)
		if err != nil {
			return err
		}
		if err := insertEvent(tx, ev, body); err != nil {
			return err
		}
		if err := applyStep(tx, ev); err != nil {
			return err
		}
	}
	return nil
}

// AbortRun ends runID at once, for an elt that stops without waiting for
// its steps (a second Ctrl-C): the processes its steps started are killed
// without a grace period, then its running steps and the run end with
// status (canceled or failed) and why, and its locks are freed.
func (s *SQLite) AbortRun(ctx context.Context, runID, status, why string) error {
	groups, err := s.StepProcesses(ctx, runID)
	if err != nil {
		return err
	}
	process.EndRun(groups, os.Getpid(), "ELT_RUN_ID="+runID, 0)
	now := s.now()
	typ := engine.RunFailed
	if status == engine.StatusCanceled {
		typ = engine.RunCanceled
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		if err := endRunningSteps(tx, runID, now, status, why); err != nil {
			return err
		}
		ev := engine.Event{Type: typ, Time: now, RunID: runID, Status: status, Message: why}
		body, err := eventJSON(ev)
		if err != nil {
			return err
		}
		if err := insertEvent(tx, ev, body); err != nil {
			return err
		}
		return endRun(tx, runID, status, unixNano(now))
	})
	if err != nil {
		return fmt.Errorf("abort run %s: %w", runID, err)
	}
	return nil
}
