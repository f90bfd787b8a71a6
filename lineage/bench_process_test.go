package lineage_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eltproject/elt/internal/testenv"
)

// eltBinary returns an elt binary for process benchmarks: $ELT_BENCH_BIN
// when set, else one built from this checkout into b's temporary folder
// (removed when b ends).
func eltBinary(b *testing.B) string {
	b.Helper()
	if p := os.Getenv("ELT_BENCH_BIN"); p != "" {
		return p
	}
	bin := filepath.Join(b.TempDir(), "elt")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/elt")
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build ./cmd/elt: %v\n%s", err, out)
	}
	return bin
}

// BenchmarkQuickstartProcessOverhead measures the time an emitting run
// adds to elt itself: each iteration runs the quickstart (plus a join
// asset) as a separate `elt run` process twice, once with OpenLineage over
// HTTP to a receiver in the benchmark process and once without, in
// alternating order, and compares the child's CPU (user+sys from its
// rusage) and wall time. The receiver's CPU is the benchmark's, not the
// child's. Reported: the median and the spread (min, max) of the
// per-pair differences in percent, their quartiles, and the difference of
// the totals. The aa sub-benchmark compares two
// non-emitting copies the same way: its figures are the noise.
func BenchmarkQuickstartProcessOverhead(b *testing.B) {
	bin := eltBinary(b)
	b.Run("lineage", func(b *testing.B) { benchProcessOverhead(b, bin, true) })
	b.Run("aa", func(b *testing.B) { benchProcessOverhead(b, bin, false) })
}

func benchProcessOverhead(b *testing.B, bin string, emit bool) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	offDir, onDir := b.TempDir(), b.TempDir()
	quickstartTB(b, offDir, "", nil)
	url := ""
	if emit {
		url = srv.URL
	}
	quickstartTB(b, onDir, url, map[string]string{"OL_API_KEY": "k"})
	run := func(dir string) (wall, cpu time.Duration) {
		cmd := exec.Command(bin, "-C", dir, "run")
		cmd.Env = append(os.Environ(), "OL_API_KEY=k", "NO_COLOR=1")
		w0 := time.Now()
		out, err := cmd.CombinedOutput()
		wall = time.Since(w0)
		if err != nil {
			b.Fatalf("elt run in %s: %v\n%s", dir, err, out)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		return wall, time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	// Warm up both copies: the first run creates the warehouse and the
	// store, and fills the column-lineage cache.
	run(offDir)
	run(onDir)
	var dWall, dCPU []float64
	var cOff, cOn, wOff, wOn time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		first, second := offDir, onDir
		if i%2 == 1 {
			first, second = onDir, offDir
		}
		w1, c1 := run(first)
		w2, c2 := run(second)
		if first == onDir {
			w1, c1, w2, c2 = w2, c2, w1, c1
		}
		cOff, cOn, wOff, wOn = cOff+c1, cOn+c2, wOff+w1, wOn+w2
		dWall = append(dWall, 100*(float64(w2)/float64(w1)-1))
		dCPU = append(dCPU, 100*(float64(c2)/float64(c1)-1))
	}
	b.StopTimer()
	report := func(xs []float64, unit string) {
		sort.Float64s(xs)
		b.ReportMetric(xs[len(xs)/2], unit+"_median")
		b.ReportMetric(xs[0], unit+"_min")
		b.ReportMetric(xs[len(xs)/4], unit+"_p25")
		b.ReportMetric(xs[3*len(xs)/4], unit+"_p75")
		b.ReportMetric(xs[len(xs)-1], unit+"_max")
	}
	report(dCPU, "%cpu_added")
	report(dWall, "%wall_added")
	b.ReportMetric(100*(float64(cOn)/float64(cOff)-1), "%cpu_added_total")
	b.ReportMetric(100*(float64(wOn)/float64(wOff)-1), "%wall_added_total")
	b.ReportMetric(float64(cOff.Microseconds())/1000/float64(b.N), "cpu_ms/run_off")
	if emit && got.Load() == 0 {
		b.Fatal("the receiver got no events")
	}
}
