package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/eltproject/elt/engine"
)

// CreateRun records r. ID is required (see NewRunID); Status defaults to
// "running", PID to this process, StartedAt and HeartbeatAt to now.
func (s *SQLite) CreateRun(ctx context.Context, r Run) error {
	if r.ID == "" {
		return errors.New("create run: empty run id (use store.NewRunID)")
	}
	if r.Status == "" {
		r.Status = engine.StatusRunning
	}
	if r.PID == 0 {
		r.PID = s.pid
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = s.now()
	}
	if r.HeartbeatAt.IsZero() {
		r.HeartbeatAt = r.StartedAt
	}
	tags := "{}"
	if len(r.Tags) > 0 {
		b, err := json.Marshal(r.Tags)
		if err != nil {
			return fmt.Errorf("create run %s: tags: %w", r.ID, err)
		}
		tags = string(b)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO runs(id, status, selection, job, trigger_name, partition_key, parent_run_id,
				pid, host, started_at, ended_at, heartbeat_at, tags)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Status, r.Selection, r.Job, r.Trigger, r.Partition, r.ParentRunID,
			r.PID, s.host, unixNano(r.StartedAt), unixNano(r.EndedAt), unixNano(r.HeartbeatAt), tags)
		if isConstraint(err, sqlite3.ErrConstraintPrimaryKey) {
			return fmt.Errorf("run id already exists")
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create run %s: %w", r.ID, err)
	}
	return nil
}

// Heartbeat marks runID as alive now, so ReapDeadRuns leaves it alone.
func (s *SQLite) Heartbeat(ctx context.Context, runID string) error {
	now := unixNano(s.now())
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE runs SET heartbeat_at = ? WHERE id = ?`, now, runID)
		return mustAffect(res, err, ErrNotFound)
	})
	if err != nil {
		return fmt.Errorf("heartbeat of run %s: %w", runID, err)
	}
	return nil
}

// ReapDeadRuns marks as failed every "running" run whose process is gone
// from this host, or, when staleAfter > 0, whose last heartbeat (or start)
// is older than staleAfter. Each gets a run_failed event saying why and
// loses its asset locks. It returns the reaped run ids.
func (s *SQLite) ReapDeadRuns(ctx context.Context, staleAfter time.Duration) ([]string, error) {
	var reaped []string
	err := s.write(ctx, func(tx *sql.Tx) error {
		reaped = nil
		now := s.now()
		type cand struct {
			id, host, why string
			pid           int
			beat          int64
		}
		rows, err := tx.Query(`SELECT id, pid, host, MAX(heartbeat_at, started_at) FROM runs WHERE status = ?`, engine.StatusRunning)
		if err != nil {
			return err
		}
		var dead []cand
		for rows.Next() {
			var c cand
			if err := rows.Scan(&c.id, &c.pid, &c.host, &c.beat); err != nil {
				rows.Close()
				return err
			}
			last := fromUnixNano(c.beat)
			switch {
			case c.host == s.host && c.pid > 0 && !s.alive(c.pid):
				c.why = fmt.Sprintf("run reaped: its process %d on %s is gone", c.pid, c.host)
			case staleAfter > 0 && now.Sub(last) > staleAfter:
				c.why = fmt.Sprintf("run reaped: no heartbeat since %s (more than %s ago)", last.Format(time.RFC3339), staleAfter)
			default:
				continue
			}
			dead = append(dead, c)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, c := range dead {
			if c.host == s.host {
				// Before its locks are freed, nothing the run started
				// may still run: a re-run would work beside it.
				left, err := endProcesses(tx, c.id, c.pid)
				if err != nil {
					return err
				}
				if left > 0 {
					continue // still there: try again next time
				}
			}
			// The run died at its last sign of life, not when noticed.
			died := fromUnixNano(c.beat)
			if err := endRunningSteps(tx, c.id, died, engine.StatusFailed, DiedReason); err != nil {
				return err
			}
			ev := engine.Event{Type: engine.RunFailed, Time: died, RunID: c.id, Status: engine.StatusFailed, Message: c.why}
			body, err := eventJSON(ev)
			if err != nil {
				return err
			}
			if err := insertEvent(tx, ev, body); err != nil {
				return err
			}
			if err := endRun(tx, c.id, engine.StatusFailed, c.beat); err != nil {
				return err
			}
			reaped = append(reaped, c.id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reap dead runs: %w", err)
	}
	return reaped, nil
}

const runColumns = `id, status, selection, job, trigger_name, partition_key, parent_run_id, pid, started_at, ended_at, heartbeat_at, tags`

func scanRun(sc interface{ Scan(...any) error }) (Run, error) {
	var (
		r                Run
		start, end, beat int64
		tags             string
	)
	if err := sc.Scan(&r.ID, &r.Status, &r.Selection, &r.Job, &r.Trigger, &r.Partition, &r.ParentRunID,
		&r.PID, &start, &end, &beat, &tags); err != nil {
		return r, err
	}
	r.StartedAt, r.EndedAt, r.HeartbeatAt = fromUnixNano(start), fromUnixNano(end), fromUnixNano(beat)
	if tags != "" && tags != "{}" {
		if err := json.Unmarshal([]byte(tags), &r.Tags); err != nil {
			return r, fmt.Errorf("run %s: decode tags: %w", r.ID, err)
		}
	}
	return r, nil
}

// ListRuns returns the runs matching f, newest first.
func (s *SQLite) ListRuns(ctx context.Context, f RunFilter) ([]Run, error) {
	var (
		where []string
		args  []any
	)
	for _, c := range []struct{ col, val string }{{"status", f.Status}, {"job", f.Job}, {"trigger_name", f.Trigger}} {
		if c.val != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	q := `SELECT ` + runColumns + ` FROM runs`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY started_at DESC, id DESC LIMIT ?`
	args = append(args, sqlLimit(f.Limit))
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var runs []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		runs = append(runs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return runs, nil
}

// GetRun returns the run whose id is id or, failing that, starts with id.
// A prefix matching several runs is an ErrAmbiguous error listing them.
func (s *SQLite) GetRun(ctx context.Context, id string) (Run, error) {
	full, err := s.resolveID(ctx, "runs", "run", id)
	if err != nil {
		return Run{}, err
	}
	r, err := scanRun(s.rdb.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, full))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Run{}, fmt.Errorf("run %s: %w", id, err)
	}
	return r, nil
}

