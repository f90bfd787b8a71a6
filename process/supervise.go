package process

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// envSupervisor marks a re-executed elt binary as a supervisor. Its value is
// "GRACE_MS:PARENT_PID:EXTRA_FILES"; the arguments are the program path,
// then the program's argv.
const envSupervisor = "ELT_PROCESS_SUPERVISOR"

// EnvSupervise set to "0" turns the supervisor off (processes still get
// their own process group, timeouts and grace periods).
const EnvSupervise = "ELT_SUPERVISE"

// exitStartFailed is the supervisor's exit code when it could not start
// the program; its stderr then ends with a line starting supervisorTag.
const exitStartFailed = 127

const supervisorTag = "elt supervisor: "

// servePrefix starts the value of envSupervisor for the run supervisor,
// which starts programs on request (see server).
const servePrefix = "serve:"

// enabled is set by Main: only a binary that runs Main early can serve as
// its own supervisor.
var enabled bool

// Main must be the first call in main() of a binary that starts processes
// through this package. In a process started as a supervisor it supervises
// and exits; otherwise it enables supervision (on Linux) and returns.
func Main() {
	v, ok := os.LookupEnv(envSupervisor)
	if !ok {
		enabled = supported && os.Getenv(EnvSupervise) != "0"
		return
	}
	if rest, ok := strings.CutPrefix(v, servePrefix); ok {
		os.Exit(serveMain(rest))
	}
	os.Exit(supervise(v, os.Args[1:]))
}

type supervisorSpec struct {
	grace      time.Duration
	parent     int
	extraFiles int
}

func (s supervisorSpec) String() string {
	return fmt.Sprintf("%d:%d:%d", s.grace.Milliseconds(), s.parent, s.extraFiles)
}

func parseSpec(v string) (supervisorSpec, error) {
	parts := strings.Split(v, ":")
	if len(parts) != 3 {
		return supervisorSpec{}, fmt.Errorf("bad %s value %q", envSupervisor, v)
	}
	var n [3]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return supervisorSpec{}, fmt.Errorf("bad %s value %q", envSupervisor, v)
		}
		n[i] = x
	}
	return supervisorSpec{grace: time.Duration(n[0]) * time.Millisecond, parent: n[1], extraFiles: n[2]}, nil
}

// withoutEnv returns env without NAME=… entries.
func withoutEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
