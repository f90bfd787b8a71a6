package engine

import (
	"container/heap"
	"context"
	"sync"

	"golang.org/x/sync/semaphore"
)

// PoolSet holds named pools' semaphores; share one between engines so
// concurrent runs in one process respect the same limits.
type PoolSet struct {
	mu    sync.Mutex
	pools map[string]*semaphore.Weighted
}

// NewPoolSet returns an empty set.
func NewPoolSet() *PoolSet { return &PoolSet{pools: map[string]*semaphore.Weighted{}} }

// get returns the pool named name, creating it with limit (1 when <= 0).
func (ps *PoolSet) get(name string, limit int) *semaphore.Weighted {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if s, ok := ps.pools[name]; ok {
		return s
	}
	if limit <= 0 {
		limit = 1
	}
	s := semaphore.NewWeighted(int64(limit))
	ps.pools[name] = s
	return s
}

// slots is a counting semaphore that hands a freed slot to the waiting
// step with the highest priority (its longest chain of downstream steps),
// not to the one that asked first. Critical-path-first keeps long chains
// from starting last and stretching the makespan.
type slots struct {
	mu      sync.Mutex
	free    int
	waiters waitHeap
	seq     int
}

type waiter struct {
	prio  int
	seq   int
	ready chan struct{}
	index int
}

type waitHeap []*waiter

func (h waitHeap) Len() int { return len(h) }
func (h waitHeap) Less(i, j int) bool {
	if h[i].prio != h[j].prio {
		return h[i].prio > h[j].prio
	}
	return h[i].seq < h[j].seq
}
func (h waitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waitHeap) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	*h = old[:len(old)-1]
	w.index = -1
	return w
}

func newSlots(n int) *slots { return &slots{free: n} }

// acquire waits for a slot; higher prio goes first.
func (s *slots) acquire(ctx context.Context, prio int) error {
	return s.wait(ctx, s.reserve(prio))
}

// reserve queues a claim on a slot without waiting for it: a step that
// becomes ready when another ends is queued before that step frees its
// slot, so the slot goes to the highest-priority ready step, successors
// included. The claim is then either waited for (wait) or dropped
// (cancel). A granted claim holds a slot.
func (s *slots) reserve(prio int) *waiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &waiter{prio: prio, seq: s.seq, ready: make(chan struct{}), index: -1}
	s.seq++
	if s.free > 0 && len(s.waiters) == 0 {
		s.free--
		close(w.ready)
		return w
	}
	heap.Push(&s.waiters, w)
	return w
}

// wait blocks until w is granted or ctx ends; on ctx's end the claim is
// dropped and ctx's error returned.
func (s *slots) wait(ctx context.Context, w *waiter) error {
	select {
	case <-w.ready:
		return nil
	default:
	}
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		s.cancel(w)
		return ctx.Err()
	}
}

// cancel drops a claim that will not be used: it leaves the queue, or if
// it was already granted its slot passes on.
func (s *slots) cancel(w *waiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-w.ready:
		s.releaseLocked()
	default:
		heap.Remove(&s.waiters, w.index)
	}
}

// release frees a slot.
func (s *slots) release() {
	s.mu.Lock()
	s.releaseLocked()
	s.mu.Unlock()
}

func (s *slots) releaseLocked() {
	if len(s.waiters) > 0 {
		w := heap.Pop(&s.waiters).(*waiter)
		close(w.ready)
		return
	}
	s.free++
}
