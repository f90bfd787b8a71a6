package plugins

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/internal/testenv"
	"github.com/eltproject/elt/process"
)

const (
	// envFakeElt makes the test binary play elt: materialize with the
	// hanging test plugin until killed.
	envFakeElt = "ELT_PLUGINS_TEST_FAKE_ELT"
	// envPidFile is where the hanging test plugin writes its pid.
	envPidFile = "ELT_PLUGINS_TEST_PID_FILE"
)

func fakeElt() {
	r := NewRunner(testRef("hang"), nil, nil)
	dir := os.Getenv(envFakeElt)
	_ = os.Unsetenv(envFakeElt) // the plugin inherits the environment
	req := &engine.Request{RunID: "r1", StepID: "s1", Attempt: 1, Assets: []asset.Key{asset.MustKey("a")}, Log: &lockedBuffer{}, StepDir: dir}
	_ = r.Run(context.Background(), req, func(engine.Event) {})
	os.Exit(0)
}

// TestPluginDiesWithElt: SIGKILL of elt while a plugin materializes
// leaves no plugin process behind (go-plugin alone gives it no process
// group and no parent-death signal: it used to live on under init).
func TestPluginDiesWithElt(t *testing.T) {
	testenv.LinuxProc(t)
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "plugin.pid")
	fake := exec.Command(os.Args[0], "-test.run=^$")
	fake.Env = append(os.Environ(), envFakeElt+"="+filepath.Join(dir, "step"), envPidFile+"="+pidFile)
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	deadline := time.Now().Add(10 * time.Second)
	for pid == 0 {
		b, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		if pid == 0 && time.Now().After(deadline) {
			_ = fake.Process.Kill()
			t.Fatal("the plugin never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = fake.Process.Kill()
	_ = fake.Wait()
	deadline = time.Now().Add(process.DefaultGrace + 2*time.Second)
	for liveProcess(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("plugin process %d outlived elt", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// liveProcess reports a process that exists and is not a zombie.
func liveProcess(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
