// Package lineage reports elt's runs, steps and datasets to catalogs that
// speak OpenLineage (Marquez, DataHub, OpenMetadata, ...): it turns engine
// events into OpenLineage RunEvents, derives column-level lineage from SQL
// with DuckDB's own parser, and sends the events through a bounded,
// non-blocking emitter (HTTP, file or console transport).
package lineage

import (
	"time"
)

// Producer identifies elt in every event and facet.
const Producer = "https://github.com/eltproject/elt"

// SchemaURL is the OpenLineage core schema the events follow.
const SchemaURL = "https://openlineage.io/spec/2-0-2/OpenLineage.json"

// facetSchema maps a facet to its schema URL (the versions of the facet
// schemas in the OpenLineage spec the events are validated against).
var facetSchema = map[string]string{
	"parent":                "1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet",
	"errorMessage":          "1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
	"nominalTime":           "1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet",
	"executionParameters":   "1-0-0/ExecutionParametersRunFacet.json#/$defs/ExecutionParametersRunFacet",
	"processing_engine":     "1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet",
	"jobType":               "2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
	"sql":                   "1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet",
	"sourceCodeLocation":    "1-1-0/SourceCodeLocationJobFacet.json#/$defs/SourceCodeLocationJobFacet",
	"jobOwnership":          "1-0-1/OwnershipJobFacet.json#/$defs/OwnershipJobFacet",
	"jobDocumentation":      "1-1-0/DocumentationJobFacet.json#/$defs/DocumentationJobFacet",
	"schema":                "1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
	"dataSource":            "1-0-1/DatasourceDatasetFacet.json#/$defs/DatasourceDatasetFacet",
	"columnLineage":         "1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
	"outputStatistics":      "1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet",
	"dataQualityAssertions": "1-1-0/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet",
	"datasetOwnership":      "1-0-1/OwnershipDatasetFacet.json#/$defs/OwnershipDatasetFacet",
	"datasetDocumentation":  "1-1-0/DocumentationDatasetFacet.json#/$defs/DocumentationDatasetFacet",
}

// Facet is one facet: its fields plus _producer and _schemaURL.
type Facet map[string]any

// newFacet makes a facet of the given kind (a key of facetSchema).
func newFacet(kind string, fields map[string]any) Facet {
	f := Facet{"_producer": Producer, "_schemaURL": "https://openlineage.io/spec/facets/" + facetSchema[kind]}
	for k, v := range fields {
		f[k] = v
	}
	return f
}

// Facets is a set of facets by name.
type Facets map[string]Facet

// RunEvent is an OpenLineage RunEvent.
type RunEvent struct {
	EventType string    `json:"eventType"`
	EventTime time.Time `json:"eventTime"`
	Run       Run       `json:"run"`
	Job       Job       `json:"job"`
	Inputs    []Dataset `json:"inputs,omitempty"`
	Outputs   []Dataset `json:"outputs,omitempty"`
	Producer  string    `json:"producer"`
	SchemaURL string    `json:"schemaURL"`
}

// JobEvent is an OpenLineage JobEvent: a job and its datasets, no run.
type JobEvent struct {
	EventTime time.Time `json:"eventTime"`
	Job       Job       `json:"job"`
	Inputs    []Dataset `json:"inputs,omitempty"`
	Outputs   []Dataset `json:"outputs,omitempty"`
	Producer  string    `json:"producer"`
	SchemaURL string    `json:"schemaURL"`
}

// DatasetEvent is an OpenLineage DatasetEvent: one dataset's metadata.
type DatasetEvent struct {
	EventTime time.Time `json:"eventTime"`
	Dataset   Dataset   `json:"dataset"`
	Producer  string    `json:"producer"`
	SchemaURL string    `json:"schemaURL"`
}

// Run identifies one run.
type Run struct {
	RunID  string `json:"runId"`
	Facets Facets `json:"facets,omitempty"`
}

// Job identifies one job.
type Job struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Facets    Facets `json:"facets,omitempty"`
}

// Dataset is an input or output dataset.
type Dataset struct {
	Namespace    string `json:"namespace"`
	Name         string `json:"name"`
	Facets       Facets `json:"facets,omitempty"`
	InputFacets  Facets `json:"inputFacets,omitempty"`
	OutputFacets Facets `json:"outputFacets,omitempty"`
}

// Event types of RunEvent.
const (
	Start    = "START"
	Running  = "RUNNING"
	Complete = "COMPLETE"
	Fail     = "FAIL"
	Abort    = "ABORT"
)
