package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eltproject/elt/engine"
)

// checkEvents asserts the store at db holds events 0..n-1 of runID, in
// order, and nothing else.
func checkEvents(t *testing.T, db, runID string, min int) int {
	t.Helper()
	s, err := Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err := s.Events(context.Background(), runID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) < min {
		t.Fatalf("run %s: %d events after reopening, want at least %d reported ones", runID, len(evs), min)
	}
	for i, e := range evs {
		if e.Message != strconv.Itoa(i) {
			t.Fatalf("run %s: event %d has message %q: lost or reordered events", runID, i, e.Message)
		}
	}
	var ok string
	if err := s.rdb.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check = %q, %v", ok, err)
	}
	return len(evs)
}

// TestDurableAfterSelfKill: a process records N events and SIGKILLs itself
// without closing the store; all N are there on reopening.
func TestDurableAfterSelfKill(t *testing.T) {
	db := filepath.Join(t.TempDir(), "proj", ".elt", "elt.db")
	const n = 100
	cmd, out, _ := child(t, "record", db, "killed", envN+"="+strconv.Itoa(n), envKill+"=1")
	lines := 0
	for out.Scan() {
		lines++
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL", err)
	}
	if lines != n {
		t.Fatalf("child reported %d events, want %d", lines, n)
	}
	if got := checkEvents(t, db, "killed", n); got != n {
		t.Errorf("%d events stored, want %d", got, n)
	}
}

