package store

import (
	"context"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/internal/testenv"
)

// TestReapFailsRunningStepsAtLastHeartbeat: a reaped run's running steps
// end as failed with "elt process died", and the run's duration stops at
// its last heartbeat, not at the time the death was noticed.
func TestReapFailsRunningStepsAtLastHeartbeat(t *testing.T) {
	clock := newFakeClock()
	s := openTest(t, WithClock(clock.Now))
	ctx := context.Background()
	mustCreateRun(t, s, Run{ID: "r", PID: deadPID(t)})
	start := clock.Now()
	mustRecord(t, s, engine.Event{Type: engine.StepStarted, Time: start, RunID: "r", StepID: "done", Attempt: 1})
	mustRecord(t, s, engine.Event{Type: engine.StepSucceeded, Time: start, RunID: "r", StepID: "done", Attempt: 1})
	mustRecord(t, s, engine.Event{Type: engine.StepStarted, Time: start, RunID: "r", StepID: "long", Attempt: 1})
	clock.Advance(30 * time.Second)
	if err := s.Heartbeat(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	lastBeat := clock.Now()
	clock.Advance(time.Hour)
	if got, err := s.ReapDeadRuns(ctx, 0); err != nil || !reflect.DeepEqual(got, []string{"r"}) {
		t.Fatalf("ReapDeadRuns = %v, %v", got, err)
	}
	r, err := s.GetRun(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if !r.EndedAt.Equal(lastBeat) {
		t.Errorf("run ended at %s, want its last heartbeat %s", r.EndedAt, lastBeat)
	}
	steps, err := s.Steps(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, st := range steps {
		got[st.StepID] = st.Status + ": " + st.Error
		if st.StepID == "long" && !st.EndedAt.Equal(lastBeat) {
			t.Errorf("step long ended at %s, want %s", st.EndedAt, lastBeat)
		}
	}
	want := map[string]string{"done": "succeeded: ", "long": "failed: elt process died"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("steps = %v, want %v", got, want)
	}
}

// TestReapEndsProcessesBeforeFreeingLocks: a process left by a dead run
// (found by its recorded process group, or by the run id in its
// environment: a setsid escapee) is ended before the run's locks go.
func TestReapEndsProcessesBeforeFreeingLocks(t *testing.T) {
	testenv.LinuxProc(t)
	s := openTest(t)
	ctx := context.Background()
	mustCreateRun(t, s, Run{ID: "r1", PID: deadPID(t)})
	if err := s.LockAssets(ctx, "r1", []asset.Key{asset.MustKey("x")}); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for range 2 {
		cmd := exec.Command("sleep", "600")
		cmd.Env = append(os.Environ(), "ELT_RUN_ID=r1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go cmd.Wait()
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		pids = append(pids, cmd.Process.Pid)
	}
	if err := s.RecordProcess(ctx, "r1", "step", 1, pids[0]); err != nil {
		t.Fatal(err)
	}
	if got, err := s.StepProcesses(ctx, "r1"); err != nil || !reflect.DeepEqual(got, pids[:1]) {
		t.Fatalf("StepProcesses = %v, %v", got, err)
	}
	if got, err := s.ReapDeadRuns(ctx, 0); err != nil || !reflect.DeepEqual(got, []string{"r1"}) {
		t.Fatalf("ReapDeadRuns = %v, %v", got, err)
	}
	for _, pid := range pids {
		if running(pid) {
			t.Errorf("process %d of the dead run still runs after its locks were freed", pid)
		}
	}
	if locks, _ := s.Locks(ctx); len(locks) != 0 {
		t.Errorf("locks %v", locks)
	}
	// The step had started a process but its start was not recorded yet
	// (a short step's start is committed with its end): it is shown
	// failed, saying why, not forgotten.
	steps, err := s.Steps(ctx, "r1")
	if err != nil || len(steps) != 1 || steps[0].StepID != "step" || steps[0].Status != "failed" || steps[0].Error != DiedReason {
		t.Errorf("steps of the reaped run: %+v, %v", steps, err)
	}
}

// running reports a process that exists and is not a zombie.
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
