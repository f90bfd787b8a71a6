package dlt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockPoll is how often a waiting run retries the pipeline lock.
const lockPoll = 200 * time.Millisecond

// lockPipeline takes an exclusive lock on the pipeline name, so that two
// elt processes (a schedule daemon and a manual run) never run the same
// dlt pipeline at once: dlt corrupts its working folder when they do. The
// lock file sits beside the pipeline folders, not inside one. It waits
// until the lock is free or ctx ends; logf is told once that it waits.
func lockPipeline(ctx context.Context, pipelinesDir, name string, logf func(string)) (unlock func(), err error) {
	if err := os.MkdirAll(pipelinesDir, 0o755); err != nil {
		return nil, fmt.Errorf("create pipelines folder: %w", err)
	}
	path := filepath.Join(pipelinesDir, "."+name+".elt-lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open pipeline lock: %w", err)
	}
	fd := int(f.Fd())
	waited := false
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(fd, syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !waited {
			waited = true
			logf(fmt.Sprintf("waiting for another run of dlt pipeline %s to finish (lock %s)", name, path))
		}
		t := time.NewTimer(lockPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			_ = f.Close()
			return nil, context.Cause(ctx)
		case <-t.C:
		}
	}
}
