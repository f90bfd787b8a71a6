package command

import (
	"os"
	"testing"

	"github.com/eltproject/elt/process"
)

// TestMain lets the test binary serve as the process supervisor, as the
// elt binary does, so these tests run steps the way elt runs them.
func TestMain(m *testing.M) {
	process.Main()
	os.Exit(m.Run())
}
