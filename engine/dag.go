package engine

import "sync"

// RunDAG is elt's one dependency-order executor: the engine runs a plan's
// steps with it and a graph-asset runs its ops with it. It calls run for
// each node once run has returned for every node in deps[node], running
// nodes that are ready at the same time concurrently (each in its own
// goroutine), and returns once run has returned for every node. Nodes
// start in the order given when several become ready together. deps must
// name only nodes of the list and form no cycle (a node on a cycle never
// runs): callers validate their graphs first. run decides what a failed
// dependency means for its node (skip it, run a subset…).
func RunDAG(nodes []string, deps map[string][]string, run func(node string)) {
	RunDAGWith(nodes, deps, DAGHooks{Run: func(n string) func() { run(n); return nil }})
}

// DAGHooks are what RunDAGWith calls.
type DAGHooks struct {
	// Run runs one node. The function it returns, when not nil, frees what
	// the node still holds (its slot, its pools); it is called after Ready
	// has seen the nodes that the finished node made ready, so they claim
	// the freed resources before anything that was waiting already.
	Run func(node string) (release func())
	// Ready, when not nil, sees the nodes that became ready together (the
	// roots first, then each finished node's successors) before they are
	// launched; it may reorder them (launch order) and reserve what they
	// need.
	Ready func(ready []string)
}

// RunDAGWith is RunDAG with a hand-off of resources from a finished node to
// the nodes it made ready: the engine gives a freed slot to the highest-
// priority ready step, successors included.
func RunDAGWith(nodes []string, deps map[string][]string, h DAGHooks) {
	d := &dag{pending: make(map[string]int, len(nodes)), down: make(map[string][]string, len(nodes)), h: h}
	for _, n := range nodes {
		d.pending[n] = len(deps[n])
		for _, dep := range deps[n] {
			d.down[dep] = append(d.down[dep], n)
		}
	}
	// Roots are found before any runs: a finishing node changes pending.
	var roots []string
	for _, n := range nodes {
		if d.pending[n] == 0 {
			roots = append(roots, n)
		}
	}
	d.start(roots, nil)
	d.wg.Wait()
}

type dag struct {
	mu      sync.Mutex
	pending map[string]int // unfinished deps per node
	down    map[string][]string
	h       DAGHooks
	wg      sync.WaitGroup
}

// start lets Ready see nodes, frees what a finished node held, and
// launches nodes.
func (d *dag) start(nodes []string, release func()) {
	if d.h.Ready != nil && len(nodes) > 0 {
		d.h.Ready(nodes)
	}
	if release != nil {
		release()
	}
	for _, n := range nodes {
		d.launch(n)
	}
}

func (d *dag) launch(n string) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		release := d.h.Run(n)
		d.finish(n, release)
	}()
}

// finish launches the nodes that were only waiting for n.
func (d *dag) finish(n string, release func()) {
	var ready []string
	d.mu.Lock()
	for _, m := range d.down[n] {
		d.pending[m]--
		if d.pending[m] == 0 {
			ready = append(ready, m)
		}
	}
	d.mu.Unlock()
	d.start(ready, release)
}
