package dbt

import (
	"os"
	"syscall"
	"testing"
	"time"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZFloor(t *testing.T) {
	if os.Getenv("ZZGEN") == "" {
		t.Skip()
	}
	for i := 0; i < 3; i++ {
		c0, w0 := cpuTime(), time.Now()
		f, _ := os.Open("/tmp/bench_manifest.json")
		s := newReaderScanner(f, "x")
		if err := s.skip(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		c1, w1 := cpuTime(), time.Now()
		m, err := ReadManifest("/tmp/bench_manifest.json")
		if err != nil {
			t.Fatal(err)
		}
		_ = m
		c2, w2 := cpuTime(), time.Now()
		t.Logf("skip cpu %v wall %v; read cpu %v wall %v", c1-c0, w1.Sub(w0), c2-c1, w2.Sub(w1))
	}
}
