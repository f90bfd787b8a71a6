package lineage

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

const (
	defaultHTTPTimeout = 5 * time.Second
	// DefaultQueue is how many events wait for the transport before new
	// ones are dropped.
	DefaultQueue = 4096
	// DefaultFlush is how long Close waits for queued events.
	DefaultFlush = 5 * time.Second
)

// Emitter sends events in the background: Emit never blocks the run. A
// bounded queue is drained by one goroutine; failed HTTP sends are retried
// with backoff; when the receiver is down one warning is given and the
// run goes on.
type Emitter struct {
	t       Transport
	q       chan []byte
	warn    func(string)
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
	mu      sync.RWMutex // guards closed against Close closing q
	closed  bool
	warned  atomic.Bool
	sent    atomic.Int64
	dropped atomic.Int64
	failed  atomic.Int64
	// Retries and Backoff of a failed send (first retry after Backoff,
	// doubling).
	retries int
	backoff time.Duration
	down    bool // only touched by the drain goroutine
	where   string
	redact  func(string) string
}

// EmitterOptions tune an Emitter; zero values take the defaults.
type EmitterOptions struct {
	Queue   int
	Retries int
	Backoff time.Duration
	// Warn receives the one warning about an unreachable receiver (and a
	// summary of dropped events at Close). Never the api key.
	Warn func(string)
	// Where names the receiver in warnings.
	Where string
	// Redact, when set, hides secrets in every serialized event (an event
	// that redaction leaves invalid is dropped rather than sent).
	Redact func(string) string
}

// NewEmitter starts an emitter over t.
func NewEmitter(t Transport, o EmitterOptions) *Emitter {
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.Retries <= 0 {
		o.Retries = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.Warn == nil {
		o.Warn = func(string) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Emitter{t: t, q: make(chan []byte, o.Queue), warn: o.Warn, ctx: ctx, cancel: cancel,
		done: make(chan struct{}), retries: o.Retries, backoff: o.Backoff, where: o.Where, redact: o.Redact}
	go e.drain()
	return e
}

// Emit queues one event (any JSON-serializable OpenLineage event). It
// never blocks: when the queue is full the event is dropped and counted.
func (e *Emitter) Emit(ev any) {
	b, err := json.Marshal(ev)
	if err != nil {
		e.failed.Add(1)
		return
	}
	if e.redact != nil {
		if r := e.redact(string(b)); r != string(b) {
			if !json.Valid([]byte(r)) {
				e.failed.Add(1)
				return
			}
			b = []byte(r)
		}
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		e.dropped.Add(1)
		return
	}
	select {
	case e.q <- b:
	default:
		e.dropped.Add(1)
		e.warnOnce(fmt.Sprintf("openlineage: the event queue is full (%d events); dropping events, the run goes on", cap(e.q)))
	}
}

func (e *Emitter) drain() {
	defer close(e.done)
	for b := range e.q {
		e.send(b)
	}
}

func (e *Emitter) send(b []byte) {
	delay := e.backoff
	tries := e.retries + 1
	if e.down {
		// Once the receiver has failed, try each event once until it
		// answers again, so a dead receiver does not hold the queue.
		tries = 1
	}
	for i := 0; i < tries; i++ {
		if e.ctx.Err() != nil {
			e.failed.Add(1)
			return
		}
		err := e.t.Send(e.ctx, b)
		if err == nil {
			e.sent.Add(1)
			e.down = false
			return
		}
		if !e.t.Retryable(err) || i == tries-1 {
			e.failed.Add(1)
			e.down = true
			e.warnOnce(fmt.Sprintf("openlineage: cannot send events to %s: %v; lineage events are dropped, the run goes on", e.where, err))
			return
		}
		select {
		case <-time.After(delay):
		case <-e.ctx.Done():
		}
		delay *= 2
	}
}

func (e *Emitter) warnOnce(msg string) {
	if e.warned.CompareAndSwap(false, true) {
		e.warn(msg)
	}
}

// Close stops accepting events and waits up to timeout for the queue to
// drain; what is still queued then is dropped. It returns how many events
// were sent and how many were lost.
func (e *Emitter) Close(timeout time.Duration) (sent, lost int64) {
	e.once.Do(func() {
		e.mu.Lock()
		e.closed = true
		close(e.q)
		e.mu.Unlock()
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-e.done:
		case <-t.C:
			e.cancel()
			<-e.done
		}
		e.cancel()
		_ = e.t.Close()
		if n := e.dropped.Load() + e.failed.Load(); n > 0 && !e.warned.Load() {
			e.warn(fmt.Sprintf("openlineage: %d events were not sent to %s", n, e.where))
		}
	})
	return e.sent.Load(), e.dropped.Load() + e.failed.Load()
}
