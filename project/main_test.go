package project

import (
	"os"
	"testing"

	"github.com/eltproject/elt/process"
)

// TestMain lets the test binary serve as the process supervisor, as the
// elt binary does, so steps run here the way elt runs them
// (ELT_SUPERVISE=0 turns it off, to measure its cost).
func TestMain(m *testing.M) {
	process.Main()
	os.Exit(m.Run())
}
