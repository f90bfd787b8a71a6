package process

import (
	"bytes"
	"context"
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

	"github.com/eltproject/elt/internal/testenv"
)

// envFakeElt makes the test binary play elt: run the shell script in its
// value under Run and wait (the test then SIGKILLs it).
const envFakeElt = "ELT_PROCESS_TEST_FAKE_ELT"

// envNoServer makes the fake elt start a supervisor per program.
const envNoServer = "ELT_PROCESS_TEST_NO_SERVER"

func TestMain(m *testing.M) {
	Main()
	if script := os.Getenv(envFakeElt); script != "" {
		noServer = os.Getenv(envNoServer) == "true"
		_, _ = Run(context.Background(), &Proc{Shell: script, Grace: 300 * time.Millisecond})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestRunExitCodeAndTail(t *testing.T) {
	var out bytes.Buffer
	res, err := Run(context.Background(), &Proc{Shell: "echo one; echo two >&2; exit 3", Output: &out})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Fatalf("err = %v", err)
	}
	if res.ExitCode != 3 || !strings.Contains(strings.Join(res.Tail, "|"), "two") {
		t.Errorf("result %+v", res)
	}
	if out.String() != "one\ntwo\n" {
		t.Errorf("output %q", out.String())
	}
}

func TestRunMissingProgram(t *testing.T) {
	for _, argv := range [][]string{{"/no/such/program"}, {"no-such-program-anywhere"}} {
		_, err := Run(context.Background(), &Proc{Argv: argv})
		if err == nil || !strings.Contains(err.Error(), argv[0]) {
			t.Errorf("%s: err = %v", argv[0], err)
		}
	}
}

func TestRunStdinEnvDir(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	_, err := Run(context.Background(), &Proc{
		Shell: `read x; echo "$x $FOO $(pwd)"; env | grep -c ` + envSupervisor + ` || true`,
		Stdin: strings.NewReader("hello\n"), Env: []string{"FOO=bar", "PATH=" + os.Getenv("PATH")},
		Dir: dir, Output: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "hello bar " + dir + "\n0\n"
	if out.String() != want {
		t.Errorf("output %q, want %q (the supervisor's variable must not reach the program)", out.String(), want)
	}
}

func TestRedactorSeesEveryLine(t *testing.T) {
	var out bytes.Buffer
	var lines []string
	res, err := Run(context.Background(), &Proc{
		Shell:    "echo user=s3cret; echo ok >&2; printf 'tail s3cret'",
		Output:   &out,
		OnLine:   func(l string) { lines = append(lines, l) },
		Redactor: RedactFunc(func(s string) string { return strings.ReplaceAll(s, "s3cret", "***") }),
	})
	if err != nil {
		t.Fatal(err)
	}
	all := out.String() + strings.Join(lines, "\n") + strings.Join(res.Tail, "\n")
	if strings.Contains(all, "s3cret") {
		t.Errorf("secret leaked: %q", all)
	}
	if out.String() != "user=***\nok\ntail ***\n" {
		t.Errorf("output %q", out.String())
	}
}

// TestTimeoutKillsSetsidEscapee: a child that left the process group
// (setsid) and a double-forked grandchild die at the step's timeout.
func TestTimeoutKillsSetsidEscapee(t *testing.T) {
	forEachSupervisor(t, func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "pids")
		script := escapees(pidFile) + "; sleep 600"
		// The step times out once its children run (a fixed timeout
		// could fire before they started on a loaded machine).
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		pids := make(chan []int, 1)
		go func() {
			p, err := waitPids(pidFile, 3)
			if err != nil {
				t.Error(err)
			}
			pids <- p
			cancel(errors.New("asset x timed out after 300ms"))
		}()
		res, err := Run(ctx, &Proc{Shell: script, Grace: 200 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "timed out") || !res.Canceled {
			t.Fatalf("err = %v, res %+v", err, res)
		}
		assertGone(t, <-pids, time.Second)
	})
}

// TestStepEndKillsEscapees: the step exits 0 but left a setsid child and
// a double-forked one behind; both die with the step.
func TestStepEndKillsEscapees(t *testing.T) {
	forEachSupervisor(t, func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "pids")
		script := escapees(pidFile) + "\nwhile [ $(wc -l < " + pidFile + ") -lt 3 ]; do sleep 0.01; done"
		if _, err := Run(context.Background(), &Proc{Shell: script}); err != nil {
			t.Fatal(err)
		}
		assertGone(t, readPids(t, pidFile, 3), time.Second)
	})
}

// TestCancelTermThenGrace: cancellation sends SIGTERM and waits the grace
// period before SIGKILL, so a program can clean up.
func TestCancelTermThenGrace(t *testing.T) {
	for _, sup := range []bool{true, false} {
		t.Run("supervised="+strconv.FormatBool(sup), func(t *testing.T) {
			if sup {
				requireSupervisor(t)
			} else {
				withoutSupervisor(t)
			}
			var out syncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				for !strings.Contains(out.String(), "ready") {
					time.Sleep(5 * time.Millisecond)
				}
				cancel()
			}()
			_, err := Run(ctx, &Proc{
				Shell:  `trap 'sleep 0.2; echo cleaned up; exit 0' TERM; echo ready; while :; do sleep 0.02; done`,
				Output: &out, Grace: 3 * time.Second,
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v", err)
			}
			if !strings.Contains(out.String(), "cleaned up") {
				t.Errorf("no clean-up in grace period: %q", out.String())
			}
		})
	}
}

