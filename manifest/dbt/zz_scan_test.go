package dbt

import (
	"os"
	"testing"
)

func BenchmarkZZSkip(b *testing.B) {
	data, _ := os.ReadFile("/tmp/bench_manifest.json")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s := newBytesScanner(data, "x")
		if err := s.skip(); err != nil {
			b.Fatal(err)
		}
	}
}
