// Package dbt reads dbt's artifacts: manifest.json (schema v4 to v12) and
// run_results.json (v2 to v6), into typed Go values, and compares two
// manifests the way dbt's state:modified selector does.
//
// Manifests are parsed member by member with gjson from a streamed buffer,
// never unmarshalled whole, so a 140 MB manifest loads in a fraction of a
// second without holding the file in memory.
package dbt

import (
	"fmt"
	"os"
	"slices"
)

// Supported manifest schema versions: v4 to v12 (dbt-core 1.0 and later)
// and v20, which dbt Fusion (the dbt 2.0 engine) writes in the layout of
// v12.
const (
	MinManifestVersion    = 4
	MaxManifestVersion    = 12
	FusionManifestVersion = 20
)

// Manifest is a parsed dbt manifest.json.
type Manifest struct {
	// Name is the file the manifest was read from, for messages.
	Name string
	// SchemaVersion is the N of metadata.dbt_schema_version ".../manifest/vN.json".
	SchemaVersion int
	DbtVersion    string
	// ProjectName is metadata.project_name or, when absent (common in v4–v9),
	// the package of the first model (then ProjectNameGuessed is set: that
	// may be a dependency's package; dbt_project.yml knows better).
	ProjectName        string
	ProjectNameGuessed bool
	AdapterType        string
	GeneratedAt        string
	InvocationID       string

	// Nodes maps unique_id to every node: models, seeds, snapshots, tests,
	// analyses, operations and others.
	Nodes     map[string]*Node
	Sources   map[string]*Source
	Exposures map[string]*Exposure
	// Groups maps a group's unique_id ("group.pkg.name") to the group.
	Groups map[string]*Group
	// Macros maps unique_id to the macro's dependencies and SQL checksum.
	Macros map[string]*Macro
	// Disabled lists the unique_ids of disabled resources, sorted.
	Disabled []string
	// UnitTests maps a dbt unit test's unique_id (manifest v12+) to its
	// fqn: `--select fqn:pkg.model` would pick them up too, so the runner
	// must know them to leave them out.
	UnitTests map[string][]string
	// ParentMap and ChildMap map a unique_id to its parents and children
	// among nodes, sources and exposures. Like dbt, they are derived from
	// depends_on (the file's copies are not read); ParentMap's slices are
	// the nodes' DependsOn.Nodes and must not be modified.
	ParentMap map[string][]string
	ChildMap  map[string][]string
}

// Node is one entry of the manifest's nodes.
type Node struct {
	UniqueID         string
	ResourceType     string // model, seed, snapshot, test, analysis, operation, …
	Name             string
	Alias            string
	Schema           string
	Database         string
	PackageName      string
	Path             string
	OriginalFilePath string
	FQN              []string
	Tags             []string
	Description      string
	Meta             map[string]any // nil when empty
	Config           Config
	DependsOn        DependsOn
	Columns          []Column
	// RawCodeHash digests the text of raw_code (raw_sql in v4–v6), which
	// dbt compares for state:modified.body. The code itself is not kept:
	// it is most of a manifest's size.
	RawCodeHash uint64
	Checksum    Checksum
	// Version and LatestVersion are set for versioned models ("2").
	Version       string
	LatestVersion string
	RelationName  string
	// AttachedNode is the node a generic test tests (v7+; empty otherwise).
	AttachedNode string
	// TestMetadata is set for generic tests.
	TestMetadata *TestMetadata
	// ColumnName is the column a generic test tests, if any.
	ColumnName string
	Group      string
	Contract   Contract
	// Unrendered is the raw JSON of unrendered_config, which dbt compares
	// for state:modified.configs and .relation.
	Unrendered string
}

// Config is the part of a node's config elt uses.
type Config struct {
	Enabled      bool
	Materialized string
	Alias        string
	Schema       string
	Database     string
	Group        string
	Tags         []string
	Meta         map[string]any // nil when empty
	Severity     string         // tests: "ERROR" or "WARN" as written
	// PersistDocs mirrors persist_docs.relation and persist_docs.columns.
	PersistDocs struct{ Relation, Columns bool }
}

// DependsOn lists a node's upstream nodes and macros.
type DependsOn struct {
	Nodes  []string
	Macros []string
}

// Column is a documented column. Its JSON form is {name, type, description}.
type Column struct {
	Name        string `json:"name"`
	DataType    string `json:"type"`
	Description string `json:"description"`
}

// Checksum is a node's file checksum.
type Checksum struct {
	Name     string // "sha256", "path", "none"
	Checksum string
}

// TestMetadata describes a generic test.
type TestMetadata struct {
	Name      string
	Namespace string
	Kwargs    map[string]any
}

// Contract is a model's contract setting.
type Contract struct {
	Enforced bool
	Checksum string
}

// Source is one entry of the manifest's sources.
type Source struct {
	UniqueID         string
	SourceName       string
	Name             string
	Identifier       string
	Schema           string
	Database         string
	PackageName      string
	OriginalFilePath string
	FQN              []string
	RelationName     string
	Meta             map[string]any
	Tags             []string
	Description      string
	Columns          []Column
	Config           SourceConfig
	Unrendered       string
	// stateHash digests quoting, freshness, external and loader for
	// state comparison.
	stateHash uint64
}

// SourceConfig is the part of a source's config elt uses.
type SourceConfig struct {
	Enabled bool
	Meta    map[string]any
	Tags    []string
}

// Exposure is one entry of the manifest's exposures.
type Exposure struct {
	UniqueID         string
	Name             string
	Type             string
	Label            string
	URL              string
	Maturity         string
	Description      string
	OwnerName        string
	OwnerEmail       string
	PackageName      string
	OriginalFilePath string
	FQN              []string
	Tags             []string
	Meta             map[string]any
	DependsOn        DependsOn
	stateHash        uint64
}

// Group is a dbt group with its owner.
type Group struct {
	UniqueID   string
	Name       string
	OwnerName  string
	OwnerEmail string
}

// Macro is the state-relevant part of a macro.
type Macro struct {
	UniqueID    string
	Name        string
	PackageName string
	DependsOn   []string // macros
	// Checksum digests macro_sql; equal SQL gives equal checksums.
	Checksum uint64
}

// GroupByName returns the group with the given name ("finance"), as node
// configs refer to groups by name.
func (m *Manifest) GroupByName(name string) *Group {
	if name == "" {
		return nil
	}
	for _, g := range m.Groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// SortedNodeIDs returns the unique_ids of Nodes in sorted order.
func (m *Manifest) SortedNodeIDs() []string {
	ids := make([]string, 0, len(m.Nodes))
	for id := range m.Nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// SortedSourceIDs returns the unique_ids of Sources in sorted order.
func (m *Manifest) SortedSourceIDs() []string {
	ids := make([]string, 0, len(m.Sources))
	for id := range m.Sources {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// ReadManifest reads and parses the manifest at path, streaming it so that
// the whole file is never held in memory.
func ReadManifest(path string) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read dbt manifest: %w", err)
	}
	defer f.Close()
	return parseManifest(newReaderScanner(f, path))
}

// ParseManifest parses a manifest held in memory; name labels errors.
func ParseManifest(data []byte, name string) (*Manifest, error) {
	return parseManifest(newBytesScanner(data, name))
}
