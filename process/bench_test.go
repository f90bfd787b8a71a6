package process

import (
	"context"
	"testing"
)

// BenchmarkRun measures the cost of starting and waiting for a trivial
// program, with and without the supervisor: the difference is the
// per-step overhead of supervision.
func BenchmarkRun(b *testing.B) {
	for _, sup := range []bool{false, true} {
		name := "direct"
		if sup {
			name = "supervised"
		}
		b.Run(name, func(b *testing.B) {
			old := enabled
			enabled = sup && supported
			defer func() { enabled = old }()
			for b.Loop() {
				if _, err := Run(context.Background(), &Proc{Argv: []string{"/bin/true"}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
