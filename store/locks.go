package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// LockAssets takes, for runID, the lock of every key, so no other run (in
// this or another process) materializes them at the same time. It takes all
// or none: when another live run holds any of them it returns a
// *LockConflictError naming the assets and holders. A lock whose run has
// finished, or whose process is gone from this host, is stolen. Locks
// runID already holds are kept. Locks end with UnlockAssets or when the
// run's end event is recorded.
func (s *SQLite) LockAssets(ctx context.Context, runID string, keys []asset.Key) error {
	if runID == "" {
		return errors.New("lock assets: empty run id")
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		now := unixNano(s.now())
		var held []Lock
		seen := make(map[asset.Key]bool, len(keys))
		for _, k := range keys {
			if k.IsZero() || seen[k] {
				continue
			}
			seen[k] = true
			// A partition lock "a/[partition p]" conflicts with a lock of
			// the whole asset "a", and the whole asset with any of its
			// partitions; partitions of one asset do not conflict.
			base, isPart := partitionBase(k)
			q := `SELECT l.asset, l.run_id, l.pid, l.host, l.since, COALESCE(r.status, '')
				FROM asset_locks l LEFT JOIN runs r ON r.id = l.run_id WHERE l.asset = ?`
			args := []any{k.String()}
			if isPart {
				q += ` OR l.asset = ?`
				args = append(args, base)
			} else {
				q += ` OR l.asset LIKE ? ESCAPE '\'`
				args = append(args, likeEscape(k.String())+"/[partition %")
			}
			rows, err := tx.Query(q, args...)
			if err != nil {
				return err
			}
			type row struct {
				l        Lock
				key      string
				host, st string
				since    int64
			}
			var found []row
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.key, &r.l.RunID, &r.l.PID, &r.host, &r.since, &r.st); err != nil {
					rows.Close()
					return err
				}
				found = append(found, r)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, r := range found {
				if r.l.RunID == runID {
					continue
				}
				finished := r.st != "" && r.st != engine.StatusRunning
				gone := r.host == s.host && !s.alive(r.l.PID)
				if finished || gone {
					if _, err := tx.Exec(`DELETE FROM asset_locks WHERE asset = ?`, r.key); err != nil {
						return err
					}
					continue
				}
				r.l.Asset, _ = parseKey(r.key)
				r.l.Since = fromUnixNano(r.since)
				held = append(held, r.l)
			}
		}
		if len(held) > 0 {
			slices.SortFunc(held, func(a, b Lock) int { return a.Asset.Compare(b.Asset) })
			return &LockConflictError{RunID: runID, Held: held}
		}
		for k := range seen {
			if _, err := tx.Exec(`INSERT INTO asset_locks(asset, run_id, pid, host, since) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT(asset) DO NOTHING`, k.String(), runID, s.pid, s.host, now); err != nil {
				return err
			}
		}
		return nil
	})
	var lce *LockConflictError
	if err != nil && !errors.As(err, &lce) {
		return fmt.Errorf("lock assets for run %s: %w", runID, err)
	}
	return err
}

// UnlockAssets releases every asset lock runID holds.
func (s *SQLite) UnlockAssets(ctx context.Context, runID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`DELETE FROM asset_locks WHERE run_id = ?`, runID)
		return err
	})
	if err != nil {
		return fmt.Errorf("unlock assets of run %s: %w", runID, err)
	}
	return nil
}

