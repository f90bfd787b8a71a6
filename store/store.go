// Package store is elt's run store: the source of truth for history. It
// keeps runs, step attempts, every event, materializations, check results,
// asset locks, dynamic partitions, sensor cursors, schedule ticks, backfills,
// sync snapshots and the daemon lock.
//
// Store is the interface the engine, the CLI and the schedule package use;
// SQLite, a file under the project's .elt folder, is the default
// implementation. Events are written as they happen: Record returns only
// once the event is committed, so killing elt loses nothing it reported.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// Store is everything elt keeps between invocations. A server database
// could implement it; SQLite does by default.
type Store interface {
	// CreateRun records a new run with status "running" (unless set) and
	// the calling process as its owner (unless PID is set).
	CreateRun(ctx context.Context, r Run) error
	// Record persists one event and the tables derived from it; it returns
	// once the event is durable.
	Record(ctx context.Context, ev engine.Event) error
	// Heartbeat marks a run as alive now.
	Heartbeat(ctx context.Context, runID string) error
	// ReapDeadRuns fails runs left "running" by a dead process or with a
	// heartbeat older than staleAfter, and returns their ids.
	ReapDeadRuns(ctx context.Context, staleAfter time.Duration) ([]string, error)
	// ListRuns returns runs newest first.
	ListRuns(ctx context.Context, f RunFilter) ([]Run, error)
	// GetRun returns the run with the given id or unique id prefix.
	GetRun(ctx context.Context, id string) (Run, error)
	// Steps returns a run's step attempts in the order they started.
	Steps(ctx context.Context, runID string) ([]StepAttempt, error)
	// Events returns a run's events with Seq > afterSeq, in order.
	Events(ctx context.Context, runID string, afterSeq int64, limit int) ([]StoredEvent, error)

	// AssetStatuses returns the last known state of every asset.
	AssetStatuses(ctx context.Context) (map[asset.Key]AssetStatus, error)
	// Materializations returns an asset's materializations, newest first.
	Materializations(ctx context.Context, key asset.Key, limit int) ([]Materialization, error)
	// LatestMaterializations returns the newest materialization per asset.
	LatestMaterializations(ctx context.Context) (map[asset.Key]Materialization, error)
	// CheckResults returns a run's check results in the order evaluated.
	CheckResults(ctx context.Context, runID string) ([]CheckResult, error)
	// PartitionStatuses maps partition keys of an asset to "materialized"
	// or "failed", the latest outcome winning.
	PartitionStatuses(ctx context.Context, key asset.Key) (map[string]string, error)

	// LockAssets takes the materialization lock of every key for runID, or
	// none of them (*LockConflictError).
	LockAssets(ctx context.Context, runID string, keys []asset.Key) error
	// UnlockAssets releases every lock runID holds.
	UnlockAssets(ctx context.Context, runID string) error

	// AddPartitions adds keys to a dynamic partition definition.
	AddPartitions(ctx context.Context, def string, keys []string) (added int, err error)
	// DeletePartitions removes keys from a dynamic partition definition.
	DeletePartitions(ctx context.Context, def string, keys []string) (deleted int, err error)
	// Partitions lists a dynamic definition's keys in insertion order.
	Partitions(ctx context.Context, def string) ([]string, error)

	// Cursor returns a sensor's cursor.
	Cursor(ctx context.Context, name string) (value string, ok bool, err error)
	// SetCursor stores a sensor's cursor.
	SetCursor(ctx context.Context, name, value string) error
	// RecordTick records that a schedule fired for tick.
	RecordTick(ctx context.Context, schedule string, tick time.Time, runID, status string) error
	// LastTick returns the latest tick recorded for a schedule.
	LastTick(ctx context.Context, schedule string) (time.Time, bool, error)

	// CreateBackfill records a new backfill.
	CreateBackfill(ctx context.Context, b Backfill) error
	// UpdateBackfillPartition records the outcome of one partition.
	UpdateBackfillPartition(ctx context.Context, id, partition, status, runID string) error
	// SetBackfillStatus sets a backfill's overall status.
	SetBackfillStatus(ctx context.Context, id, status string) error
	// GetBackfill returns a backfill by id or unique id prefix.
	GetBackfill(ctx context.Context, id string) (Backfill, error)
	// ListBackfills returns backfills newest first.
	ListBackfills(ctx context.Context, limit int) ([]Backfill, error)

	// SaveSnapshot stores the asset specs seen by `elt sync`.
	SaveSnapshot(ctx context.Context, assets []SnapshotAsset) (id int64, err error)
	// LatestSnapshot returns the newest snapshot's assets, sorted by key.
	LatestSnapshot(ctx context.Context) ([]SnapshotAsset, bool, error)

	// AcquireDaemonLock makes owner the project's one daemon, replacing an
	// owner whose heartbeat is older than ttl or whose process is gone.
	AcquireDaemonLock(ctx context.Context, owner string, ttl time.Duration) (bool, error)
	// DaemonHeartbeat renews owner's daemon lock.
	DaemonHeartbeat(ctx context.Context, owner string) error
	// ReleaseDaemonLock gives up owner's daemon lock.
	ReleaseDaemonLock(ctx context.Context, owner string) error
	// Daemon reports the current daemon lock holder, if any, and whether
	// its process is gone.
	Daemon(ctx context.Context) (d DaemonInfo, ok bool, err error)

	// Close flushes pending writes and releases the store.
	Close() error
}

