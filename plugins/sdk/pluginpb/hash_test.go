package pluginpb

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// TestGeneratedCodeIsCurrent fails when plugin.proto changed after the Go
// code was generated: run `make proto`.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "proto", "elt", "plugin", "v2", "plugin.proto"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != ProtoSHA256 {
		t.Errorf("plugin.proto has SHA-256 %s but the Go code was generated from %s; run `make proto` and commit the result", got, ProtoSHA256)
	}
}

// TestServiceName pins the service's full name, which plugins in other
// languages register.
func TestServiceName(t *testing.T) {
	if Plugin_ServiceDesc.ServiceName != "elt.plugin.v2.Plugin" {
		t.Errorf("service %s", Plugin_ServiceDesc.ServiceName)
	}
}
