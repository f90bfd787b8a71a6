package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/internal/toolpath"
	"github.com/eltproject/elt/project"
)

type selectFlags struct {
	selects, excludes []string
	job               string
	selector          string // dbt's --selector
}

func (s *selectFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&s.selects, "select", "s", nil, "assets to include (dbt grammar: key, glob, +x, x+, @x, tag:, group:, kind:, owner:, key:, state:, and dbt's path:, resource_type:, config.<key>:, source:, fqn:, test_type:, test_name:, package:, exposure:)")
	cmd.Flags().StringArrayVar(&s.excludes, "exclude", nil, "assets to leave out (same grammar)")
	cmd.Flags().StringVar(&s.job, "job", "", "use a job's selection from elt.yaml")
	cmd.Flags().StringVar(&s.selector, "selector", "", "use a selector of the dbt project's selectors.yml")
}

func (s *selectFlags) eval(p *project.Project) (asset.Set, error) {
	if s.selector != "" {
		if len(s.selects) > 0 || s.job != "" {
			return asset.Set{}, usagef("--selector takes the place of --select and --job; drop them")
		}
		return p.SelectDBTSelector(s.selector, s.excludes)
	}
	return p.Select(s.job, s.selects, s.excludes)
}

// load is the start of every command that shows a selection: check -o
// (when output is not nil), load the project, evaluate the selection.
func (s *selectFlags) load(cmd *cobra.Command, e *env, output *string) (*project.Project, asset.Set, error) {
	return s.loadMode(cmd, e, output, false)
}

// loadReadOnly is load for commands that run no step (see env.loadReadOnly).
func (s *selectFlags) loadReadOnly(cmd *cobra.Command, e *env, output *string) (*project.Project, asset.Set, error) {
	return s.loadMode(cmd, e, output, true)
}

func (s *selectFlags) loadMode(cmd *cobra.Command, e *env, output *string, readOnly bool) (*project.Project, asset.Set, error) {
	if output != nil {
		if err := checkOutput(*output); err != nil {
			return nil, asset.Set{}, err
		}
	}
	p, err := e.loadProject(cmd.Context(), readOnly)
	if err != nil {
		return nil, asset.Set{}, err
	}
	set, err := s.eval(p)
	if err != nil {
		return nil, asset.Set{}, err
	}
	return p, set, nil
}

func newValidateCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Load the project and report every problem (exit 2 if any)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := e.load(cmd.Context())
			if err != nil {
				return err
			}
			n, ext := 0, 0
			for _, s := range p.Graph.Specs() {
				if s.External {
					ext++
				} else {
					n++
				}
			}
			fmt.Fprintf(e.stdout, "%s: ok (%d assets, %d external, %d jobs)\n", p.File, n, ext, len(p.Jobs))
			renderTools(e.stdout, p.Tools)
			notes, err := p.DBTLeftOutTests(cmd.Context())
			if err != nil {
				return err
			}
			for _, n := range notes {
				fmt.Fprintln(e.stdout, n)
			}
			return nil
		},
	}
}