// TestDurableWhenKilledMidStream: SIGKILL a process that is recording as
// fast as it can; every event it reported before dying is stored.
func TestDurableWhenKilledMidStream(t *testing.T) {
	db := filepath.Join(t.TempDir(), "elt.db")
	cmd, out, _ := child(t, "record", db, "streaming")
	reported := 0
	for reported < 300 && out.Scan() {
		reported++
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for out.Scan() { // lines already written before the kill
		reported++
	}
	_ = cmd.Wait()
	if reported < 300 {
		t.Fatalf("child reported only %d events", reported)
	}
	got := checkEvents(t, db, "streaming", reported)
	t.Logf("reported %d, stored %d", reported, got)
}

// TestTwoProcessesWriteConcurrently: two processes open a new store at once
// (racing the migration) and record events concurrently.
func TestTwoProcessesWriteConcurrently(t *testing.T) {
	db := filepath.Join(t.TempDir(), "elt.db")
	const n = 400
	var wg sync.WaitGroup
	for _, run := range []string{"p1", "p2"} {
		cmd, out, _ := child(t, "record", db, run, envN+"="+strconv.Itoa(n))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for out.Scan() {
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("writer %s: %v", run, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, run := range []string{"p1", "p2"} {
		if got := checkEvents(t, db, run, n); got != n {
			t.Errorf("run %s: %d events, want %d", run, got, n)
		}
	}
	s, err := Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var applied int
	if err := s.rdb.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&applied); err != nil || applied != len(migrations) {
		t.Errorf("schema_migrations rows = %d (%v), want %d: a migration ran twice", applied, err, len(migrations))
	}
}

// TestTwoStoresOneFile: two *SQLite in one process behave like two
// processes; concurrent Records from both interleave without loss.
func TestTwoStoresOneFile(t *testing.T) {
	db := filepath.Join(t.TempDir(), "elt.db")
	ctx := context.Background()
	const n = 300
	var wg sync.WaitGroup
	for _, run := range []string{"a", "b"} {
		s, err := Open(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		mustCreateRun(t, s, Run{ID: run})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.Close()
			for i := range n {
				if err := s.Record(ctx, engine.Event{Type: engine.Log, RunID: run, Message: strconv.Itoa(i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, run := range []string{"a", "b"} {
		if got := checkEvents(t, db, run, n); got != n {
			t.Errorf("run %s: %d events, want %d", run, got, n)
		}
	}
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "elt.db")
	s, err := Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	mustCreateRun(t, s, Run{ID: "kept"})
	if v, err := s.SchemaVersion(ctx); err != nil || v != len(migrations) {
		t.Fatalf("SchemaVersion = %d %v, want %d", v, err, len(migrations))
	}
	now := func() time.Time { return time.Unix(0, 1) }

	// Re-applying is a no-op; a later migration applies on top, once.
	extra := append(append([]migration{}, migrations...), migration{len(migrations) + 1, "add notes", `CREATE TABLE notes (x TEXT)`})
	for range 2 {
		if err := migrateWith(ctx, s.wdb, db, migrations, now); err != nil {
			t.Fatalf("re-running migrations: %v", err)
		}
	}
	if v, _ := s.SchemaVersion(ctx); v != len(migrations) {
		t.Errorf("version after re-running = %d, want %d", v, len(migrations))
	}
	for range 2 {
		if err := migrateWith(ctx, s.wdb, db, extra, now); err != nil {
			t.Fatalf("applying a new migration: %v", err)
		}
	}
	if v, _ := s.SchemaVersion(ctx); v != len(extra) {
		t.Errorf("version after new migration = %d, want %d", v, len(extra))
	}
	if _, err := s.GetRun(ctx, "kept"); err != nil {
		t.Errorf("data lost across migrations: %v", err)
	}

	// A failing migration leaves nothing half-applied.
	broken := append(append([]migration{}, extra...),
		migration{len(extra) + 1, "half", `CREATE TABLE half (x); CREATE TABLE half (y)`})
	if err := migrateWith(ctx, s.wdb, db, broken, now); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("migration %d (half)", len(extra)+1)) {
		t.Errorf("broken migration error = %v", err)
	}
	var n int
	_ = s.rdb.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'`).Scan(&n)
	if n != 0 {
		t.Error("failed migration left table half behind")
	}
	if err := migrateWith(ctx, s.wdb, db, []migration{{len(migrations) + 1, "gap", ""}}, now); err == nil {
		t.Error("misnumbered migration list accepted")
	}
	s.Close()

	// The store is now newer than this binary: opening fails clearly.
	_, err = Open(ctx, db)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("schema version %d but this elt knows only up to %d", len(extra), len(migrations))) {
		t.Errorf("Open of newer store = %v, want a clear version error", err)
	}
}

func TestOpenCreatesFolderAndRejectsBadPath(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "a b", ".elt", "elt.db")
	s, err := Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if s.Path() != db {
		t.Errorf("Path = %s", s.Path())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("store file not created: %v", err)
	}
	if err := s.Record(context.Background(), engine.Event{Type: engine.Log, RunID: "x"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Record after Close = %v, want ErrClosed", err)
	}
	if _, err := Open(context.Background(), ""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), filepath.Join(file, "elt.db")); err == nil {
		t.Error("Open under a regular file succeeded")
	}
}

// TestRecordCanceledContext: a caller whose context ends gets ctx.Err and
// does not disturb other writers' batch.
func TestRecordCanceledContext(t *testing.T) {
	s := openTest(t)
	mustCreateRun(t, s, Run{ID: "r"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Record(ctx, engine.Event{Type: engine.Log, RunID: "r"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Record with canceled ctx = %v", err)
	}
	mustRecord(t, s, engine.Event{Type: engine.Log, RunID: "r", Message: "0"})
	evs, _ := s.Events(context.Background(), "r", 0, 0)
	if len(evs) != 1 {
		t.Errorf("%d events, want 1", len(evs))
	}
}

// TestBatchIsolation: in one group commit, a failing write is rolled back
// alone; the others commit.
func TestBatchIsolation(t *testing.T) {
	s := openTest(t)
	mustCreateRun(t, s, Run{ID: "r"})
	ctx := context.Background()
	// Hold the writer so every write below queues into one batch.
	started, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- s.write(ctx, func(*sql.Tx) error { close(started); <-release; return nil })
	}()
	<-started
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := "r"
			if i%10 == 0 {
				run = "missing" // fails on the foreign key
			}
			errs[i] = s.Record(ctx, engine.Event{Type: engine.Log, RunID: run, Message: strconv.Itoa(i)})
		}()
	}
	for len(s.ops) < n {
		time.Sleep(time.Millisecond)
	}
	before := s.commits.Load()
	close(release)
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if c := s.commits.Load() - before; c != 2 {
		t.Errorf("%d commits for the held write and %d queued ones, want 2", c, n)
	}
	for i, err := range errs {
		if (i%10 == 0) != (err != nil) {
			t.Errorf("write %d: err = %v", i, err)
		}
	}
	evs, _ := s.Events(ctx, "r", 0, 0)
	if len(evs) != n-n/10 {
		t.Errorf("%d events stored, want %d", len(evs), n-n/10)
	}
}
