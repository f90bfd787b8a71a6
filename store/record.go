package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/mattn/go-sqlite3"

	"github.com/eltproject/elt/engine"
)

// Record appends ev to its run's events and updates the tables derived from
// it, returning once both are committed: a process killed after Record
// returns loses nothing. Concurrent calls share one commit.
//
// Derived tables: step events upsert the step attempt (metadata "log_path"
// and "assets" are kept when present); asset_materialized adds a
// materialization; asset_materialized, asset_failed and asset_skipped set
// the asset's status and, with a partition, the partition's status
// (only a real failure marks a partition failed, not upstream_failed or
// blocked_by_check); check_evaluated adds a check result; run_succeeded,
// run_failed and run_canceled end the run and release its asset locks.
// An event without a time is stamped with the store's clock.
func (s *SQLite) Record(ctx context.Context, ev engine.Event) error {
	if err := validateEvent(ev); err != nil {
		return err
	}
	if ev.Time.IsZero() {
		ev.Time = s.now()
	}
	body, err := eventJSON(ev)
	if err != nil {
		return fmt.Errorf("record %s event of run %s: %w", ev.Type, ev.RunID, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error { return applyEvent(tx, ev, body) })
	if err != nil {
		return fmt.Errorf("record %s event of run %s: %w", ev.Type, ev.RunID, err)
	}
	return nil
}

// validateEvent rejects events the derived tables cannot place.
func validateEvent(ev engine.Event) error {
	switch {
	case ev.Type == "":
		return fmt.Errorf("record event of run %s: event has no type", ev.RunID)
	case ev.RunID == "":
		return fmt.Errorf("record %s event: event has no run id", ev.Type)
	}
	switch ev.Type {
	case engine.StepStarted, engine.StepSucceeded, engine.StepFailed, engine.StepRetrying, engine.StepSkipped:
		if ev.StepID == "" {
			return fmt.Errorf("record %s event of run %s: event has no step id", ev.Type, ev.RunID)
		}
	case engine.AssetMaterialized, engine.AssetFailed, engine.AssetSkipped:
		if ev.Asset.IsZero() {
			return fmt.Errorf("record %s event of run %s step %s: event has no asset key", ev.Type, ev.RunID, ev.StepID)
		}
	case engine.CheckEvaluated:
		if ev.Asset.IsZero() || ev.Check == "" {
			return fmt.Errorf("record check_evaluated event of run %s: event needs an asset key and a check name (asset %q, check %q)", ev.RunID, ev.Asset, ev.Check)
		}
	}
	return nil
}

// eventJSON is the stored form of an event: the same JSON `-o json` prints.
func eventJSON(ev engine.Event) (string, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		// Most likely metadata JSON cannot encode; keep the event anyway.
		ev.Metadata = printable(ev.Metadata)
		if b, err = json.Marshal(ev); err != nil {
			return "", err
		}
	}
	return string(b), nil
}

// insertEvent appends one event; a missing run is a clear error.
func insertEvent(tx *sql.Tx, ev engine.Event, body string) error {
	_, err := tx.Exec(`INSERT INTO events(run_id, type, time, body) VALUES (?, ?, ?, ?)`,
		ev.RunID, string(ev.Type), unixNano(ev.Time), body)
	if isConstraint(err, sqlite3.ErrConstraintForeignKey) {
		return fmt.Errorf("run %s: %w (create the run before recording its events)", ev.RunID, ErrNotFound)
	}
	return err
}

func applyEvent(tx *sql.Tx, ev engine.Event, body string) error {
	if err := insertEvent(tx, ev, body); err != nil {
		return err
	}
	switch ev.Type {
	case engine.StepStarted, engine.StepSucceeded, engine.StepFailed, engine.StepRetrying, engine.StepSkipped:
		return applyStep(tx, ev)
	case engine.AssetMaterialized:
		return applyMaterialized(tx, ev)
	case engine.AssetFailed, engine.AssetSkipped:
		return applyAssetOutcome(tx, ev)
	case engine.CheckEvaluated:
		return applyCheck(tx, ev)
	case engine.RunSucceeded, engine.RunFailed, engine.RunCanceled:
		return endRun(tx, ev.RunID, runEndStatus(ev), unixNano(ev.Time))
	}
	return nil
}

