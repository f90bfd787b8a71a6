package schedule

import (
	"context"
	"slices"
	"sync"
	"time"
)

// memStore is an in-memory stand-in for the run store (a test double of
// the store package's SQLite implementation).
type memStore struct {
	mu         sync.Mutex
	partitions map[string][]string
	cursors    map[string]string
	ticks      map[string][]tickRecord
	lockOwner  string
	beats      int
	backfills  map[string]map[string][2]string // id → key → {status, runID}
	bfStatus   map[string]string
}

type tickRecord struct {
	Tick          time.Time
	RunID, Status string
}

func newMemStore() *memStore {
	return &memStore{
		partitions: map[string][]string{},
		cursors:    map[string]string{},
		ticks:      map[string][]tickRecord{},
		backfills:  map[string]map[string][2]string{},
		bfStatus:   map[string]string{},
	}
}

func (m *memStore) Partitions(_ context.Context, def string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.partitions[def]), nil
}

func (m *memStore) AddPartitions(_ context.Context, def string, keys []string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, k := range keys {
		if !slices.Contains(m.partitions[def], k) {
			m.partitions[def] = append(m.partitions[def], k)
			n++
		}
	}
	return n, nil
}

func (m *memStore) Cursor(_ context.Context, name string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.cursors[name]
	return v, ok, nil
}

func (m *memStore) SetCursor(_ context.Context, name, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cursors[name] = value
	return nil
}

func (m *memStore) RecordTick(_ context.Context, schedule string, tick time.Time, runID, status string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ticks[schedule] = append(m.ticks[schedule], tickRecord{tick, runID, status})
	return nil
}

func (m *memStore) LastTick(_ context.Context, schedule string) (time.Time, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var last time.Time
	for _, r := range m.ticks[schedule] {
		if r.Tick.After(last) {
			last = r.Tick
		}
	}
	return last, !last.IsZero(), nil
}

func (m *memStore) tickRecords(schedule string) []tickRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.ticks[schedule])
}

func (m *memStore) AcquireDaemonLock(_ context.Context, owner string, _ time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lockOwner != "" && m.lockOwner != owner {
		return false, nil
	}
	m.lockOwner = owner
	return true, nil
}

func (m *memStore) DaemonHeartbeat(_ context.Context, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.beats++
	return nil
}

func (m *memStore) ReleaseDaemonLock(_ context.Context, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lockOwner == owner {
		m.lockOwner = ""
	}
	return nil
}

func (m *memStore) UpdateBackfillPartition(_ context.Context, id, partition, status, runID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.backfills[id] == nil {
		m.backfills[id] = map[string][2]string{}
	}
	m.backfills[id][partition] = [2]string{status, runID}
	return nil
}

func (m *memStore) SetBackfillStatus(_ context.Context, id, status string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bfStatus[id] = status
	return nil
}

// done returns a backfill's per-partition statuses, as the CLI would read
// them from store.GetBackfill to resume.
func (m *memStore) done(id string) map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for k, v := range m.backfills[id] {
		out[k] = v[0]
	}
	return out
}
