package process

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// envTag marks every process the run supervisor starts, and so (through
// inheritance) everything they start: it tells whose an adopted orphan is.
const envTag = "ELT_PROCESS_TAG"

// supervised is one program the run supervisor started.
type supervised struct {
	id       uint64
	pid      int
	stopping bool
}

type server struct {
	conn   *net.UnixConn
	self   int
	byPid  map[int]*supervised
	byID   map[uint64]*supervised
	kills  chan uint64 // a stop's grace period ended
	grace  time.Duration
	reqs   chan incoming
	closed chan struct{}
}

func serveMain(v string) int {
	spec, err := parseSpec(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s%v\n", supervisorTag, err)
		return exitStartFailed
	}
	_ = os.Unsetenv(envSupervisor)
	return serve(spec)
}

// serve is the run supervisor's main: start programs on request, end
// each one's leftovers when it exits, and everything when elt goes.
func serve(spec supervisorSpec) int {
	runtime.LockOSThread() // programs' parent-death signal follows this thread
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "%ssubreaper: %v\n", supervisorTag, err)
		return exitStartFailed
	}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGCHLD)
	if os.Getppid() != spec.parent {
		return 0
	}
	f := os.NewFile(3, "supervisor")
	fc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s%v\n", supervisorTag, err)
		return exitStartFailed
	}
	s := &server{
		conn: fc.(*net.UnixConn), self: os.Getpid(), byPid: map[int]*supervised{}, byID: map[uint64]*supervised{},
		kills: make(chan uint64, 16), grace: spec.grace, reqs: make(chan incoming), closed: make(chan struct{}),
	}
	go s.readLoop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case in := <-s.reqs:
			s.handle(in.req, in.files)
			closeAll(in.files) // the program has its own copies
		case id := <-s.kills:
			if p := s.byID[id]; p != nil {
				s.signalTree(p, syscall.SIGKILL)
			}
		case sig := <-sigs:
			if sig != syscall.SIGCHLD {
				return s.shutdown()
			}
			s.reap()
		case <-tick.C:
			s.reap() // a SIGCHLD lost to a full channel
		case <-s.closed:
			return s.shutdown() // elt is gone
		}
	}
}

// readLoop receives requests; files come with start requests.
func (s *server) readLoop() {
	buf := make([]byte, maxMessage)
	oob := make([]byte, unix.CmsgSpace(3*4))
	for {
		n, oobn, _, _, err := s.conn.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			close(s.closed)
			return
		}
		var files []*os.File
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				fds, err := unix.ParseUnixRights(&m)
				if err != nil {
					continue
				}
				for _, fd := range fds {
					unix.CloseOnExec(fd)
					files = append(files, os.NewFile(uintptr(fd), "fd"))
				}
			}
		}
		var r request
		if err := json.Unmarshal(buf[:n], &r); err != nil {
			closeAll(files)
			continue
		}
		s.reqs <- incoming{req: r, files: files}
	}
}

// incoming is a request with the files that came with it.
type incoming struct {
	req   request
	files []*os.File
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func (s *server) send(r reply) {
	b, _ := json.Marshal(r)
	_, _ = s.conn.Write(b)
}

func (s *server) handle(r request, files []*os.File) {
	switch r.Op {
	case "stop":
		p := s.byID[r.ID]
		if p == nil || p.stopping {
			return
		}
		p.stopping = true
		s.signalTree(p, syscall.SIGTERM)
		id := r.ID
		time.AfterFunc(r.Grace, func() { s.kills <- id })
	case "start":
		s.start(r, files)
	}
}

// start runs a program in its own process group, tagged with its id, and
// replies with its pid.
func (s *server) start(r request, files []*os.File) {
	if len(files) != 3 {
		s.send(reply{ID: r.ID, Err: fmt.Sprintf("start request with %d files, want 3", len(files))})
		return
	}
	proc, err := os.StartProcess(r.Path, r.Args, &os.ProcAttr{
		Dir:   r.Dir,
		Env:   append(withoutEnv(r.Env, envTag), envTag+"="+strconv.FormatUint(r.ID, 10)),
		Files: files,
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		s.send(reply{ID: r.ID, Err: err.Error()})
		return
	}
	p := &supervised{id: r.ID, pid: proc.Pid}
	s.byPid[p.pid], s.byID[p.id] = p, p
	s.send(reply{ID: r.ID, Pid: p.pid})
}

// reap collects exited children: a program's exit ends what it left
// behind, then is reported; adopted orphans are just collected.
func (s *server) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		p := s.byPid[pid]
		if p == nil {
			continue
		}
		delete(s.byPid, pid)
		delete(s.byID, p.id)
		s.killLeftovers(p.id)
		s.send(reply{ID: p.id, Exited: true, Status: uint32(ws)})
	}
}

