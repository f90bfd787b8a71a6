package process

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const supported = true

// Supervise prepares cmd to run in its own process group and, when Main
// enabled it, under a supervisor: the elt binary re-executed, which is a
// child subreaper, gets SIGTERM when elt dies (parent-death signal), and
// ends every descendant when the program ends or it is told to stop
// (SIGTERM to all, grace, SIGKILL to all). It reports whether cmd now
// runs under a supervisor; signal the supervisor's pid (not its group) to
// stop it gracefully.
func Supervise(cmd *exec.Cmd, grace time.Duration) bool {
	if !enabled || cmd.Err != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return false
	}
	self, err := os.Executable()
	if err != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return false
	}
	spec := supervisorSpec{grace: grace, parent: os.Getpid(), extraFiles: len(cmd.ExtraFiles)}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(withoutEnv(env, envSupervisor), envSupervisor+"="+spec.String())
	cmd.Args = append([]string{self, cmd.Path}, cmd.Args...)
	cmd.Path = self
	// The parent-death signal is tied to the thread that forks; Go keeps
	// its threads for the life of the process unless a goroutine exits
	// while locked to one, which elt never does around a start.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	return true
}

// supervise is the supervisor's main: start the program, wait for it,
// then end every descendant it left, and exit as the program did.
func supervise(v string, args []string) int {
	spec, err := parseSpec(v)
	if err != nil || len(args) < 2 {
		fmt.Fprintf(os.Stderr, "%sbad invocation (%v)\n", supervisorTag, err)
		return exitStartFailed
	}
	_ = os.Unsetenv(envSupervisor)
	// Orphaned descendants (double forks, setsid escapees whose parent
	// died) are re-parented to us rather than to init.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "%ssubreaper: %v\n", supervisorTag, err)
		return exitStartFailed
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGCHLD)
	// elt may have died between our fork and here; the parent-death
	// signal set before exec covers the rest.
	if os.Getppid() != spec.parent {
		return 128 + int(syscall.SIGTERM)
	}
	files := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	for i := 0; i < spec.extraFiles; i++ {
		files = append(files, os.NewFile(uintptr(3+i), "extra"))
	}
	proc, err := os.StartProcess(args[0], args[1:], &os.ProcAttr{
		Files: files,
		// The program dies with us even if we are SIGKILLed.
		Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s%v\n", supervisorTag, err)
		return exitStartFailed
	}
	for _, f := range files[3:] {
		f.Close()
	}
	status, stopped := waitMain(proc.Pid, sigs, spec.grace)
	// The program is gone: whatever it left behind goes now. After a
	// stop request the grace period (already running) applies.
	if !stopped.IsZero() {
		waitDescendants(stopped.Add(spec.grace))
	}
	killDescendants()
	switch {
	case status.Exited():
		return status.ExitStatus()
	case status.Signaled():
		// Die the same way, so that elt sees what the program saw.
		sig := status.Signal()
		signal.Reset(sig)
		_ = syscall.Kill(os.Getpid(), sig)
		time.Sleep(100 * time.Millisecond)
		return 128 + int(sig)
	}
	return 1
}

// waitMain reaps children until the program itself (pid) exits, turning a
// stop signal into SIGTERM for every descendant and, after grace, SIGKILL.
// It returns when the program stopped and when a stop began (zero if none).
func waitMain(pid int, sigs <-chan os.Signal, grace time.Duration) (unix.WaitStatus, time.Time) {
	var stopped time.Time
	var kill <-chan time.Time
	// A lost SIGCHLD (the channel was full) is caught by the tick.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if st, ok := reap(pid); ok {
			return st, stopped
		}
		select {
		case s := <-sigs:
			if s == syscall.SIGCHLD || !stopped.IsZero() {
				continue
			}
			stopped = time.Now()
			signalDescendants(syscall.SIGTERM)
			kill = time.After(grace)
		case <-kill:
			signalDescendants(syscall.SIGKILL)
		case <-tick.C:
		}
	}
}

// reap collects every exited child; ok reports that pid was among them.
func reap(pid int) (status unix.WaitStatus, ok bool) {
	for {
		var ws unix.WaitStatus
		p, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || p <= 0 {
			return status, ok
		}
		if p == pid {
			status, ok = ws, true
		}
	}
}

// hasChildren reports whether any child (live or zombie) remains: as a
// subreaper, we have none exactly when no descendant remains.
func hasChildren() bool {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if err == unix.EINTR {
			continue
		}
		return err != unix.ECHILD
	}
}

// waitDescendants lets descendants finish on their own until deadline.
func waitDescendants(deadline time.Time) {
	for hasChildren() && time.Now().Before(deadline) {
		reap(-1)
		if !hasChildren() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// killDescendants SIGKILLs every descendant until none is left, reaping
// the ones re-parented to us.
func killDescendants() {
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		reap(-1)
		if !hasChildren() {
			return
		}
		signalDescendants(syscall.SIGKILL)
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(time.Duration(min(1<<i, 50)) * time.Millisecond)
	}
}

// signalDescendants sends sig to every live descendant of this process.
func signalDescendants(sig syscall.Signal) {
	for _, pid := range Descendants(os.Getpid()) {
		_ = syscall.Kill(pid, sig)
	}
}

// Descendants lists the live (not zombie) processes whose parent chain
// leads to root, found by reading /proc.
func Descendants(root int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, state, ok := readStat(pid)
		if !ok || state == 'Z' || state == 'X' {
			continue
		}
		children[ppid] = append(children[ppid], pid)
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// readStat returns the parent pid and state of pid from /proc/PID/stat.
func readStat(pid int) (ppid int, state byte, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) S ppid …": comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0, 0, false
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, false
	}
	return ppid, f[0][0], true
}
