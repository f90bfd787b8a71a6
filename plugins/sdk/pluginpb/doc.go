// Package pluginpb is the Go code generated from the elt plugin protocol,
// proto/elt/plugin/v2/plugin.proto (`make proto`). Plugin authors in Go use
// package sdk instead; plugins in other languages generate their own code
// from the .proto.
package pluginpb
