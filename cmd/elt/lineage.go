package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func newLineageCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "lineage", Short: "OpenLineage: export the graph's lineage"}
	var sel selectFlags
	var out string
	export := &cobra.Command{
		Use:   "export",
		Short: "Write the static lineage of the graph as OpenLineage DatasetEvent/JobEvent JSON lines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, set, err := sel.load(cmd, e, nil)
			if err != nil {
				return err
			}
			w := e.stdout
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			warn := func(msg string) { fmt.Fprintln(e.stderr, "note: "+msg) }
			return p.ExportLineage(cmd.Context(), w, set, warn)
		},
	}
	sel.add(export)
	export.Flags().StringVarP(&out, "output", "o", "", "file to write (default: standard output)")
	cmd.AddCommand(export)
	return cmd
}
