package schedule

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and waits. The daemon and the backfiller use it
// instead of the time package so that tests can drive them.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// After calls time.After.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// FakeClock is a Clock for tests: time stands still until Advance or Set
// moves it, which fires every After channel whose deadline has passed.
type FakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	changed chan struct{} // closed and replaced whenever waiters change
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

// NewFakeClock returns a FakeClock set to now.
func NewFakeClock(now time.Time) *FakeClock {
	return &FakeClock{now: now, changed: make(chan struct{})}
}

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that fires when the fake time reaches Now()+d.
// A non-positive d fires at once.
func (c *FakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	at := c.now.Add(d)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: at, ch: ch})
	c.notify()
	return ch
}

// Advance moves the fake time forward by d and fires due waiters.
func (c *FakeClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Set moves the fake time to t (never backwards) and fires due waiters in
// deadline order.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
	sort.SliceStable(c.waiters, func(i, j int) bool { return c.waiters[i].at.Before(c.waiters[j].at) })
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
			continue
		}
		keep = append(keep, w)
	}
	c.waiters = keep
	c.notify()
}

// Waiters returns how many After channels have not fired yet.
func (c *FakeClock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// WaitForWaiters blocks until at least n After channels are pending or
// done is closed; it lets a test advance time only once the goroutine
// under test is asleep. It reports whether n waiters were seen.
func (c *FakeClock) WaitForWaiters(n int, done <-chan struct{}) bool {
	for {
		c.mu.Lock()
		have, ch := len(c.waiters), c.changed
		c.mu.Unlock()
		if have >= n {
			return true
		}
		select {
		case <-ch:
		case <-done:
			return false
		}
	}
}

func (c *FakeClock) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}