// Run is one execution of a selection of assets.
type Run struct {
	ID          string            `json:"id"`
	Status      string            `json:"status"` // running, succeeded, failed, canceled
	Selection   string            `json:"selection,omitempty"`
	Job         string            `json:"job,omitempty"`
	Trigger     string            `json:"trigger"` // manual, schedule:NAME, sensor:NAME, backfill:ID, …
	Partition   string            `json:"partition,omitempty"`
	ParentRunID string            `json:"parent_run_id,omitempty"` // the run this one retries or resumes
	PID         int               `json:"pid"`                     // process that runs it
	StartedAt   time.Time         `json:"started_at"`
	EndedAt     time.Time         `json:"ended_at"`
	HeartbeatAt time.Time         `json:"heartbeat_at"`
	Tags        map[string]string `json:"tags,omitempty"`
}

// StepAttempt is one try of one step: Airflow's task instance.
type StepAttempt struct {
	RunID     string      `json:"run_id"`
	StepID    string      `json:"step_id"`
	Attempt   int         `json:"attempt"`
	Status    string      `json:"status"`
	Assets    []asset.Key `json:"assets"`
	StartedAt time.Time   `json:"started_at"`
	EndedAt   time.Time   `json:"ended_at"`
	Error     string      `json:"error,omitempty"`
	LogPath   string      `json:"log_path,omitempty"`
}

// StoredEvent is an event with its position in the store. Seq grows with
// every recorded event, across runs, so one number resumes any listing.
type StoredEvent struct {
	Seq int64
	engine.Event
}

// Materialization is one successful materialization of an asset.
type Materialization struct {
	Asset     asset.Key      `json:"asset"`
	RunID     string         `json:"run_id"`
	StepID    string         `json:"step_id"`
	Partition string         `json:"partition,omitempty"`
	Time      time.Time      `json:"time"`
	Metadata  map[string]any `json:"metadata,omitempty"`
}

// AssetStatus is the last known state of an asset.
type AssetStatus struct {
	Asset asset.Key `json:"asset"`
	// LastStatus is succeeded, failed, skipped, upstream_failed or
	// blocked_by_check; empty when only checks were recorded.
	LastStatus          string           `json:"last_status"`
	LastRunID           string           `json:"last_run_id"`
	LastTime            time.Time        `json:"last_time"`
	LastMaterialization *Materialization `json:"last_materialization,omitempty"`
	// Checks holds the latest result of each check, sorted by name.
	Checks []CheckResult `json:"checks"`
}

