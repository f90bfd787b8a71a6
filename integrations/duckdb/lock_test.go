package duckdb

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

// TestMain lets the test binary act as a test double for "another process
// writing the DuckDB file": with ELT_TEST_HOLD_DUCKDB=<path> it opens the
// file, writes, prints "locked", holds the lock for
// ELT_TEST_HOLD_FOR and exits.
func TestMain(m *testing.M) {
	if path := os.Getenv("ELT_TEST_HOLD_DUCKDB"); path != "" {
		os.Exit(holdDuckDB(path))
	}
	os.Exit(m.Run())
}

func holdDuckDB(path string) int {
	hold, err := time.ParseDuration(os.Getenv("ELT_TEST_HOLD_FOR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	db, err := sql.Open("duckdb", path)
	if err == nil {
		_, err = db.Exec("CREATE TABLE IF NOT EXISTS holder AS SELECT 1 AS a")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("locked")
	time.Sleep(hold)
	db.Close()
	return 0
}

// holdLock starts the helper process and returns once it holds the lock.
func holdLock(t *testing.T, path string, hold time.Duration) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ELT_TEST_HOLD_DUCKDB="+path, "ELT_TEST_HOLD_FOR="+hold.String())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper did not take the lock: %q", line)
	}
	return cmd
}

func TestOpenWaitsForAnotherProcessLock(t *testing.T) {
	p := newTestProject(t)
	_, rc, _ := PickResource("", p.res)
	key := asset.MustKey("x")
	assets := map[asset.Key]AssetConfig{key: {SQL: "SELECT 1 AS a"}}

	t.Run("gives up after lock_timeout", func(t *testing.T) {
		holdLock(t, rc.AbsPath(p.dir), 3*time.Second)
		p.res["warehouse"].Config["lock_timeout"] = "200ms"
		_, err := p.run(assets, nil, nil, key)
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "lock") || !strings.Contains(err.Error(), "asset x: open duckdb") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("waits for the lock", func(t *testing.T) {
		cmd := holdLock(t, rc.AbsPath(p.dir), 700*time.Millisecond)
		p.res["warehouse"].Config["lock_timeout"] = "20s"
		start := time.Now()
		p.mustRun(assets, nil, key)
		if time.Since(start) < 300*time.Millisecond {
			t.Errorf("the run did not wait for the other process")
		}
		cmd.Wait()
	})
}

// In one process the driver shares one database instance per file, so
// steps on one file do not fail on the lock even if run side by side (the
// engine's pool still serializes them, to keep writers from conflicting).
func TestStepsInOneProcessShareTheFile(t *testing.T) {
	p := newTestProject(t)
	assets := map[asset.Key]AssetConfig{}
	var keys []asset.Key
	for i := range 4 {
		k := asset.MustKey(fmt.Sprintf("t%d", i))
		assets[k] = AssetConfig{SQL: fmt.Sprintf("SELECT %d AS n FROM range(1000)", i)}
		keys = append(keys, k)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(keys))
	for i, k := range keys {
		wg.Go(func() {
			req := &engine.Request{Assets: []asset.Key{k}, ProjectDir: p.dir}
			errs[i] = NewRunner(p.res, assets, p.dir).Run(context.Background(), req, func(engine.Event) {})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("step %d: %v", i, err)
		}
	}
	if got := p.count(`"main"."t3"`); got != "1000" {
		t.Errorf("rows = %s", got)
	}
}

func TestCancelStopsAStatement(t *testing.T) {
	p := newTestProject(t)
	key := asset.MustKey("slow")
	assets := map[asset.Key]AssetConfig{key: {SQL: "SELECT count(*) FROM range(10000000000) a"}}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := NewRunner(p.res, assets, p.dir).Run(ctx, &engine.Request{Assets: []asset.Key{key}, ProjectDir: p.dir}, func(engine.Event) {})
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}