// assetJSON is the `elt assets list -o json` contract.
type assetJSON struct {
	Key         asset.Key      `json:"key"`
	Deps        []asset.Key    `json:"deps"`
	Kinds       []string       `json:"kinds"`
	Group       string         `json:"group"`
	Owners      []string       `json:"owners"`
	Tags        []string       `json:"tags"`
	Checks      []checkJSON    `json:"checks"`
	External    bool           `json:"external"`
	Description string         `json:"description,omitempty"`
	Partitions  string         `json:"partitions,omitempty"`
	Step        string         `json:"step,omitempty"`
	Origin      string         `json:"origin,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
}

type checkJSON struct {
	Name     string `json:"name"`
	Blocking bool   `json:"blocking"`
	Severity string `json:"severity,omitempty"`
}

func toAssetJSON(s *asset.Spec, withMeta bool) assetJSON {
	a := assetJSON{Key: s.Key, Deps: nonNilKeys(s.Deps), Kinds: nonNil(s.Kinds), Group: s.Group, Owners: nonNil(s.Owners),
		Tags: nonNil(s.Tags), External: s.External, Description: s.Description, Partitions: s.Partitions, Step: s.Step, Origin: s.Origin}
	a.Checks = []checkJSON{}
	for _, c := range s.Checks {
		a.Checks = append(a.Checks, checkJSON{Name: c.Name, Blocking: c.Blocking, Severity: c.Severity})
	}
	if withMeta {
		a.Metadata = s.Metadata
	}
	return a
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilKeys(s []asset.Key) []asset.Key {
	if s == nil {
		return []asset.Key{}
	}
	return s
}

func newAssetsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "assets", Short: "List, graph and inspect assets"}
	cmd.AddCommand(newAssetsListCmd(e), newAssetsGraphCmd(e), newAssetsStatusCmd(e))
	return cmd
}

func newAssetsListCmd(e *env) *cobra.Command {
	var sel selectFlags
	var output string
	var metadata bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List assets (selection applies)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, set, err := sel.loadReadOnly(cmd, e, &output)
			if err != nil {
				return err
			}
			specs := p.Graph.SetSpecs(set)
			if output == "json" {
				out := make([]assetJSON, 0, len(specs))
				for _, s := range specs {
					out = append(out, toAssetJSON(s, metadata))
				}
				return e.printJSON(out)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tKINDS\tGROUP\tDEPS\tCHECKS\tTAGS")
			for _, s := range specs {
				key := s.Key.String()
				if s.External {
					key += " (external)"
				}
				checks := make([]string, 0, len(s.Checks))
				for _, c := range s.Checks {
					n := c.Name
					if c.Blocking {
						n += "!"
					}
					checks = append(checks, n)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", key, strings.Join(s.Kinds, ","), dash(s.Group), len(s.Deps), dash(strings.Join(checks, ",")), dash(strings.Join(s.Tags, ",")))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if e.isTTY() {
				fmt.Fprintf(e.stdout, "%d assets (checks marked ! are blocking)\n", len(specs))
			}
			return nil
		},
	}
	sel.add(cmd)
	outputFlag(cmd, &output)
	cmd.Flags().BoolVar(&metadata, "metadata", false, "include each asset's metadata in JSON output")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newAssetsGraphCmd(e *env) *cobra.Command {
	var sel selectFlags
	var format string
	cmd := &cobra.Command{
		Use:   "graph",
		Short: "Print the asset graph as mermaid, dot or json",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, set, err := sel.load(cmd, e, nil)
			if err != nil {
				return err
			}
			specs := p.Graph.SetSpecs(set)
			switch format {
			case "mermaid":
				return writeMermaid(e.stdout, p.Graph, set, specs)
			case "dot":
				return writeDot(e.stdout, p.Graph, set, specs)
			case "json":
				type edge struct {
					From asset.Key `json:"from"`
					To   asset.Key `json:"to"`
				}
				out := struct {
					Nodes []assetJSON `json:"nodes"`
					Edges []edge      `json:"edges"`
				}{Nodes: []assetJSON{}, Edges: []edge{}}
				for _, s := range specs {
					out.Nodes = append(out.Nodes, toAssetJSON(s, false))
					for _, d := range p.Graph.DirectDeps(s.Key) {
						if p.Graph.Contains(set, d) {
							out.Edges = append(out.Edges, edge{From: d, To: s.Key})
						}
					}
				}
				return e.printJSON(out)
			}
			return usagef("--format must be mermaid, dot or json, not %q", format)
		},
	}
	sel.add(cmd)
	cmd.Flags().StringVar(&format, "format", "mermaid", "mermaid, dot or json")
	return cmd
}

func nodeIDs(specs []*asset.Spec) map[asset.Key]string {
	ids := make(map[asset.Key]string, len(specs))
	for i, s := range specs {
		ids[s.Key] = fmt.Sprintf("n%d", i)
	}
	return ids
}

func writeMermaid(w interface{ Write([]byte) (int, error) }, g *asset.Graph, set asset.Set, specs []*asset.Spec) error {
	ids := nodeIDs(specs)
	var b strings.Builder
	b.WriteString("graph LR\n")
	groups := map[string][]*asset.Spec{}
	for _, s := range specs {
		groups[s.Group] = append(groups[s.Group], s)
	}
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, gname := range names {
		indent := "  "
		if gname != "" {
			fmt.Fprintf(&b, "  subgraph %s[\"%s\"]\n", "g_"+safeMermaid(gname), gname)
			indent = "    "
		}
		for _, s := range groups[gname] {
			label := strings.ReplaceAll(s.Key.String(), `"`, "'")
			if s.External {
				fmt.Fprintf(&b, "%s%s([\"%s\"])\n", indent, ids[s.Key], label)
			} else {
				fmt.Fprintf(&b, "%s%s[\"%s\"]\n", indent, ids[s.Key], label)
			}
		}
		if gname != "" {
			b.WriteString("  end\n")
		}
	}
	for _, s := range specs {
		for _, d := range g.DirectDeps(s.Key) {
			if g.Contains(set, d) {
				fmt.Fprintf(&b, "  %s --> %s\n", ids[d], ids[s.Key])
			}
		}
	}
	_, err := w.Write([]byte(b.String()))
	return err
}

func safeMermaid(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func writeDot(w interface{ Write([]byte) (int, error) }, g *asset.Graph, set asset.Set, specs []*asset.Spec) error {
	var b strings.Builder
	b.WriteString("digraph assets {\n  rankdir=LR;\n  node [shape=box];\n")
	for _, s := range specs {
		attrs := ""
		if s.External {
			attrs = ", style=dashed"
		}
		fmt.Fprintf(&b, "  %q [label=%q%s];\n", s.Key.String(), s.Key.String(), attrs)
	}
	for _, s := range specs {
		for _, d := range g.DirectDeps(s.Key) {
			if g.Contains(set, d) {
				fmt.Fprintf(&b, "  %q -> %q;\n", d.String(), s.Key.String())
			}
		}
	}
	b.WriteString("}\n")
	_, err := w.Write([]byte(b.String()))
	return err
}

// renderTools says which program each integration will start, and from where.
func renderTools(w io.Writer, tools []toolpath.Tool) {
	seen := map[toolpath.Tool]bool{}
	for _, t := range tools {
		if seen[t] {
			continue
		}
		seen[t] = true
		line := fmt.Sprintf("  %-7s %s (%s)", t.Name, t.Path, t.Source)
		if v := t.Version(); v != "" {
			line += " " + v
		}
		fmt.Fprintln(w, line)
	}
}
