package project

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eltproject/elt/engine"
)

// benchProject writes an elt.yaml and loads it with its store.
func benchProject(b *testing.B, yaml string) (*Project, func()) {
	b.Helper()
	dir := b.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		b.Fatal(err)
	}
	p, err := Load(context.Background(), path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	return p, func() {}
}

// wideDAG is n `true` command assets in layers of 100, each depending on
// one asset of the layer before.
func wideDAG(n int) string {
	r := rand.New(rand.NewPCG(7, 7))
	var sb strings.Builder
	sb.WriteString("name: bench\nassets:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "  - key: a%d\n    command: [\"/bin/true\"]\n", i)
		if i >= 100 {
			fmt.Fprintf(&sb, "    deps: [a%d]\n", (i/100-1)*100+r.IntN(100))
		}
	}
	return sb.String()
}

// BenchmarkRun1000True is the engine's overhead figure: 1,000 assets whose
// command is /bin/true, run at --concurrency 2 with every event written to
// the SQLite store, against a shell loop running /bin/true 1,000 times and
// against a plain Go spawner running them with two workers (exec.Command,
// nothing recorded). "ratio" is elt's time over the loop's;
// "ratio-spawner" over the spawner's, the engine's own cost per step.
func BenchmarkRun1000True(b *testing.B) { benchRunTrue(b, 1000) }

// BenchmarkRun10000True is BenchmarkRun1000True with 10,000 steps.
func BenchmarkRun10000True(b *testing.B) { benchRunTrue(b, 10000) }

func benchRunTrue(b *testing.B, n int) {
	loop := func() time.Duration {
		start := time.Now()
		script := fmt.Sprintf("i=0; while [ $i -lt %d ]; do /bin/true; i=$((i+1)); done", n)
		if out, err := exec.Command("/bin/sh", "-c", script).CombinedOutput(); err != nil {
			b.Fatalf("shell loop: %v %s", err, out)
		}
		return time.Since(start)
	}
	spawner := func() time.Duration {
		start := time.Now()
		jobs := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range jobs {
					if err := exec.Command("/bin/true").Run(); err != nil {
						b.Error(err)
					}
				}
			}()
		}
		for range n {
			jobs <- struct{}{}
		}
		close(jobs)
		wg.Wait()
		return time.Since(start)
	}
	p, _ := benchProject(b, wideDAG(n))
	ctx := context.Background()
	var eltTotal, loopTotal, spawnTotal, eltCPU, spawnCPU time.Duration
	for b.Loop() {
		st, err := p.OpenStore(ctx)
		if err != nil {
			b.Fatal(err)
		}
		// Interleaved, so that a busy moment of a shared machine falls
		// on all three alike.
		c0 := cpuTime()
		spawnTotal += spawner()
		c1 := cpuTime()
		start := time.Now()
		res, err := p.Run(ctx, st, RunOptions{Concurrency: 2})
		eltTotal += time.Since(start)
		eltCPU += cpuTime() - c1
		spawnCPU += c1 - c0
		if err != nil || res.Status != engine.StatusSucceeded {
			b.Fatalf("run: %v %+v", err, res)
		}
		st.Close()
		loopTotal += loop()
	}
	k := float64(b.N)
	b.ReportMetric(eltTotal.Seconds()/k, "elt-s/run")
	b.ReportMetric(loopTotal.Seconds()/k, "loop-s/run")
	b.ReportMetric(spawnTotal.Seconds()/k, "spawner-s/run")
	b.ReportMetric(eltTotal.Seconds()/loopTotal.Seconds(), "ratio")
	b.ReportMetric(eltTotal.Seconds()/spawnTotal.Seconds(), "ratio-spawner")
	// CPU time (this process and its children) is steadier than wall
	// time on a shared machine.
	b.ReportMetric(eltCPU.Seconds()/spawnCPU.Seconds(), "cpu-ratio-spawner")
}

// cpuTime is the user and system CPU time of this process and its
// finished children.
func cpuTime() time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if err := syscall.Getrusage(who, &ru); err == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}

