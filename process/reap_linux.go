package process

import (
	"bytes"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// EndRun ends what a dead elt process (pid parent) left running: each
// process group in groups whose leader is still a supervisor started by
// parent gets SIGTERM (it then ends its descendants, with their grace),
// and so does every process whose environment holds marker (NAME=value),
// such as a setsid escapee whose supervisor was killed. What is still
// there after grace is SIGKILLed. It returns the pids that survive.
func EndRun(groups []int, parent int, marker string, grace time.Duration) []int {
	targets := func() []int {
		var out []int
		for _, g := range groups {
			// A recorded group is a supervisor of that elt, or a
			// program carrying the run's marker; anything else is a
			// recycled pid and left alone.
			if alive(g) && (isSupervisorOf(g, parent) || (marker != "" && hasEnv(g, []byte(marker)))) {
				out = append(out, g)
				out = append(out, Descendants(g)...)
			}
		}
		if marker != "" {
			out = append(out, withEnv(marker)...)
		}
		return out
	}
	// A process that was signalled is waited for until it is really gone:
	// while it exits, its environment may already read empty (so targets
	// no longer names it) although it is not a zombie yet.
	signalled := map[int]bool{}
	pending := func() []int {
		out := targets()
		for pid := range signalled {
			if alive(pid) && !slices.Contains(out, pid) {
				out = append(out, pid)
			}
		}
		return out
	}
	for _, pid := range targets() {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		signalled[pid] = true
	}
	left := waitGone(pending, grace)
	for _, pid := range left {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		signalled[pid] = true
	}
	return waitGone(pending, time.Second)
}

// waitGone polls targets until it is empty or wait has passed, and
// returns its last answer.
func waitGone(targets func() []int, wait time.Duration) []int {
	deadline := time.Now().Add(wait)
	for {
		left := targets()
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// isSupervisorOf reports whether pid is a supervisor started by parent
// (not a recycled pid).
func isSupervisorOf(pid, parent int) bool {
	for _, kv := range environ(pid) {
		if v, ok := bytes.CutPrefix(kv, []byte(envSupervisor+"=")); ok {
			spec, err := parseSpec(string(v))
			return err == nil && spec.parent == parent
		}
	}
	return false
}

// withEnv lists live processes (other than this one) whose environment
// holds entry.
func withEnv(entry string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	want := []byte(entry)
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		for _, kv := range environ(pid) {
			if bytes.Equal(kv, want) {
				if alive(pid) {
					out = append(out, pid)
				}
				break
			}
		}
	}
	return out
}

// environ returns the environment pid started with (empty when it is not
// readable: another user's process, or gone).
func environ(pid int) [][]byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return nil
	}
	return bytes.Split(b, []byte{0})
}

// alive reports a process that exists and is not a zombie.
func alive(pid int) bool {
	_, state, ok := readStat(pid)
	return ok && state != 'Z' && state != 'X'
}