// signalTree signals a running program and everything it started: its
// descendants, and adopted orphans carrying its tag (with theirs).
func (s *server) signalTree(p *supervised, sig syscall.Signal) {
	if _, running := s.byPid[p.pid]; running {
		_ = syscall.Kill(p.pid, sig)
		for _, d := range childTree(p.pid) {
			_ = syscall.Kill(d, sig)
		}
	}
	s.signalTagged(p.id, sig)
}

// killLeftovers SIGKILLs the adopted orphans tagged id and their trees.
func (s *server) killLeftovers(id uint64) {
	// A process forking while the tree is signaled can slip through one
	// pass: its child is adopted, tagged, and found by the next.
	// An orphan caught between fork and exec has no environment to read
	// yet (it reads empty while execve replaces it): look again until every
	// adopted child is either killed or known not to be this program's.
	for i := 0; i < 200; i++ {
		found, unsure := s.signalTagged(id, syscall.SIGKILL)
		if !found && !unsure && i >= 2 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// signalTagged signals the adopted orphans tagged id and their trees; it
// reports whether there were any, and whether an adopted orphan's
// environment could not be read (unsure: it may be one).
func (s *server) signalTagged(id uint64, sig syscall.Signal) (found, unsure bool) {
	tag := []byte(envTag + "=" + strconv.FormatUint(id, 10))
	for _, c := range childrenOf(s.self) {
		if s.byPid[c] != nil {
			continue
		}
		env := environ(c)
		if len(env) == 0 || (len(env) == 1 && len(env[0]) == 0) {
			if alive(c) {
				unsure = true
			}
			continue
		}
		if !slices.ContainsFunc(env, func(kv []byte) bool { return string(kv) == string(tag) }) {
			continue
		}
		found = true
		_ = syscall.Kill(c, sig)
		for _, d := range childTree(c) {
			_ = syscall.Kill(d, sig)
		}
	}
	return found, unsure
}

// shutdown ends everything: SIGTERM to all descendants, the grace period,
// SIGKILL to what is left.
func (s *server) shutdown() int {
	signalDescendants(syscall.SIGTERM)
	waitDescendants(time.Now().Add(s.grace))
	killDescendants()
	return 0
}

// childrenOf lists the children of pid from /proc/PID/task/*/children,
// or by scanning /proc where the kernel lacks that file.
func childrenOf(pid int) []int {
	base := "/proc/" + strconv.Itoa(pid) + "/task/"
	tasks, err := os.ReadDir(base)
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(base + t.Name() + "/children")
		if err != nil {
			return scanChildren(pid)
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

func scanChildren(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := readStat(c); ok && ppid == pid {
			out = append(out, c)
		}
	}
	return out
}

// childTree lists every descendant of pid.
func childTree(pid int) []int {
	var out []int
	queue := childrenOf(pid)
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		out = append(out, c)
		queue = append(queue, childrenOf(c)...)
	}
	return out
}

// hasEnv reports whether pid's environment holds entry.
func hasEnv(pid int, entry []byte) bool {
	for _, kv := range environ(pid) {
		if string(kv) == string(entry) {
			return true
		}
	}
	return false
}