// stepStatus is the attempt status an event leaves: the event's own Status
// when set, else one implied by its type.
func stepStatus(ev engine.Event) string {
	if ev.Status != "" {
		return ev.Status
	}
	switch ev.Type {
	case engine.StepStarted:
		return engine.StatusRunning
	case engine.StepSucceeded:
		return engine.StatusSucceeded
	case engine.StepFailed:
		return engine.StatusFailed
	case engine.StepRetrying:
		return "retrying"
	default:
		return engine.StatusSkipped
	}
}

func applyStep(tx *sql.Tx, ev engine.Event) error {
	attempt := max(ev.Attempt, 1)
	logPath, _ := ev.Metadata["log_path"].(string)
	assets := keysJSON(keysFrom(ev.Metadata["assets"]))
	t := unixNano(ev.Time)
	if ev.Type == engine.StepStarted {
		_, err := tx.Exec(`INSERT INTO step_attempts(run_id, step_id, attempt, status, assets, started_at, log_path)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(run_id, step_id, attempt) DO UPDATE SET
				status = excluded.status,
				started_at = excluded.started_at,
				assets = CASE WHEN excluded.assets = '[]' THEN assets ELSE excluded.assets END,
				log_path = CASE WHEN excluded.log_path = '' THEN log_path ELSE excluded.log_path END`,
			ev.RunID, ev.StepID, attempt, stepStatus(ev), assets, t, logPath)
		return err
	}
	errText := ""
	if ev.Type != engine.StepSucceeded {
		errText = ev.Message
	}
	// A step skipped before it started has no row yet: it starts and ends
	// at once.
	_, err := tx.Exec(`INSERT INTO step_attempts(run_id, step_id, attempt, status, assets, started_at, ended_at, error, log_path)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(run_id, step_id, attempt) DO UPDATE SET
			status = excluded.status,
			ended_at = excluded.ended_at,
			error = CASE WHEN excluded.error = '' THEN error ELSE excluded.error END,
			assets = CASE WHEN excluded.assets = '[]' THEN assets ELSE excluded.assets END,
			log_path = CASE WHEN excluded.log_path = '' THEN log_path ELSE excluded.log_path END`,
		ev.RunID, ev.StepID, attempt, stepStatus(ev), assets, t, t, errText, logPath)
	return err
}

func applyMaterialized(tx *sql.Tx, ev engine.Event) error {
	res, err := tx.Exec(`INSERT INTO materializations(asset, run_id, step_id, partition_key, time, metadata)
		VALUES (?, ?, ?, ?, ?, ?)`,
		ev.Asset.String(), ev.RunID, ev.StepID, ev.Partition, unixNano(ev.Time), metadataJSON(ev.Metadata))
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	if _, err := tx.Exec(`INSERT INTO asset_status(asset, last_status, last_run_id, last_time, last_mat_id)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(asset) DO UPDATE SET
			last_status = excluded.last_status, last_run_id = excluded.last_run_id,
			last_time = excluded.last_time, last_mat_id = excluded.last_mat_id`,
		ev.Asset.String(), engine.StatusSucceeded, ev.RunID, unixNano(ev.Time), id); err != nil {
		return err
	}
	return setPartitionStatus(tx, ev, "materialized")
}

func applyAssetOutcome(tx *sql.Tx, ev engine.Event) error {
	status := ev.Status
	if status == "" {
		status = engine.StatusFailed
		if ev.Type == engine.AssetSkipped {
			status = engine.StatusSkipped
		}
	}
	if _, err := tx.Exec(`INSERT INTO asset_status(asset, last_status, last_run_id, last_time)
		VALUES (?, ?, ?, ?)
		ON CONFLICT(asset) DO UPDATE SET
			last_status = excluded.last_status, last_run_id = excluded.last_run_id,
			last_time = excluded.last_time`,
		ev.Asset.String(), status, ev.RunID, unixNano(ev.Time)); err != nil {
		return err
	}
	if ev.Type == engine.AssetFailed && status == engine.StatusFailed {
		return setPartitionStatus(tx, ev, "failed")
	}
	return nil
}

