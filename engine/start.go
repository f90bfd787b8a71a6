package engine

import (
	"context"
	"sync"
	"time"
)

// startDelay is how long a step's start waits to be recorded and shown.
// A step that ends sooner, having said nothing, has its start made durable
// in the same commit as its end: one commit per step instead of two, for
// the many short steps of a large run. Nothing is shown before it is
// durable: a step shown as started is stored as started, and a step whose
// start was folded is shown only at its end.
const startDelay = 100 * time.Millisecond

// pendingStart is a step attempt's step_started event, held back until
// the attempt says something, startDelay passes or the attempt ends.
type pendingStart struct {
	x     *execution
	ctx   context.Context
	ev    Event
	mu    sync.Mutex
	done  bool // recorded, or handed over to the end's commit
	timer *time.Timer
}

// deferStart holds ev (a step_started event, stamped now) back.
func (x *execution) deferStart(ctx context.Context, ev Event) *pendingStart {
	ev.Time = x.e.now()
	p := &pendingStart{x: x, ctx: ctx, ev: ev}
	p.mu.Lock()
	p.timer = time.AfterFunc(startDelay, p.flush)
	p.mu.Unlock()
	return p
}

// flush records and shows the start now, unless that happened already.
// Every other event of the attempt calls it first, so the start always
// comes first.
func (p *pendingStart) flush() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	p.done = true
	p.timer.Stop()
	p.x.emit(p.ctx, p.ev)
}

// take hands the start over to the caller, who records it in the commit
// of the attempt's end; it returns nothing when the start was recorded
// already.
func (p *pendingStart) take() []Event {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return nil
	}
	p.done = true
	p.timer.Stop()
	return []Event{p.ev}
}
