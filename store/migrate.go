package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migration is one numbered schema change. Versions start at 1 and have no
// gaps; a released migration is never edited, only followed by a new one.
type migration struct {
	version int
	name    string
	sql     string
}

// Times are stored as Unix nanoseconds (0 for the zero time); maps and
// lists as JSON text; asset keys in their "a/b" text form. Small tables
// keyed by text that events update (step attempts, asset and partition
// status) are WITHOUT ROWID: one b-tree instead of a table plus its key
// index, so one page fewer written to the WAL per commit.
var migrations = []migration{
	{1, "initial schema", `
CREATE TABLE runs (
	id            TEXT PRIMARY KEY,
	status        TEXT NOT NULL,
	selection     TEXT NOT NULL DEFAULT '',
	job           TEXT NOT NULL DEFAULT '',
	trigger_name  TEXT NOT NULL DEFAULT '',
	partition_key TEXT NOT NULL DEFAULT '',
	parent_run_id TEXT NOT NULL DEFAULT '',
	pid           INTEGER NOT NULL DEFAULT 0,
	host          TEXT NOT NULL DEFAULT '',
	started_at    INTEGER NOT NULL,
	ended_at      INTEGER NOT NULL DEFAULT 0,
	heartbeat_at  INTEGER NOT NULL DEFAULT 0,
	tags          TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX runs_by_start ON runs(started_at DESC, id DESC);
CREATE INDEX runs_by_status ON runs(status);

CREATE TABLE events (
	seq    INTEGER PRIMARY KEY,
	run_id TEXT NOT NULL REFERENCES runs(id),
	type   TEXT NOT NULL,
	time   INTEGER NOT NULL,
	body   TEXT NOT NULL
);
CREATE INDEX events_by_run ON events(run_id, seq);

CREATE TABLE step_attempts (
	run_id     TEXT NOT NULL REFERENCES runs(id),
	step_id    TEXT NOT NULL,
	attempt    INTEGER NOT NULL,
	status     TEXT NOT NULL,
	assets     TEXT NOT NULL DEFAULT '[]',
	started_at INTEGER NOT NULL DEFAULT 0,
	ended_at   INTEGER NOT NULL DEFAULT 0,
	error      TEXT NOT NULL DEFAULT '',
	log_path   TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (run_id, step_id, attempt)
) WITHOUT ROWID;

CREATE TABLE materializations (
	id            INTEGER PRIMARY KEY,
	asset         TEXT NOT NULL,
	run_id        TEXT NOT NULL REFERENCES runs(id),
	step_id       TEXT NOT NULL DEFAULT '',
	partition_key TEXT NOT NULL DEFAULT '',
	time          INTEGER NOT NULL,
	metadata      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX materializations_by_asset ON materializations(asset, id);

CREATE TABLE asset_status (
	asset       TEXT PRIMARY KEY,
	last_status TEXT NOT NULL,
	last_run_id TEXT NOT NULL,
	last_time   INTEGER NOT NULL,
	last_mat_id INTEGER REFERENCES materializations(id)
) WITHOUT ROWID;

CREATE TABLE check_results (
	id            INTEGER PRIMARY KEY,
	asset         TEXT NOT NULL,
	check_name    TEXT NOT NULL,
	run_id        TEXT NOT NULL REFERENCES runs(id),
	partition_key TEXT NOT NULL DEFAULT '',
	passed        INTEGER NOT NULL,
	blocking      INTEGER NOT NULL,
	severity      TEXT NOT NULL DEFAULT '',
	message       TEXT NOT NULL DEFAULT '',
	time          INTEGER NOT NULL,
	metadata      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX check_results_by_run ON check_results(run_id, id);
CREATE INDEX check_results_by_check ON check_results(asset, check_name, id);

CREATE TABLE partition_status (
	asset         TEXT NOT NULL,
	partition_key TEXT NOT NULL,
	status        TEXT NOT NULL,
	run_id        TEXT NOT NULL,
	time          INTEGER NOT NULL,
	PRIMARY KEY (asset, partition_key)
) WITHOUT ROWID;

CREATE TABLE asset_locks (
	asset  TEXT PRIMARY KEY,
	run_id TEXT NOT NULL,
	pid    INTEGER NOT NULL,
	host   TEXT NOT NULL,
	since  INTEGER NOT NULL
);
CREATE INDEX asset_locks_by_run ON asset_locks(run_id);

CREATE TABLE dynamic_partitions (
	seq INTEGER PRIMARY KEY,
	def TEXT NOT NULL,
	key TEXT NOT NULL,
	UNIQUE (def, key)
);

CREATE TABLE cursors (
	name       TEXT PRIMARY KEY,
	value      TEXT NOT NULL,
	updated_at INTEGER NOT NULL
);

CREATE TABLE ticks (
	schedule    TEXT NOT NULL,
	tick        INTEGER NOT NULL,
	run_id      TEXT NOT NULL,
	status      TEXT NOT NULL,
	recorded_at INTEGER NOT NULL,
	PRIMARY KEY (schedule, tick)
) WITHOUT ROWID;

CREATE TABLE backfills (
	id         TEXT PRIMARY KEY,
	selection  TEXT NOT NULL DEFAULT '',
	job        TEXT NOT NULL DEFAULT '',
	policy     TEXT NOT NULL DEFAULT '',
	status     TEXT NOT NULL,
	partitions TEXT NOT NULL DEFAULT '[]',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

CREATE TABLE backfill_partitions (
	backfill_id   TEXT NOT NULL REFERENCES backfills(id),
	partition_key TEXT NOT NULL,
	status        TEXT NOT NULL,
	run_id        TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (backfill_id, partition_key)
) WITHOUT ROWID;

CREATE TABLE snapshots (
	id         INTEGER PRIMARY KEY,
	created_at INTEGER NOT NULL
);

CREATE TABLE snapshot_assets (
	snapshot_id INTEGER NOT NULL REFERENCES snapshots(id),
	asset       TEXT NOT NULL,
	fingerprint TEXT NOT NULL DEFAULT '',
	spec        TEXT NOT NULL DEFAULT 'null',
	PRIMARY KEY (snapshot_id, asset)
) WITHOUT ROWID;

CREATE TABLE daemon (
	id          INTEGER PRIMARY KEY CHECK (id = 1),
	owner       TEXT NOT NULL,
	pid         INTEGER NOT NULL,
	host        TEXT NOT NULL,
	acquired_at INTEGER NOT NULL,
	beat_at     INTEGER NOT NULL
);
`},
	{2, "step processes", stepProcessesSQL},
}

// migrateWith brings the schema at path up to the newest migration of list,
// in one transaction holding the write lock, so two processes opening a new
// store at once apply each migration exactly once.
func migrateWith(ctx context.Context, db *sql.DB, path string, list []migration, now func() time.Time) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("open run store %s: %w", path, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("open run store %s: create version table: %w", path, err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("open run store %s: read schema version: %w", path, err)
	}
	latest := len(list)
	if current > latest {
		return fmt.Errorf("run store %s has schema version %d but this elt knows only up to %d: upgrade elt, or move the file aside to start a new history", path, current, latest)
	}
	for i, m := range list {
		if m.version != i+1 {
			return fmt.Errorf("internal error: migration %q is numbered %d, want %d", m.name, m.version, i+1)
		}
		if m.version <= current {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("run store %s: migration %d (%s): %w", path, m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, now().UnixNano()); err != nil {
			return fmt.Errorf("run store %s: migration %d (%s): %w", path, m.version, m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("run store %s: commit migrations: %w", path, err)
	}
	return nil
}

// SchemaVersion returns the newest migration applied to the store.
func (s *SQLite) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.rdb.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
