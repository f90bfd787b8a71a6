package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/store"
)

// interrupts turns the first SIGINT or SIGTERM into the cancellation of
// ctx (steps get SIGTERM and their grace period) and the second into an
// immediate stop: the abort hook records what is running as canceled and
// ends its processes, then elt exits with 130.
type interrupts struct {
	mu    sync.Mutex
	abort func()
}

// setAbort sets what a second interrupt does before elt exits.
func (in *interrupts) setAbort(f func()) {
	in.mu.Lock()
	in.abort = f
	in.mu.Unlock()
}

// watch listens for interrupts until the returned stop is called.
func (in *interrupts) watch(cancel context.CancelCauseFunc, stderr io.Writer) (stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			cancel(fmt.Errorf("%v signal received", s))
		case <-done:
			return
		}
		select {
		case <-sigs:
		case <-done:
			return
		}
		fmt.Fprintln(stderr, "elt: interrupted again: stopping now")
		in.mu.Lock()
		abort := in.abort
		in.mu.Unlock()
		if abort != nil {
			abort()
		}
		os.Exit(exitInterrupted)
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// abortRun is the abort hook of a run: its running steps and the run end
// as canceled (their processes killed first, so that the freed locks
// guard nothing still running), within a couple of seconds at most.
func abortRun(st *store.SQLite, runID string) func() {
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = st.AbortRun(ctx, runID, engine.StatusCanceled, "elt was interrupted twice and stopped at once")
	}
}
