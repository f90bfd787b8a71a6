package dbt

import (
	"os"
	"runtime"
	"runtime/pprof"
	"testing"

	"github.com/eltproject/elt/asset"
	dbtmanifest "github.com/eltproject/elt/manifest/dbt"
)

func TestZZMem(t *testing.T) {
	if os.Getenv("ZZGEN") == "" {
		t.Skip()
	}
	runtime.MemProfileRate = 4096
	m, err := dbtmanifest.ReadManifest("/tmp/bench_manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("after load: heap %d MB", ms.HeapAlloc>>20)
	specs, _ := Translate(m, Options{})
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("after translate: heap %d MB", ms.HeapAlloc>>20)
	g, _ := asset.NewGraph(specs, asset.GraphOptions{})
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("after graph: heap %d MB", ms.HeapAlloc>>20)
	f, _ := os.Create("/tmp/heap.out")
	pprof.WriteHeapProfile(f)
	f.Close()
	runtime.KeepAlive(m)
	runtime.KeepAlive(g)
}
