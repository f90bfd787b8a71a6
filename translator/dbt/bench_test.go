package dbt

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/eltproject/elt/asset"
	dbtmanifest "github.com/eltproject/elt/manifest/dbt"
	"github.com/eltproject/elt/manifest/dbt/dbtgen"
)

// BenchmarkLoadTranslateSelect reads a generated manifest of 10,000 models
// and 20,000 tests (about 140 MB), translates it, builds the asset graph
// and evaluates "+model_5000+". The manifest is generated into a temp dir
// unless ELT_DBT_BENCH_MANIFEST names one already generated. Besides ns/op
// and B/op it reports peak-RSS-MB: the process's resident high-water mark
// during the timed loop (Linux only).
func BenchmarkLoadTranslateSelect(b *testing.B) {
	path := os.Getenv("ELT_DBT_BENCH_MANIFEST")
	if path == "" {
		path = filepath.Join(b.TempDir(), "manifest.json")
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := dbtgen.Generate(f, dbtgen.Options{}); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	b.ReportAllocs()
	b.ResetTimer()
	var selected int
	for b.Loop() {
		m, err := dbtmanifest.ReadManifest(path)
		if err != nil {
			b.Fatal(err)
		}
		specs, err := Translate(m, Options{Family: "dbt:" + m.ProjectName})
		if err != nil {
			b.Fatal(err)
		}
		g, err := asset.NewGraph(specs, asset.GraphOptions{})
		if err != nil {
			b.Fatal(err)
		}
		sel := asset.Selector{Graph: g}
		set, err := sel.Select([]string{"+" + dbtgen.ModelName(5000) + "+"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		selected = set.Len()
	}
	b.StopTimer()
	b.ReportMetric(float64(selected), "selected")
	if st, err := os.Stat(path); err == nil {
		b.ReportMetric(float64(st.Size())/1e6, "manifest-MB")
	}
	if peak := peakRSS(); peak > 0 {
		b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MB")
	}
}

// resetPeakRSS resets the kernel's resident high-water mark of this
// process, so peakRSS measures from here on.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS returns VmHWM in bytes, or 0 when unavailable.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