func setPartitionStatus(tx *sql.Tx, ev engine.Event, status string) error {
	if ev.Partition == "" {
		return nil
	}
	// A range run lists every key it covered in "partition_keys".
	keys := []string{ev.Partition}
	switch l := ev.Metadata["partition_keys"].(type) {
	case []string:
		keys = l
	case []any:
		keys = keys[:0]
		for _, k := range l {
			if s, ok := k.(string); ok {
				keys = append(keys, s)
			}
		}
	}
	for _, k := range keys {
		_, err := tx.Exec(`INSERT INTO partition_status(asset, partition_key, status, run_id, time)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(asset, partition_key) DO UPDATE SET
			status = excluded.status, run_id = excluded.run_id, time = excluded.time`,
			ev.Asset.String(), k, status, ev.RunID, unixNano(ev.Time))
		if err != nil {
			return err
		}
	}
	return nil
}

func applyCheck(tx *sql.Tx, ev engine.Event) error {
	passed := ev.Status == "passed"
	if ev.Passed != nil {
		passed = *ev.Passed
	}
	_, err := tx.Exec(`INSERT INTO check_results(asset, check_name, run_id, partition_key, passed, blocking, severity, message, time, metadata)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ev.Asset.String(), ev.Check, ev.RunID, ev.Partition, boolInt(passed), boolInt(ev.Blocking),
		ev.Severity, ev.Message, unixNano(ev.Time), metadataJSON(ev.Metadata))
	return err
}

func runEndStatus(ev engine.Event) string {
	if ev.Status != "" {
		return ev.Status
	}
	switch ev.Type {
	case engine.RunSucceeded:
		return engine.StatusSucceeded
	case engine.RunCanceled:
		return engine.StatusCanceled
	default:
		return engine.StatusFailed
	}
}

// endRun sets a run's final status and frees the assets it locked.
func endRun(tx *sql.Tx, runID, status string, endedAt int64) error {
	if _, err := tx.Exec(`UPDATE runs SET status = ?, ended_at = ? WHERE id = ?`, status, endedAt, runID); err != nil {
		return err
	}
	_, err := tx.Exec(`DELETE FROM asset_locks WHERE run_id = ?`, runID)
	return err
}

// scanCheck reads a check_results row selected with checkColumns.
const checkColumns = `asset, check_name, run_id, partition_key, passed, blocking, severity, message, time, metadata`

func scanCheck(rows *sql.Rows) (CheckResult, error) {
	var (
		c          CheckResult
		key, md    string
		passed, bl int
		t          int64
	)
	if err := rows.Scan(&key, &c.Check, &c.RunID, &c.Partition, &passed, &bl, &c.Severity, &c.Message, &t, &md); err != nil {
		return c, err
	}
	var err error
	if c.Asset, err = parseKey(key); err != nil {
		return c, err
	}
	c.Passed, c.Blocking, c.Time = passed != 0, bl != 0, fromUnixNano(t)
	c.Metadata, err = decodeMetadata(md)
	return c, err
}

// RecordAll records several events in one transaction, in order; it is
// Record for a burst of events that happen together (a step's last
// materializations and its end), so they cost one commit.
func (s *SQLite) RecordAll(ctx context.Context, evs []engine.Event) error {
	bodies := make([]string, len(evs))
	for i := range evs {
		if err := validateEvent(evs[i]); err != nil {
			return err
		}
		if evs[i].Time.IsZero() {
			evs[i].Time = s.now()
		}
		b, err := eventJSON(evs[i])
		if err != nil {
			return fmt.Errorf("record %s event of run %s: %w", evs[i].Type, evs[i].RunID, err)
		}
		bodies[i] = b
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		for i := range evs {
			if err := applyEvent(tx, evs[i], bodies[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record %d events of run %s: %w", len(evs), evs[0].RunID, err)
	}
	return nil
}
