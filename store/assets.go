package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/eltproject/elt/asset"
)

const matColumns = `asset, run_id, step_id, partition_key, time, metadata`

func scanMaterialization(sc interface{ Scan(...any) error }) (Materialization, error) {
	var (
		m       Materialization
		key, md string
		t       int64
	)
	if err := sc.Scan(&key, &m.RunID, &m.StepID, &m.Partition, &t, &md); err != nil {
		return m, err
	}
	var err error
	if m.Asset, err = parseKey(key); err != nil {
		return m, err
	}
	m.Time = fromUnixNano(t)
	if m.Metadata, err = decodeMetadata(md); err != nil {
		return m, fmt.Errorf("asset %s: %w", m.Asset, err)
	}
	return m, nil
}

// AssetStatuses returns the last known state of every asset the store has
// seen: its last outcome, its last materialization and the latest result
// of each of its checks.
func (s *SQLite) AssetStatuses(ctx context.Context) (map[asset.Key]AssetStatus, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT s.asset, s.last_status, s.last_run_id, s.last_time,
			m.id IS NOT NULL, COALESCE(m.run_id, ''), COALESCE(m.step_id, ''), COALESCE(m.partition_key, ''),
			COALESCE(m.time, 0), COALESCE(m.metadata, '{}')
		FROM asset_status s LEFT JOIN materializations m ON m.id = s.last_mat_id`)
	if err != nil {
		return nil, fmt.Errorf("asset statuses: %w", err)
	}
	defer rows.Close()
	out := map[asset.Key]AssetStatus{}
	for rows.Next() {
		var (
			st      AssetStatus
			key, md string
			lt, mt  int64
			hasMat  bool
			m       Materialization
		)
		if err := rows.Scan(&key, &st.LastStatus, &st.LastRunID, &lt, &hasMat, &m.RunID, &m.StepID, &m.Partition, &mt, &md); err != nil {
			return nil, fmt.Errorf("asset statuses: %w", err)
		}
		if st.Asset, err = parseKey(key); err != nil {
			return nil, fmt.Errorf("asset statuses: %w", err)
		}
		st.LastTime = fromUnixNano(lt)
		if hasMat {
			m.Asset, m.Time = st.Asset, fromUnixNano(mt)
			if m.Metadata, err = decodeMetadata(md); err != nil {
				return nil, fmt.Errorf("asset statuses: asset %s: %w", st.Asset, err)
			}
			st.LastMaterialization = &m
		}
		out[st.Asset] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("asset statuses: %w", err)
	}
	rows.Close()

	crows, err := s.rdb.QueryContext(ctx, `SELECT `+checkColumns+` FROM check_results
		WHERE id IN (SELECT MAX(id) FROM check_results GROUP BY asset, check_name)
		ORDER BY asset, check_name`)
	if err != nil {
		return nil, fmt.Errorf("asset statuses: checks: %w", err)
	}
	defer crows.Close()
	for crows.Next() {
		c, err := scanCheck(crows)
		if err != nil {
			return nil, fmt.Errorf("asset statuses: checks: %w", err)
		}
		st := out[c.Asset]
		st.Asset = c.Asset
		st.Checks = append(st.Checks, c)
		out[c.Asset] = st
	}
	if err := crows.Err(); err != nil {
		return nil, fmt.Errorf("asset statuses: checks: %w", err)
	}
	return out, nil
}

// Materializations returns up to limit (all when limit <= 0)
// materializations of key, newest first.
func (s *SQLite) Materializations(ctx context.Context, key asset.Key, limit int) ([]Materialization, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+matColumns+` FROM materializations WHERE asset = ? ORDER BY id DESC LIMIT ?`,
		key.String(), sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("materializations of %s: %w", key, err)
	}
	return collectMaterializations(rows, key)
}

func collectMaterializations(rows *sql.Rows, key asset.Key) ([]Materialization, error) {
	defer rows.Close()
	var out []Materialization
	for rows.Next() {
		m, err := scanMaterialization(rows)
		if err != nil {
			return nil, fmt.Errorf("materializations of %s: %w", key, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("materializations of %s: %w", key, err)
	}
	return out, nil
}

// LatestMaterializations returns the newest materialization of every asset
// that has one, whatever its partition.
func (s *SQLite) LatestMaterializations(ctx context.Context) (map[asset.Key]Materialization, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+matColumns+` FROM materializations
		WHERE id IN (SELECT last_mat_id FROM asset_status WHERE last_mat_id IS NOT NULL)`)
	if err != nil {
		return nil, fmt.Errorf("latest materializations: %w", err)
	}
	defer rows.Close()
	out := map[asset.Key]Materialization{}
	for rows.Next() {
		m, err := scanMaterialization(rows)
		if err != nil {
			return nil, fmt.Errorf("latest materializations: %w", err)
		}
		out[m.Asset] = m
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("latest materializations: %w", err)
	}
	return out, nil
}

// CheckResults returns the check results of runID in the order evaluated.
func (s *SQLite) CheckResults(ctx context.Context, runID string) ([]CheckResult, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+checkColumns+` FROM check_results WHERE run_id = ? ORDER BY id`, runID)
	if err != nil {
		return nil, fmt.Errorf("check results of run %s: %w", runID, err)
	}
	defer rows.Close()
	var out []CheckResult
	for rows.Next() {
		c, err := scanCheck(rows)
		if err != nil {
			return nil, fmt.Errorf("check results of run %s: %w", runID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check results of run %s: %w", runID, err)
	}
	return out, nil
}

// PartitionStatuses maps each partition of key that was attempted to
// "materialized" or "failed", the latest outcome winning. Partitions never
// attempted (or only upstream-failed) are absent: they are missing.
func (s *SQLite) PartitionStatuses(ctx context.Context, key asset.Key) (map[string]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT partition_key, status FROM partition_status WHERE asset = ?`, key.String())
	if err != nil {
		return nil, fmt.Errorf("partition statuses of %s: %w", key, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var p, st string
		if err := rows.Scan(&p, &st); err != nil {
			return nil, fmt.Errorf("partition statuses of %s: %w", key, err)
		}
		out[p] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("partition statuses of %s: %w", key, err)
	}
	return out, nil
}
