package dlt

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// StateFile is the name of the pipeline state in a pipeline's folder.
const StateFile = "state.json"

// State is a pipeline's state.json (state engine 4, and the legacy engine
// 1 shape that named the destination in one "destination" field).
type State struct {
	EngineVersion     int
	StateVersion      int
	VersionHash       string
	PipelineName      string
	DatasetName       string
	DefaultSchemaName string
	SchemaNames       []string
	// DestinationType is the destination module, such as
	// "dlt.destinations.duckdb"; engine 1's "destination" lands here.
	DestinationType string
	DestinationName string
	StagingType     string
	StagingName     string
	// Incrementals are the incremental cursors of every source's resources,
	// sorted by source, resource and cursor path.
	Incrementals []Incremental
}

// Incremental is one incremental cursor kept in the state under
// sources.<source>.resources.<resource>.incremental.<cursor path>.
type Incremental struct {
	Source     string
	Resource   string
	CursorPath string
	// InitialValue and LastValue are JSON values; dlt's type markers on
	// strings (datetimes, decimals, …) are removed.
	InitialValue any
	LastValue    any
	// UniqueHashes counts the row hashes kept to deduplicate at the cursor.
	UniqueHashes int
}

// Destination returns the short destination type ("duckdb" for
// "dlt.destinations.duckdb"), or "".
func (s *State) Destination() string {
	d := s.DestinationType
	if i := strings.LastIndexByte(d, '.'); i >= 0 {
		d = d[i+1:]
	}
	return d
}

// ResourceIncrementals returns the cursors of one resource.
func (s *State) ResourceIncrementals(source, resource string) []Incremental {
	var out []Incremental
	for _, inc := range s.Incrementals {
		if inc.Source == source && inc.Resource == resource {
			out = append(out, inc)
		}
	}
	return out
}

type rawState struct {
	StateVersion      int                        `json:"_state_version"`
	EngineVersion     int                        `json:"_state_engine_version"`
	VersionHash       string                     `json:"_version_hash"`
	PipelineName      string                     `json:"pipeline_name"`
	DatasetName       string                     `json:"dataset_name"`
	DefaultSchemaName string                     `json:"default_schema_name"`
	SchemaNames       []string                   `json:"schema_names"`
	Destination       string                     `json:"destination"`
	DestinationType   string                     `json:"destination_type"`
	DestinationName   string                     `json:"destination_name"`
	StagingType       string                     `json:"staging_type"`
	StagingName       string                     `json:"staging_name"`
	Sources           map[string]json.RawMessage `json:"sources"`
}

type source struct {
	Resources map[string]json.RawMessage `json:"resources"`
}

type resourceState struct {
	Incremental map[string]json.RawMessage `json:"incremental"`
}

type cursorState struct {
	InitialValue any      `json:"initial_value"`
	LastValue    any      `json:"last_value"`
	UniqueHashes []string `json:"unique_hashes"`
}

// ReadState reads a state.json file.
func ReadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read dlt state: %w", err)
	}
	return ParseState(path, b)
}

// ParseState parses state.json content; name is used in errors. Resource
// state that is not shaped like an incremental cursor is ignored: sources
// may keep anything in their state.
func ParseState(name string, b []byte) (*State, error) {
	var rs rawState
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("%s: not a dlt pipeline state: %w", name, jsonErrLine(err, newLineIndex(b)))
	}
	if rs.EngineVersion < 1 || rs.EngineVersion > 4 {
		return nil, fmt.Errorf("%s: _state_engine_version %d is not one elt reads (1 to 4)", name, rs.EngineVersion)
	}
	st := &State{
		EngineVersion:     rs.EngineVersion,
		StateVersion:      rs.StateVersion,
		VersionHash:       rs.VersionHash,
		PipelineName:      rs.PipelineName,
		DatasetName:       rs.DatasetName,
		DefaultSchemaName: rs.DefaultSchemaName,
		SchemaNames:       rs.SchemaNames,
		DestinationType:   rs.DestinationType,
		DestinationName:   rs.DestinationName,
		StagingType:       rs.StagingType,
		StagingName:       rs.StagingName,
	}
	if st.DestinationType == "" {
		st.DestinationType = rs.Destination
	}
	if st.DestinationName == "" {
		st.DestinationName = st.Destination()
	}
	for srcName, srcRaw := range rs.Sources {
		var src source
		if json.Unmarshal(srcRaw, &src) != nil {
			continue
		}
		for resName, raw := range src.Resources {
			var res resourceState
			if json.Unmarshal(raw, &res) != nil {
				continue
			}
			for cursor, craw := range res.Incremental {
				var c cursorState
				if json.Unmarshal(craw, &c) != nil {
					continue
				}
				st.Incrementals = append(st.Incrementals, Incremental{
					Source:       srcName,
					Resource:     resName,
					CursorPath:   cursor,
					InitialValue: stripTypeMarkers(c.InitialValue),
					LastValue:    stripTypeMarkers(c.LastValue),
					UniqueHashes: len(c.UniqueHashes),
				})
			}
		}
	}
	sort.Slice(st.Incrementals, func(i, j int) bool {
		a, b := st.Incrementals[i], st.Incrementals[j]
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		if a.Resource != b.Resource {
			return a.Resource < b.Resource
		}
		return a.CursorPath < b.CursorPath
	})
	return st, nil
}

// dlt writes state with typed JSON: a string whose first rune is in
// U+F026..U+F02D carries a type (decimal, datetime, date, uuid, hex bytes,
// base64 bytes, wei, time) followed by its text form.
const (
	firstTypeMarker = '\uF026'
	lastTypeMarker  = '\uF02D'
)

func stripTypeMarkers(v any) any {
	switch x := v.(type) {
	case string:
		for i, r := range x {
			if i == 0 && r >= firstTypeMarker && r <= lastTypeMarker && len(x) > len(string(r)) {
				return x[len(string(r)):]
			}
			break
		}
		return x
	case []any:
		for i := range x {
			x[i] = stripTypeMarkers(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = stripTypeMarkers(x[k])
		}
		return x
	}
	return v
}