// BenchmarkMakespanSleeps runs 8 chains of 5 `sleep 0.1` steps at
// concurrency 4. The nominal lower bound is max(critical path 0.5s, work
// 4s / 4) = 1s; "ratio" is the makespan over it. Each step really lasts a
// little longer than 0.1s (starting a process), so "ratio-measured" uses
// the same bound computed from the measured step durations: that is the
// scheduler's own overhead.
func BenchmarkMakespanSleeps(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("name: sleeps\nassets:\n")
	const chains, length = 8, 5
	for c := 0; c < chains; c++ {
		for i := 0; i < length; i++ {
			fmt.Fprintf(&sb, "  - key: c%d/s%d\n    command: [\"sleep\", \"0.1\"]\n", c, i)
			if i > 0 {
				fmt.Fprintf(&sb, "    deps: [c%d/s%d]\n", c, i-1)
			}
		}
	}
	p, _ := benchProject(b, sb.String())
	ctx := context.Background()
	bound := max(time.Duration(length)*100*time.Millisecond, time.Duration(chains*length)*100*time.Millisecond/4)
	var total, measuredBound time.Duration
	for b.Loop() {
		st, err := p.OpenStore(ctx)
		if err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		started := map[string]time.Time{}
		chain := map[string]time.Duration{}
		var work time.Duration
		observe := func(ev engine.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch ev.Type {
			case engine.StepStarted:
				started[ev.StepID] = ev.Time
			case engine.StepSucceeded:
				d := ev.Time.Sub(started[ev.StepID])
				work += d
				c, _, _ := strings.Cut(ev.StepID, ".")
				chain[c] += d
			}
		}
		start := time.Now()
		res, err := p.Run(ctx, st, RunOptions{Concurrency: 4, Observe: observe})
		total += time.Since(start)
		if err != nil || res.Status != engine.StatusSucceeded {
			b.Fatalf("run: %v", err)
		}
		longest := time.Duration(0)
		for _, d := range chain {
			longest = max(longest, d)
		}
		measuredBound += max(longest, work/4)
		st.Close()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "makespan-s")
	b.ReportMetric(total.Seconds()/float64(b.N)/bound.Seconds(), "ratio")
	b.ReportMetric(total.Seconds()/measuredBound.Seconds(), "ratio-measured")
}

// BenchmarkMakespanChain runs one chain of 10 `sleep 0.2` steps beside 30
// independent `sleep 0.2` steps at concurrency 4. The ideal schedule keeps
// the chain running throughout while the other three slots take the
// independent steps: max(critical path 2s, work 8s / 4) = 2s. "ratio" is
// the makespan over that bound; a freed slot going to an independent step
// instead of the chain's next step stretches it.
func BenchmarkMakespanChain(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("name: chain\nassets:\n")
	const chain, independent = 10, 30
	for i := 0; i < chain; i++ {
		fmt.Fprintf(&sb, "  - key: chain/s%d\n    command: [\"sleep\", \"0.2\"]\n", i)
		if i > 0 {
			fmt.Fprintf(&sb, "    deps: [chain/s%d]\n", i-1)
		}
	}
	for i := 0; i < independent; i++ {
		fmt.Fprintf(&sb, "  - key: free/s%d\n    command: [\"sleep\", \"0.2\"]\n", i)
	}
	p, _ := benchProject(b, sb.String())
	ctx := context.Background()
	bound := max(chain*200*time.Millisecond, (chain+independent)*200*time.Millisecond/4)
	var total, measuredBound time.Duration
	for b.Loop() {
		st, err := p.OpenStore(ctx)
		if err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		started := map[string]time.Time{}
		var work, chainWork time.Duration
		observe := func(ev engine.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch ev.Type {
			case engine.StepStarted:
				started[ev.StepID] = ev.Time
			case engine.StepSucceeded:
				d := ev.Time.Sub(started[ev.StepID])
				work += d
				if strings.HasPrefix(ev.StepID, "chain.") {
					chainWork += d
				}
			}
		}
		start := time.Now()
		res, err := p.Run(ctx, st, RunOptions{Concurrency: 4, Observe: observe})
		total += time.Since(start)
		if err != nil || res.Status != engine.StatusSucceeded {
			b.Fatalf("run: %v", err)
		}
		measuredBound += max(chainWork, work/4)
		st.Close()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "makespan-s")
	b.ReportMetric(total.Seconds()/float64(b.N)/bound.Seconds(), "ratio")
	// The same bound from the measured step durations (a step lasts a
	// little more than 0.2s, more on a busy machine): the scheduler's own
	// share.
	b.ReportMetric(total.Seconds()/measuredBound.Seconds(), "ratio-measured")
}

// BenchmarkLoad10k loads a 10,000-asset elt.yaml (command assets with
// deps, ~550 KB): decoding, key checks, graph.
func BenchmarkLoad10k(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, []byte(wideDAG(10000)), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(context.Background(), path, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
