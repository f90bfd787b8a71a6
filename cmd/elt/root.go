package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/eltproject/elt/project"
	"github.com/eltproject/elt/store"
)

// Version is set at build time with -ldflags "-X main.Version=…".
var Version = "dev"

// env is what every command shares: streams and global flags.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	projectFlag    string
	stateDir       string
	noColor        bool
	interrupts     interrupts
}

// isTTY reports whether stdout is a terminal.
func (e *env) isTTY() bool {
	f, ok := e.stdoutFile()
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// color reports whether to use ANSI colours.
func (e *env) color() bool {
	return !e.noColor && os.Getenv("NO_COLOR") == "" && e.isTTY() && os.Getenv("TERM") != "dumb"
}

// load finds and loads the project; an unset ${VAR} is an error.
func (e *env) load(ctx context.Context) (*project.Project, error) {
	return e.loadProject(ctx, false)
}

// loadReadOnly loads the project for a command that runs no step: a value
// with an unset ${VAR} (a secret only steps need) is left as written.
func (e *env) loadReadOnly(ctx context.Context) (*project.Project, error) {
	return e.loadProject(ctx, true)
}

func (e *env) loadProject(ctx context.Context, readOnly bool) (*project.Project, error) {
	path, err := project.Resolve(e.projectFlag)
	if err != nil {
		return nil, err
	}
	p, err := project.Load(ctx, path, project.Options{StateDir: e.stateDir, DeferUnset: readOnly})
	if err != nil {
		return nil, err
	}
	p.Warn = func(msg string) { fmt.Fprintf(e.stderr, "elt: warning: %s\n", msg) }
	return p, nil
}

// loadWithStore loads the project and opens its run store.
func (e *env) loadWithStore(ctx context.Context) (*project.Project, *store.SQLite, error) {
	return e.openStore(ctx, false)
}

func (e *env) openStore(ctx context.Context, readOnly bool) (*project.Project, *store.SQLite, error) {
	p, err := e.loadProject(ctx, readOnly)
	if err != nil {
		return nil, nil, err
	}
	st, err := p.OpenStore(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("open run store: %w", err)
	}
	return p, st, nil
}

// outputFlag adds -o table|json.
func outputFlag(cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVarP(dst, "output", "o", "table", "output format: table or json")
}

func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return usagef("--output must be table or json, not %q", o)
	}
	return nil
}

func newRootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "elt",
		Short: "Materialize dbt, Sling, dlt and command assets as one graph",
		Long: `elt turns dbt's manifest.json, Sling replication files, dlt pipelines, SQL
and command assets into one asset graph, and materializes any selection of it
in dependency order, in parallel, with retries, timeouts, checks, logs,
schedules, partitions, backfills and sensors.

Exit codes: 0 ok, 1 a step or blocking check failed, 2 bad usage or project,
3 internal error, 130 interrupted.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetIn(e.stdin)
	pf := root.PersistentFlags()
	pf.StringVarP(&e.projectFlag, "project", "C", "", "project folder or elt.yaml (default: nearest elt.yaml upward)")
	pf.StringVar(&e.stateDir, "state", "", "folder with a previous dbt manifest.json, enabling state:modified and state:new selection")
	pf.BoolVar(&e.noColor, "no-color", false, "disable colour (also NO_COLOR)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{err} })
	root.AddCommand(
		newValidateCmd(e),
		newAssetsCmd(e),
		newPlanCmd(e),
		newRunCmd(e),
		newRunsCmd(e),
		newCheckCmd(e),
		newVersionCmd(e),
		newLineageCmd(e),
	)
	addLaterCommands(root, e)
	rejectUnknownSubcommands(root)
	return root
}

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print elt's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(e.stdout, "elt %s\n", version())
			return nil
		},
	}
}

// withStore is the RunE of a command that needs the project and its run
// store: it checks -o (when output is not nil), loads both, calls fn and
// closes the store.
func (e *env) withStore(output *string, fn storeFunc) func(*cobra.Command, []string) error {
	return e.withStoreMode(output, false, fn)
}

// readOnlyStore is withStore for commands that run no step: the project
// loads with unset ${VAR}s left as written (see loadReadOnly).
func (e *env) readOnlyStore(output *string, fn storeFunc) func(*cobra.Command, []string) error {
	return e.withStoreMode(output, true, fn)
}

type storeFunc = func(ctx context.Context, cmd *cobra.Command, args []string, p *project.Project, st *store.SQLite) error

func (e *env) withStoreMode(output *string, readOnly bool, fn storeFunc) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if output != nil {
			if err := checkOutput(*output); err != nil {
				return err
			}
		}
		ctx := cmd.Context()
		p, st, err := e.openStore(ctx, readOnly)
		if err != nil {
			return err
		}
		defer st.Close()
		return fn(ctx, cmd, args, p, st)
	}
}

// version is Version, or what the Go toolchain recorded: the module
// version for `go install …@v1.2.3`, else the VCS revision.
func version() string {
	if Version != "dev" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Version
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return Version
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return Version + " (" + rev + ")"
}
