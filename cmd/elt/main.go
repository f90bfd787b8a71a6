// Command elt turns dbt, Sling and dlt metadata into one asset graph and
// materializes it. See README.md for a tour.
package main

import (
	"os"
	"runtime/debug"

	"github.com/eltproject/elt/process"
)

func main() {
	// First: a re-executed elt that supervises a step's process does only
	// that (see package process).
	process.Main()
	// Loading a large dbt manifest allocates in bursts; a lazier collector
	// saves ~20% CPU there for a peak still far below 200 MB. GOGC wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
