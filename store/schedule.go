package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AddPartitions adds keys to the dynamic partition definition def, keeping
// their order, and returns how many were new. Keys already present are
// left where they are.
func (s *SQLite) AddPartitions(ctx context.Context, def string, keys []string) (int, error) {
	if err := checkPartitionKeys(def, keys); err != nil {
		return 0, fmt.Errorf("add partitions: %w", err)
	}
	var added int
	err := s.write(ctx, func(tx *sql.Tx) error {
		n := 0
		for _, k := range keys {
			res, err := tx.Exec(`INSERT INTO dynamic_partitions(def, key) VALUES (?, ?) ON CONFLICT(def, key) DO NOTHING`, def, k)
			if err != nil {
				return err
			}
			c, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += int(c)
		}
		added = n
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("add partitions to %s: %w", def, err)
	}
	return added, nil
}

// DeletePartitions removes keys from def and returns how many existed.
func (s *SQLite) DeletePartitions(ctx context.Context, def string, keys []string) (int, error) {
	if def == "" {
		return 0, errors.New("delete partitions: empty partition definition name")
	}
	var deleted int
	err := s.write(ctx, func(tx *sql.Tx) error {
		n := 0
		for _, k := range keys {
			res, err := tx.Exec(`DELETE FROM dynamic_partitions WHERE def = ? AND key = ?`, def, k)
			if err != nil {
				return err
			}
			c, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += int(c)
		}
		deleted = n
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete partitions from %s: %w", def, err)
	}
	return deleted, nil
}

func checkPartitionKeys(def string, keys []string) error {
	if def == "" {
		return errors.New("empty partition definition name")
	}
	for i, k := range keys {
		if k == "" {
			return fmt.Errorf("partition definition %s: key %d is empty", def, i+1)
		}
	}
	return nil
}

// Partitions lists the keys of the dynamic partition definition def in the
// order they were added.
func (s *SQLite) Partitions(ctx context.Context, def string) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT key FROM dynamic_partitions WHERE def = ? ORDER BY seq`, def)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", def, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("partitions of %s: %w", def, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", def, err)
	}
	return out, nil
}

// Cursor returns the cursor stored under name (a sensor's name); ok is
// false when none was stored.
func (s *SQLite) Cursor(ctx context.Context, name string) (string, bool, error) {
	var v string
	err := s.rdb.QueryRowContext(ctx, `SELECT value FROM cursors WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("cursor %s: %w", name, err)
	}
	return v, true, nil
}

// SetCursor stores value as the cursor of name.
func (s *SQLite) SetCursor(ctx context.Context, name, value string) error {
	if name == "" {
		return errors.New("set cursor: empty name")
	}
	now := unixNano(s.now())
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO cursors(name, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, name, value, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("set cursor %s: %w", name, err)
	}
	return nil
}

// RecordTick records that schedule fired for tick (the scheduled time, not
// the time it ran) with the run it started and a status such as
// "requested", "skipped" or "failed". Recording a tick again replaces it.
func (s *SQLite) RecordTick(ctx context.Context, schedule string, tick time.Time, runID, status string) error {
	if schedule == "" || tick.IsZero() {
		return fmt.Errorf("record tick: need a schedule name and a tick time (got %q, %v)", schedule, tick)
	}
	now := unixNano(s.now())
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO ticks(schedule, tick, run_id, status, recorded_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT(schedule, tick) DO UPDATE SET run_id = excluded.run_id, status = excluded.status,
				recorded_at = excluded.recorded_at`, schedule, unixNano(tick), runID, status, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("record tick of schedule %s at %s: %w", schedule, tick.Format(time.RFC3339), err)
	}
	return nil
}

// LastTick returns the latest tick recorded for schedule, whatever its
// status; ok is false when it never fired.
func (s *SQLite) LastTick(ctx context.Context, schedule string) (time.Time, bool, error) {
	var t sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, `SELECT MAX(tick) FROM ticks WHERE schedule = ?`, schedule).Scan(&t); err != nil {
		return time.Time{}, false, fmt.Errorf("last tick of schedule %s: %w", schedule, err)
	}
	if !t.Valid {
		return time.Time{}, false, nil
	}
	return fromUnixNano(t.Int64), true, nil
}
