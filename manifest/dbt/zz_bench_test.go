package dbt_test

import (
	"os"
	"testing"

	dbtmanifest "github.com/eltproject/elt/manifest/dbt"
	"github.com/eltproject/elt/manifest/dbt/dbtgen"
)

func TestZZGen(t *testing.T) {
	if os.Getenv("ZZGEN") == "" {
		t.Skip()
	}
	f, _ := os.Create("/tmp/bench_manifest.json")
	if err := dbtgen.Generate(f, dbtgen.Options{}); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func BenchmarkReadManifestZZ(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		m, err := dbtmanifest.ReadManifest("/tmp/bench_manifest.json")
		if err != nil {
			b.Fatal(err)
		}
		_ = m
	}
}
