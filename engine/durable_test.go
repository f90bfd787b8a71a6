package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/eltproject/elt/internal/testenv"
)

// failingRecorder simulates a full disk under the run store: every Record
// from the failAt-th on fails with ENOSPC, as SQLite reports it.
type failingRecorder struct {
	mu     sync.Mutex
	n      int
	failAt int
	stored []Event
}

func (f *failingRecorder) Record(_ context.Context, ev Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.n >= f.failAt {
		return fmt.Errorf("cannot write the run store /x/.elt/elt.db: disk I/O error: %w", syscall.ENOSPC)
	}
	f.stored = append(f.stored, ev)
	return nil
}

// TestShownMeansStored injects a store failure at every point of a small
// run and checks that no event is shown (Observe) that was not stored, that
// nothing starts after the failure, and that Execute returns the error.
func TestShownMeansStored(t *testing.T) {
	for failAt := 1; failAt <= 12; failAt++ {
		t.Run(fmt.Sprint(failAt), func(t *testing.T) {
			var f fixture
			f.add("a", ok)
			f.add("b", ok, "a")
			f.add("c", ok, "b")
			e, _ := f.engine(t)
			rec := &failingRecorder{failAt: failAt}
			e.Recorder = rec
			var shown []Event
			e.Observe = func(ev Event) { shown = append(shown, ev) }
			plan, err := NewPlan(e.Graph, e.Families, e.Graph.AllSet())
			if err != nil {
				t.Fatal(err)
			}
			res, err := e.Execute(context.Background(), plan, ExecOptions{RunID: "r1"})
			if rec.n < failAt {
				if err != nil {
					t.Fatalf("no failure injected (%d records) but err %v", rec.n, err)
				}
				return
			}
			if err == nil || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("err = %v, want the store's ENOSPC", err)
			}
			if len(shown) != len(rec.stored) {
				t.Fatalf("shown %d events, stored %d", len(shown), len(rec.stored))
			}
			for i := range shown {
				if shown[i].Type != rec.stored[i].Type || shown[i].StepID != rec.stored[i].StepID {
					t.Errorf("shown[%d] = %s %s, stored %s %s", i, shown[i].Type, shown[i].StepID, rec.stored[i].Type, rec.stored[i].StepID)
				}
			}
			if res != nil && res.Status == StatusSucceeded {
				t.Errorf("run status %s after a store failure", res.Status)
			}
			if res != nil && res.Status == StatusCanceled {
				t.Errorf("a store failure is not a cancellation")
			}
		})
	}
}

// TestStepLogWriteFailure points a step's log at /dev/full (every write
// fails with ENOSPC): the step and the run fail with the log's path and
// the OS error instead of a bare exit status, and nothing after it starts.
func TestStepLogWriteFailure(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		testenv.Missing(t, "/dev/full", "run the tests on Linux")
	}
	var f fixture
	f.add("a", func(ctx context.Context, req *Request, emit Emitter) error {
		_, err := fmt.Fprintln(req.Log, "some output")
		return err
	})
	started := false
	f.add("b", func(ctx context.Context, req *Request, emit Emitter) error {
		started = true
		return nil
	}, "a")
	e, rec := f.engine(t)
	runDir := filepath.Join(e.RunsDir, "r1")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(runDir, safeID("a")+".1.log")
	if err := os.Symlink("/dev/full", logPath); err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(e.Graph, e.Families, e.Graph.AllSet())
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Execute(context.Background(), plan, ExecOptions{RunID: "r1"})
	var we *WriteError
	if !errors.As(err, &we) || we.Path != logPath || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want a WriteError for %s with ENOSPC", err, logPath)
	}
	if res.Status != StatusFailed || started {
		t.Errorf("status %s, downstream started %v", res.Status, started)
	}
	if evs := rec.of(StepSucceeded); len(evs) != 0 {
		t.Errorf("step shown as succeeded: %+v", evs)
	}
}

// TestStepLogOpenFailure: the log cannot even be created (here a folder
// stands at its path; a read-only .elt fails the same way for a non-root
// user): the error names the path and the OS error.
func TestStepLogOpenFailure(t *testing.T) {
	var f fixture
	f.add("a", func(ctx context.Context, req *Request, emit Emitter) error {
		fmt.Fprintln(req.Log, "some output")
		return nil
	})
	e, rec := f.engine(t)
	logPath := filepath.Join(e.RunsDir, "r1", safeID("a")+".1.log")
	if err := os.MkdirAll(logPath, 0o755); err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(e.Graph, e.Families, e.Graph.AllSet())
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Execute(context.Background(), plan, ExecOptions{RunID: "r1"})
	var we *WriteError
	if !errors.As(err, &we) || we.Path != logPath || !errors.Is(err, syscall.EISDIR) {
		t.Fatalf("err = %v, want a WriteError for %s with EISDIR", err, logPath)
	}
	if evs := rec.of(StepSucceeded); len(evs) != 0 {
		t.Errorf("step shown as succeeded: %+v", evs)
	}
	if evs := rec.of(StepFailed); len(evs) != 1 || !strings.Contains(evs[0].Message, "cannot write step log") {
		t.Errorf("step failure %+v does not say why", evs)
	}
}