// CheckResult is one evaluation of an asset check.
type CheckResult struct {
	Asset     asset.Key      `json:"asset"`
	Check     string         `json:"check"`
	RunID     string         `json:"run_id"`
	Partition string         `json:"partition,omitempty"`
	Severity  string         `json:"severity"`
	Message   string         `json:"message,omitempty"`
	Passed    bool           `json:"passed"`
	Blocking  bool           `json:"blocking"`
	Time      time.Time      `json:"time"`
	Metadata  map[string]any `json:"metadata,omitempty"`
}

// RunFilter narrows ListRuns. Zero fields do not filter; Limit <= 0 means
// no limit.
type RunFilter struct {
	Limit   int
	Status  string
	Job     string
	Trigger string
}

// Lock is a run's hold on an asset: no other run may materialize it.
type Lock struct {
	Asset asset.Key
	RunID string
	PID   int
	Since time.Time
}

// Backfill runs a selection over a set of partitions.
type Backfill struct {
	ID         string    `json:"id"`
	Selection  string    `json:"selection,omitempty"`
	Job        string    `json:"job,omitempty"`
	Policy     string    `json:"policy"` // "per-partition" or "single-run"
	Status     string    `json:"status"` // requested, running, succeeded, failed, canceled
	Partitions []string  `json:"partitions"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// Results maps partition keys to their outcome so far.
	Results map[string]BackfillPartition `json:"results"`
}

// BackfillPartition is the outcome of one partition of a backfill.
type BackfillPartition struct {
	Status string `json:"status"`
	RunID  string `json:"run_id,omitempty"`
}

// SnapshotAsset is one asset as `elt sync` last saw it.
type SnapshotAsset struct {
	Key         asset.Key
	Fingerprint string
	Spec        json.RawMessage
}

// ErrNotFound is returned (wrapped) when a run, backfill or other record
// does not exist.
var ErrNotFound = errors.New("not found")

// ErrAmbiguous is returned (wrapped) when an id prefix matches several
// records.
var ErrAmbiguous = errors.New("ambiguous id prefix")

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("store is closed")

// ErrNotOwner is returned when a daemon heartbeat comes from a process that
// no longer holds the daemon lock.
var ErrNotOwner = errors.New("daemon lock is held by another owner")

// LockConflictError says which assets are being materialized by other runs.
type LockConflictError struct {
	// RunID is the run that asked for the locks.
	RunID string
	// Held lists the locks that blocked it, sorted by asset.
	Held []Lock
}

// Error names the assets and the runs holding them.
func (e *LockConflictError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s cannot start: ", e.RunID)
	for i, l := range e.Held {
		if i > 0 {
			b.WriteString("; ")
		}
		what := "asset " + l.Asset.String()
		if base, ok := partitionBase(l.Asset); ok {
			what = "asset " + base + " (" + strings.Trim(l.Asset.Last(), "[]") + ")"
		}
		fmt.Fprintf(&b, "%s is being materialized by run %s (pid %d, since %s)",
			what, l.RunID, l.PID, l.Since.UTC().Format(time.RFC3339))
	}
	b.WriteString("; wait for it to finish (elt runs show RUN) or stop it (Ctrl-C, or kill the pid)")
	return b.String()
}

// NewRunID returns a new run id: the UTC start second and eight random hex
// digits, e.g. 20261123T223045-3f9a1c07. Ids sort by creation time (to the
// second) and are short enough to type a prefix of; 32 random bits keep a
// backfill creating a thousand runs in one second clear of collisions.
func NewRunID() string { return newID(time.Now()) }

func newID(t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return t.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// Compile-time check that SQLite implements Store.
var _ Store = (*SQLite)(nil)