// TestLeftoversOfOneProgramOnly: when one program ends, what it left is
// killed, and what another program (still running) started is not.
func TestLeftoversOfOneProgramOnly(t *testing.T) {
	forEachSupervisor(t, func(t *testing.T) {
		dir := t.TempDir()
		aPids, bPids := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		aDone := make(chan struct{})
		go func() {
			defer close(aDone)
			_, _ = Run(ctx, &Proc{Shell: escapees(aPids) + "; sleep 600", Grace: 100 * time.Millisecond})
		}()
		a := readPids(t, aPids, 3)
		script := escapees(bPids) + "\nwhile [ $(wc -l < " + bPids + ") -lt 3 ]; do sleep 0.01; done"
		if _, err := Run(context.Background(), &Proc{Shell: script}); err != nil {
			t.Fatal(err)
		}
		assertGone(t, readPids(t, bPids, 3), time.Second)
		for _, pid := range a {
			if !liveProcess(pid) {
				t.Errorf("process %d of the running program was killed when another ended", pid)
			}
		}
		cancel()
		<-aDone
		assertGone(t, a, time.Second)
	})
}

// TestLargeEnvironment: a request too large for one message to the run
// supervisor still runs (under a supervisor of its own).
func TestLargeEnvironment(t *testing.T) {
	var out bytes.Buffer
	var env []string
	for i := range 12 { // 1.2 MB: more than a message, less than exec allows
		env = append(env, fmt.Sprintf("BIG%d=%s", i, strings.Repeat("x", 100_000)))
	}
	_, err := Run(context.Background(), &Proc{Shell: `read x; echo ${#BIG11} $x`, Env: env, Stdin: strings.NewReader("in\n"), Output: &out})
	if err != nil || out.String() != "100000 in\n" {
		t.Fatalf("err %v, output %q", err, out.String())
	}
}

// TestGraceThenKill: a program that ignores SIGTERM is killed after grace.
func TestGraceThenKill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, &Proc{Shell: `trap '' TERM; while :; do sleep 0.02; done`, Grace: 300 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 5*time.Second {
		t.Errorf("took %s, want timeout + grace", d)
	}
}

// TestParentKilled: SIGKILL of the process that called Run (elt) ends the
// program and every descendant, setsid and double-forked ones included.
func TestParentKilled(t *testing.T) {
	forEachSupervisor(t, testParentKilled)
}

func testParentKilled(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pids")
	fake := exec.Command(os.Args[0], "-test.run=^$")
	fake.Env = append(os.Environ(), envFakeElt+"="+escapees(pidFile)+"; sleep 600 & echo $! >> "+pidFile+"; wait",
		envNoServer+"="+strconv.FormatBool(noServer))
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	pids := readPids(t, pidFile, 4)
	if err := fake.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = fake.Wait()
	// The supervisor gets SIGTERM, waits the grace (300ms), kills.
	assertGone(t, pids, 3*time.Second)
}

// escapees is a script fragment that starts a setsid child, a
// double-forked child and a plain background child, writing their pids.
func escapees(pidFile string) string {
	return `setsid sh -c 'echo $$ >> ` + pidFile + `; exec sleep 600' > /dev/null 2>&1 &
sh -c 'sleep 600 > /dev/null 2>&1 & echo $! >> ` + pidFile + `'
sleep 600 > /dev/null 2>&1 & echo $! >> ` + pidFile
}

// forEachSupervisor runs f with the run supervisor (the default) and with
// a supervisor per program (plugins, and steps whose request is too large).
func forEachSupervisor(t *testing.T, f func(t *testing.T)) {
	requireSupervisor(t)
	for _, own := range []bool{false, true} {
		name := "run supervisor"
		if own {
			name = "own supervisor"
		}
		t.Run(name, func(t *testing.T) {
			old := noServer
			noServer = own
			t.Cleanup(func() { noServer = old })
			f(t)
		})
	}
}

func requireSupervisor(t *testing.T) {
	t.Helper()
	if !supported {
		testenv.Missing(t, "process supervision (Linux)", "the supervisor needs Linux: PR_SET_CHILD_SUBREAPER and /proc")
	}
	if !enabled {
		t.Fatal("Main did not enable the supervisor")
	}
}

func withoutSupervisor(t *testing.T) {
	old := enabled
	enabled = false
	t.Cleanup(func() { enabled = old })
}

// readPids waits until pidFile holds n pids.
func readPids(t *testing.T, pidFile string, n int) []int {
	t.Helper()
	pids, err := waitPids(pidFile, n)
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

// waitPids waits (5s at most) until pidFile holds n pids.
func waitPids(pidFile string, n int) ([]int, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(pidFile)
		f := strings.Fields(string(b))
		if len(f) >= n {
			var pids []int
			for _, s := range f {
				p, err := strconv.Atoi(s)
				if err != nil {
					return nil, fmt.Errorf("pid file %q", b)
				}
				pids = append(pids, p)
			}
			return pids, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("pid file has %q, want %d pids", b, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// assertGone fails if any pid is still alive after wait (and kills it).
func assertGone(t *testing.T, pids []int, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for _, pid := range pids {
		for liveProcess(pid) {
			if time.Now().After(deadline) {
				t.Errorf("process %d outlived its step", pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// liveProcess reports a live, not zombie, process.
func liveProcess(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
