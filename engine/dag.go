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
	d := &dag{pending: make(map[string]int, len(nodes)), down: make(map[string][]string, len(nodes)), run: run}
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
	for _, n := range roots {
		d.launch(n)
	}
	d.wg.Wait()
}

type dag struct {
	mu      sync.Mutex
	pending map[string]int // unfinished deps per node
	down    map[string][]string
	run     func(string)
	wg      sync.WaitGroup
}

func (d *dag) launch(n string) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.run(n)
		d.finish(n)
	}()
}

// finish launches the nodes that were only waiting for n.
func (d *dag) finish(n string) {
	var ready []string
	d.mu.Lock()
	for _, m := range d.down[n] {
		d.pending[m]--
		if d.pending[m] == 0 {
			ready = append(ready, m)
		}
	}
	d.mu.Unlock()
	for _, m := range ready {
		d.launch(m)
	}
}
