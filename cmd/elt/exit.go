package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/project"
	"github.com/eltproject/elt/store"
)

// Exit codes. One place maps errors to them: exitCode.
const (
	exitOK          = 0
	exitFailed      = 1 // a step or blocking check failed
	exitUsage       = 2 // bad usage, bad project, bad input file
	exitInternal    = 3 // elt itself could not work (store, disk)
	exitInterrupted = 130
)

// usageError marks errors the user caused with flags or arguments.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// runFailed is returned by commands whose run finished with failures; the
// summary has already been printed.
type runFailed struct{ canceled bool }

func (e *runFailed) Error() string {
	if e.canceled {
		return "run canceled"
	}
	return "run failed"
}

// failedError is a failure of something elt ran for the user (dbt deps,
// a sensor command): exit 1, with its message.
type failedError struct{ err error }

func (e *failedError) Error() string { return e.err.Error() }
func (e *failedError) Unwrap() error { return e.err }

// silentError carries an exit code with nothing more to print.
type silentError struct{ code int }

func (e *silentError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var rf *runFailed
	if errors.As(err, &rf) {
		if rf.canceled {
			return exitInterrupted
		}
		return exitFailed
	}
	var se *silentError
	if errors.As(err, &se) {
		return se.code
	}
	var fe *failedError
	if errors.As(err, &fe) {
		return exitFailed
	}
	if errors.Is(err, context.Canceled) {
		return exitInterrupted
	}
	var swe *store.WriteError
	var lwe *engine.WriteError
	if errors.As(err, &swe) || errors.As(err, &lwe) {
		return exitInternal // the disk, not the user: path and OS error printed
	}
	var ue *usageError
	var pe *project.Error
	var syn *asset.SyntaxError
	var nm *asset.NoMatchError
	var re *project.RunError
	switch {
	case errors.As(err, &re):
		return exitFailed
	case errors.As(err, &ue), errors.As(err, &pe), errors.As(err, &syn), errors.As(err, &nm):
		return exitUsage
	}
	if isCobraUsage(err) {
		return exitUsage
	}
	return exitInternal
}

// rejectUnknownSubcommands makes every command group (a command with
// subcommands and no action of its own) fail on an argument that names no
// subcommand, as the root command does: "unknown command" with the
// nearest matches, exit 2. Without this, cobra prints the group's help and
// exits 0, and a script takes a typo for success. A group called with no
// argument still prints its help.
func rejectUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		rejectUnknownSubcommands(sub)
	}
	if !c.HasSubCommands() || c.Runnable() || c == c.Root() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[groupAnnotation] = "true"
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		return unknownCommand(c, args[0])
	}
}

// groupAnnotation marks the command groups rejectUnknownSubcommands changed.
const groupAnnotation = "elt-group"

// unknownCommand is the error for a subcommand that does not exist: it
// names cobra's suggestions, or else every subcommand of the group.
func unknownCommand(c *cobra.Command, typed string) error {
	msg := fmt.Sprintf("unknown command %q for %q", typed, c.CommandPath())
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default, set only on the root's path
	}
	if sug := c.SuggestionsFor(typed); len(sug) > 0 {
		return usagef("%s; did you mean %s?", msg, strings.Join(sug, " or "))
	}
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return usagef("%s; its commands are: %s", msg, strings.Join(names, ", "))
}

// isCobraUsage recognises cobra's own flag and argument errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand flag", "unknown command", "flag needs an argument",
		"invalid argument", "accepts ", "requires at least", "requires at most", "required flag", "if any flags in the group"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// Main runs the CLI and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	stop := e.interrupts.watch(cancel, stderr)
	defer stop()
	out := newStdout(stdout)
	e.stdout = out
	root := newRootCmd(e)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	flushOut(out)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	var rf *runFailed
	var se *silentError
	if !errors.As(err, &rf) && !errors.As(err, &se) {
		fmt.Fprintf(stderr, "elt: %v\n", err)
		if code == exitUsage && isCobraUsage(err) {
			fmt.Fprintln(stderr, "Run 'elt --help' for usage.")
		}
	}
	return code
}
