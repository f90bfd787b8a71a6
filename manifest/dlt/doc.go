// Package dlt reads what a dlt pipeline leaves in its working folder
// (<pipelines dir>/<name>/): state.json (state engine 4 and the legacy
// engine 1 shape), the stored schemas (schemas/<name>.schema.json, schema
// engines 4 to 11) and exported .schema.yaml files, and the load info a
// pipeline script reports to elt. It never reads trace.pickle, which is a
// Python pickle.
//
// Tables keep dlt's meaning: a root table has a resource; a nested table
// has a parent and no resource. A "__" in a table name does not make it
// nested (dlt's ethereum example has a root table blocks__transactions).
package dlt