// Locks returns the asset locks currently recorded, sorted by asset.
func (s *SQLite) Locks(ctx context.Context) ([]Lock, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT asset, run_id, pid, since FROM asset_locks ORDER BY asset`)
	if err != nil {
		return nil, fmt.Errorf("asset locks: %w", err)
	}
	defer rows.Close()
	var out []Lock
	for rows.Next() {
		var (
			l     Lock
			key   string
			since int64
		)
		if err := rows.Scan(&key, &l.RunID, &l.PID, &since); err != nil {
			return nil, fmt.Errorf("asset locks: %w", err)
		}
		if l.Asset, err = parseKey(key); err != nil {
			return nil, fmt.Errorf("asset locks: %w", err)
		}
		l.Since = fromUnixNano(since)
		out = append(out, l)
	}
	return out, rows.Err()
}

// AcquireDaemonLock makes owner the project's daemon and reports whether it
// is. It succeeds when no daemon holds the lock, when owner already holds
// it (renewing it), or when the holder's heartbeat is older than ttl
// (ttl > 0) or its process is gone from this host.
func (s *SQLite) AcquireDaemonLock(ctx context.Context, owner string, ttl time.Duration) (bool, error) {
	if owner == "" {
		return false, errors.New("acquire daemon lock: empty owner")
	}
	var got bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		got = false
		now := s.now()
		var (
			cur, host string
			pid       int
			beat      int64
		)
		err := tx.QueryRow(`SELECT owner, pid, host, beat_at FROM daemon WHERE id = 1`).Scan(&cur, &pid, &host, &beat)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case cur == owner:
		case ttl > 0 && now.Sub(fromUnixNano(beat)) > ttl:
		case host == s.host && !s.alive(pid):
		default:
			return nil // held by a live daemon
		}
		acquired := unixNano(now)
		if cur == owner {
			acquired = 0 // keep the original acquisition time below
		}
		if _, err := tx.Exec(`INSERT INTO daemon(id, owner, pid, host, acquired_at, beat_at) VALUES (1, ?, ?, ?, ?, ?)
			ON CONFLICT(id) DO UPDATE SET owner = excluded.owner, pid = excluded.pid, host = excluded.host,
				acquired_at = CASE WHEN excluded.acquired_at = 0 THEN acquired_at ELSE excluded.acquired_at END,
				beat_at = excluded.beat_at`,
			owner, s.pid, s.host, acquired, unixNano(now)); err != nil {
			return err
		}
		got = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("acquire daemon lock for %s: %w", owner, err)
	}
	return got, nil
}

// DaemonHeartbeat renews owner's daemon lock. It fails with ErrNotOwner
// when another daemon has taken the lock over (owner should then stop).
func (s *SQLite) DaemonHeartbeat(ctx context.Context, owner string) error {
	now := unixNano(s.now())
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE daemon SET beat_at = ? WHERE id = 1 AND owner = ?`, now, owner)
		return mustAffect(res, err, ErrNotOwner)
	})
	if err != nil {
		return fmt.Errorf("daemon heartbeat of %s: %w", owner, err)
	}
	return nil
}

// ReleaseDaemonLock gives up owner's daemon lock; it does nothing when owner
// does not hold it.
func (s *SQLite) ReleaseDaemonLock(ctx context.Context, owner string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`DELETE FROM daemon WHERE id = 1 AND owner = ?`, owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("release daemon lock of %s: %w", owner, err)
	}
	return nil
}

// DaemonInfo is the holder of the daemon lock, as `elt status` shows it.
type DaemonInfo struct {
	Owner    string
	PID      int
	Host     string
	LastBeat time.Time
	// Gone is true when the holder ran on this host and its process no
	// longer exists: the daemon is dead whatever its last heartbeat says.
	Gone bool
}

// Daemon reports who holds the daemon lock; ok is false when nobody does.
// It checks the recorded process too, as ReapDeadRuns does for runs.
func (s *SQLite) Daemon(ctx context.Context) (d DaemonInfo, ok bool, err error) {
	var beat int64
	err = s.rdb.QueryRowContext(ctx, `SELECT owner, pid, host, beat_at FROM daemon WHERE id = 1`).Scan(&d.Owner, &d.PID, &d.Host, &beat)
	if errors.Is(err, sql.ErrNoRows) {
		return DaemonInfo{}, false, nil
	}
	if err != nil {
		return DaemonInfo{}, false, fmt.Errorf("daemon status: %w", err)
	}
	d.LastBeat = fromUnixNano(beat)
	d.Gone = d.Host == s.host && d.PID > 0 && !s.alive(d.PID)
	return d, true, nil
}

// partitionBase returns the asset key of a partition lock key
// ("a/b/[partition p]" → "a/b").
func partitionBase(k asset.Key) (string, bool) {
	parts := k.Parts()
	if len(parts) < 2 || !strings.HasPrefix(parts[len(parts)-1], "[partition ") {
		return "", false
	}
	return strings.Join(parts[:len(parts)-1], "/"), true
}

// likeEscape escapes LIKE wildcards (with \\ as the escape character).
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s)
}
