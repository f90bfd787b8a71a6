package process

import "context"

type startHookKey struct{}

// WithStartHook returns a context under which every process started by
// Run (or reported with Started) calls hook with its process group id —
// the supervisor's, on Linux. The engine uses it to record each step's
// processes in the run store, whichever runner starts them.
func WithStartHook(ctx context.Context, hook func(pgid int)) context.Context {
	return context.WithValue(ctx, startHookKey{}, hook)
}

// Started reports a process started outside Run (a plugin started by
// go-plugin after Supervise) to the hook of ctx, if any.
func Started(ctx context.Context, pgid int) {
	if hook, ok := ctx.Value(startHookKey{}).(func(int)); ok && hook != nil && pgid > 0 {
		hook(pgid)
	}
}

// Served reports whether Start can run programs under the run supervisor.
func Served() bool { return enabled && !noServer && supported }