// resolveID turns an id or unique id prefix into the full id of a row of
// table (runs or backfills).
func (s *SQLite) resolveID(ctx context.Context, table, kind, id string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("empty %s id", kind)
	}
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT id FROM `+table+` WHERE id = ?1 OR substr(id, 1, length(?1)) = ?1 ORDER BY id = ?1 DESC, id LIMIT 4`, id)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", kind, id, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var x string
		if err := rows.Scan(&x); err != nil {
			return "", fmt.Errorf("%s %s: %w", kind, id, err)
		}
		if x == id {
			return x, nil // an exact match wins over longer ids sharing it
		}
		ids = append(ids, x)
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("%s %s: %w", kind, id, err)
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("%s %s: %w", kind, id, ErrNotFound)
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("%s id prefix %q matches %s: %w; type more of the id", kind, id, shortList(ids), ErrAmbiguous)
}

// Steps returns the step attempts of runID in the order they started.
func (s *SQLite) Steps(ctx context.Context, runID string) ([]StepAttempt, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT run_id, step_id, attempt, status, assets, started_at, ended_at, error, log_path
		FROM step_attempts WHERE run_id = ? ORDER BY started_at, step_id, attempt`, runID)
	if err != nil {
		return nil, fmt.Errorf("steps of run %s: %w", runID, err)
	}
	defer rows.Close()
	var out []StepAttempt
	for rows.Next() {
		var (
			a          StepAttempt
			assets     string
			start, end int64
		)
		if err := rows.Scan(&a.RunID, &a.StepID, &a.Attempt, &a.Status, &assets, &start, &end, &a.Error, &a.LogPath); err != nil {
			return nil, fmt.Errorf("steps of run %s: %w", runID, err)
		}
		a.StartedAt, a.EndedAt = fromUnixNano(start), fromUnixNano(end)
		if a.Assets, err = decodeKeys(assets); err != nil {
			return nil, fmt.Errorf("steps of run %s: step %s: %w", runID, a.StepID, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("steps of run %s: %w", runID, err)
	}
	return out, nil
}

// Events returns up to limit (all when limit <= 0) events of runID with
// Seq greater than afterSeq, in the order recorded. Pass the last Seq seen
// to follow a run as it goes.
func (s *SQLite) Events(ctx context.Context, runID string, afterSeq int64, limit int) ([]StoredEvent, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT seq, body FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
		runID, afterSeq, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("events of run %s: %w", runID, err)
	}
	defer rows.Close()
	var out []StoredEvent
	for rows.Next() {
		var (
			e    StoredEvent
			body []byte
		)
		if err := rows.Scan(&e.Seq, &body); err != nil {
			return nil, fmt.Errorf("events of run %s: %w", runID, err)
		}
		if err := json.Unmarshal(body, &e.Event); err != nil {
			return nil, fmt.Errorf("events of run %s: event %d: %w", runID, e.Seq, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events of run %s: %w", runID, err)
	}
	return out, nil
}

// sqlLimit maps "no limit" (<= 0) to SQLite's -1.
func sqlLimit(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// mustAffect turns an update that matched no row into notFound.
func mustAffect(res sql.Result, err error, notFound error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound
	}
	return nil
}
