package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// CreateBackfill records b. ID is required (NewRunID makes a fine one);
// Status defaults to "requested", CreatedAt and UpdatedAt to now. Results
// already in b are stored as the partitions' initial outcomes.
func (s *SQLite) CreateBackfill(ctx context.Context, b Backfill) error {
	if b.ID == "" {
		return errors.New("create backfill: empty id")
	}
	if b.Status == "" {
		b.Status = "requested"
	}
	now := s.now()
	if b.CreatedAt.IsZero() {
		b.CreatedAt = now
	}
	if b.UpdatedAt.IsZero() {
		b.UpdatedAt = b.CreatedAt
	}
	parts, err := json.Marshal(nonNil(b.Partitions))
	if err != nil {
		return fmt.Errorf("create backfill %s: %w", b.ID, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO backfills(id, selection, job, policy, status, partitions, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			b.ID, b.Selection, b.Job, b.Policy, b.Status, string(parts), unixNano(b.CreatedAt), unixNano(b.UpdatedAt))
		if isConstraint(err, sqlite3.ErrConstraintPrimaryKey) {
			return errors.New("backfill id already exists")
		}
		if err != nil {
			return err
		}
		for p, r := range b.Results {
			if _, err := tx.Exec(`INSERT INTO backfill_partitions(backfill_id, partition_key, status, run_id) VALUES (?, ?, ?, ?)`,
				b.ID, p, r.Status, r.RunID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create backfill %s: %w", b.ID, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// UpdateBackfillPartition records the status (and run) of one partition of
// backfill id.
func (s *SQLite) UpdateBackfillPartition(ctx context.Context, id, partition, status, runID string) error {
	now := unixNano(s.now())
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE backfills SET updated_at = ? WHERE id = ?`, now, id)
		if err := mustAffect(res, err, ErrNotFound); err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT INTO backfill_partitions(backfill_id, partition_key, status, run_id) VALUES (?, ?, ?, ?)
			ON CONFLICT(backfill_id, partition_key) DO UPDATE SET status = excluded.status,
				run_id = CASE WHEN excluded.run_id = '' THEN run_id ELSE excluded.run_id END`,
			id, partition, status, runID)
		return err
	})
	if err != nil {
		return fmt.Errorf("backfill %s partition %s: %w", id, partition, err)
	}
	return nil
}

// SetBackfillStatus sets the overall status of backfill id.
func (s *SQLite) SetBackfillStatus(ctx context.Context, id, status string) error {
	now := unixNano(s.now())
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE backfills SET status = ?, updated_at = ? WHERE id = ?`, status, now, id)
		return mustAffect(res, err, ErrNotFound)
	})
	if err != nil {
		return fmt.Errorf("backfill %s: %w", id, err)
	}
	return nil
}

const backfillColumns = `id, selection, job, policy, status, partitions, created_at, updated_at`

func scanBackfill(sc interface{ Scan(...any) error }) (Backfill, error) {
	var (
		b        Backfill
		parts    string
		cre, upd int64
	)
	if err := sc.Scan(&b.ID, &b.Selection, &b.Job, &b.Policy, &b.Status, &parts, &cre, &upd); err != nil {
		return b, err
	}
	b.CreatedAt, b.UpdatedAt = fromUnixNano(cre), fromUnixNano(upd)
	if err := json.Unmarshal([]byte(parts), &b.Partitions); err != nil {
		return b, fmt.Errorf("backfill %s: decode partitions: %w", b.ID, err)
	}
	b.Results = map[string]BackfillPartition{}
	return b, nil
}

// GetBackfill returns the backfill whose id is id or starts with id.
func (s *SQLite) GetBackfill(ctx context.Context, id string) (Backfill, error) {
	full, err := s.resolveID(ctx, "backfills", "backfill", id)
	if err != nil {
		return Backfill{}, err
	}
	b, err := scanBackfill(s.rdb.QueryRowContext(ctx, `SELECT `+backfillColumns+` FROM backfills WHERE id = ?`, full))
	if errors.Is(err, sql.ErrNoRows) {
		return Backfill{}, fmt.Errorf("backfill %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Backfill{}, fmt.Errorf("backfill %s: %w", id, err)
	}
	byID := map[string]*Backfill{b.ID: &b}
	if err := s.loadBackfillResults(ctx, byID); err != nil {
		return Backfill{}, err
	}
	return b, nil
}

// ListBackfills returns up to limit (all when limit <= 0) backfills,
// newest first, with their partition results.
func (s *SQLite) ListBackfills(ctx context.Context, limit int) ([]Backfill, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+backfillColumns+` FROM backfills ORDER BY created_at DESC, id DESC LIMIT ?`, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list backfills: %w", err)
	}
	defer rows.Close()
	var out []Backfill
	for rows.Next() {
		b, err := scanBackfill(rows)
		if err != nil {
			return nil, fmt.Errorf("list backfills: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list backfills: %w", err)
	}
	rows.Close()
	byID := make(map[string]*Backfill, len(out))
	for i := range out {
		byID[out[i].ID] = &out[i]
	}
	if err := s.loadBackfillResults(ctx, byID); err != nil {
		return nil, err
	}
	return out, nil
}

// loadBackfillResults fills Results of the given backfills in one query.
func (s *SQLite) loadBackfillResults(ctx context.Context, byID map[string]*Backfill) error {
	if len(byID) == 0 {
		return nil
	}
	ids := make([]any, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	q := `SELECT backfill_id, partition_key, status, run_id FROM backfill_partitions WHERE backfill_id IN (?` +
		strings.Repeat(", ?", len(ids)-1) + `)`
	rows, err := s.rdb.QueryContext(ctx, q, ids...)
	if err != nil {
		return fmt.Errorf("backfill results: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, p string
		var r BackfillPartition
		if err := rows.Scan(&id, &p, &r.Status, &r.RunID); err != nil {
			return fmt.Errorf("backfill results: %w", err)
		}
		byID[id].Results[p] = r
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("backfill results: %w", err)
	}
	return nil
}

// SaveSnapshot stores the assets `elt sync` saw and returns the snapshot's
// id. Each Spec must be JSON (or empty).
func (s *SQLite) SaveSnapshot(ctx context.Context, assets []SnapshotAsset) (int64, error) {
	for _, a := range assets {
		if a.Key.IsZero() {
			return 0, errors.New("save snapshot: asset with an empty key")
		}
		if len(a.Spec) > 0 && !json.Valid(a.Spec) {
			return 0, fmt.Errorf("save snapshot: asset %s: spec is not valid JSON", a.Key)
		}
	}
	now := unixNano(s.now())
	var id int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO snapshots(created_at) VALUES (?)`, now)
		if err != nil {
			return err
		}
		sid, err := res.LastInsertId()
		if err != nil {
			return err
		}
		for _, a := range assets {
			spec := string(a.Spec)
			if spec == "" {
				spec = "null"
			}
			_, err := tx.Exec(`INSERT INTO snapshot_assets(snapshot_id, asset, fingerprint, spec) VALUES (?, ?, ?, ?)`,
				sid, a.Key.String(), a.Fingerprint, spec)
			if isConstraint(err, sqlite3.ErrConstraintPrimaryKey) {
				return fmt.Errorf("asset %s appears twice", a.Key)
			}
			if err != nil {
				return fmt.Errorf("asset %s: %w", a.Key, err)
			}
		}
		id = sid
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("save snapshot: %w", err)
	}
	return id, nil
}

// LatestSnapshot returns the assets of the newest snapshot, sorted by key;
// ok is false when no snapshot was saved.
func (s *SQLite) LatestSnapshot(ctx context.Context) ([]SnapshotAsset, bool, error) {
	var id int64
	err := s.rdb.QueryRowContext(ctx, `SELECT id FROM snapshots ORDER BY id DESC LIMIT 1`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("latest snapshot: %w", err)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT asset, fingerprint, spec FROM snapshot_assets WHERE snapshot_id = ? ORDER BY asset`, id)
	if err != nil {
		return nil, false, fmt.Errorf("latest snapshot: %w", err)
	}
	defer rows.Close()
	out := []SnapshotAsset{}
	for rows.Next() {
		var (
			a    SnapshotAsset
			key  string
			spec string
		)
		if err := rows.Scan(&key, &a.Fingerprint, &spec); err != nil {
			return nil, false, fmt.Errorf("latest snapshot: %w", err)
		}
		if a.Key, err = parseKey(key); err != nil {
			return nil, false, fmt.Errorf("latest snapshot: %w", err)
		}
		a.Spec = json.RawMessage(spec)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("latest snapshot: %w", err)
	}
	return out, true, nil
}
