package store

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

func TestLockAssets(t *testing.T) {
	a, b, c := asset.MustKey("a"), asset.MustKey("b"), asset.MustKey("c")
	tests := []struct {
		name string
		// holder locks first, then asker asks.
		holder     []asset.Key
		holderRun  Run
		holderDone bool // holder's run ended before the ask
		asker      []asset.Key
		wantHeld   []asset.Key // nil: asker gets every lock
	}{
		{name: "disjoint", holder: []asset.Key{a}, asker: []asset.Key{b, c}},
		{name: "overlap conflicts", holder: []asset.Key{a, b}, asker: []asset.Key{b, c, a}, wantHeld: []asset.Key{a, b}},
		{name: "finished run is stolen", holder: []asset.Key{a}, holderDone: true, asker: []asset.Key{a}},
		{name: "duplicates and zero keys", holder: nil, asker: []asset.Key{a, a, {}}},
		{name: "partitions of one asset coexist", holder: []asset.Key{asset.MustKey("a", "[partition 1]")}, asker: []asset.Key{asset.MustKey("a", "[partition 2]")}},
		{name: "whole asset conflicts with its partition", holder: []asset.Key{asset.MustKey("a", "[partition 1]")}, asker: []asset.Key{a}, wantHeld: []asset.Key{asset.MustKey("a", "[partition 1]")}},
		{name: "partition conflicts with its whole asset", holder: []asset.Key{a}, asker: []asset.Key{asset.MustKey("a", "[partition 1]")}, wantHeld: []asset.Key{a}},
		{name: "similar names do not conflict", holder: []asset.Key{asset.MustKey("ab", "[partition 1]")}, asker: []asset.Key{a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t)
			ctx := context.Background()
			mustCreateRun(t, s, Run{ID: "holder"})
			mustCreateRun(t, s, Run{ID: "asker"})
			if err := s.LockAssets(ctx, "holder", tt.holder); err != nil {
				t.Fatal(err)
			}
			if tt.holderDone {
				mustRecord(t, s, engine.Event{Type: engine.RunCanceled, RunID: "holder"})
				// Re-take the lock as if the end event had not released it.
				if _, err := s.wdb.Exec(`INSERT INTO asset_locks VALUES ('a', 'holder', 1, ?, 0)`, s.host); err != nil {
					t.Fatal(err)
				}
			}
			err := s.LockAssets(ctx, "asker", tt.asker)
			var lce *LockConflictError
			if tt.wantHeld == nil {
				if err != nil {
					t.Fatalf("LockAssets = %v, want success", err)
				}
				locks, _ := s.Locks(ctx)
				for _, l := range locks {
					for _, k := range tt.asker {
						if l.Asset == k && l.RunID != "asker" {
							t.Errorf("asset %s still locked by %s", k, l.RunID)
						}
					}
				}
				return
			}
			if !errors.As(err, &lce) {
				t.Fatalf("LockAssets = %v, want *LockConflictError", err)
			}
			var held []asset.Key
			for _, l := range lce.Held {
				held = append(held, l.Asset)
				if l.RunID != "holder" || l.PID != s.pid {
					t.Errorf("conflict lock %+v, want run holder pid %d", l, s.pid)
				}
			}
			if !reflect.DeepEqual(held, tt.wantHeld) {
				t.Errorf("held = %v, want %v", held, tt.wantHeld)
			}
			if msg := err.Error(); !strings.Contains(msg, "asset a") || !strings.Contains(msg, "being materialized by run holder") {
				t.Errorf("error message %q does not name asset and run", msg)
			}
			// All or nothing: c was free but must not be taken.
			locks, _ := s.Locks(ctx)
			for _, l := range locks {
				if l.RunID == "asker" {
					t.Errorf("asker got %s despite the conflict", l.Asset)
				}
			}
		})
	}
}

func TestLockAssetsReentrantAndUnlock(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	a := asset.MustKey("a")
	mustCreateRun(t, s, Run{ID: "r1"})
	mustCreateRun(t, s, Run{ID: "r2"})
	for range 2 {
		if err := s.LockAssets(ctx, "r1", []asset.Key{a}); err != nil {
			t.Fatalf("re-locking own asset: %v", err)
		}
	}
	if err := s.UnlockAssets(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if err := s.LockAssets(ctx, "r2", []asset.Key{a}); err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
}

// TestLockStolenFromKilledProcess: another process holds a lock; while it
// lives we get a conflict naming it, once it is killed we take the lock.
func TestLockStolenFromKilledProcess(t *testing.T) {
	db := filepath.Join(t.TempDir(), "elt.db")
	cmd, out, _ := child(t, "lock", db, "other", envKeys+"=raw/orders,raw/users")
	if !out.Scan() || out.Text() != "locked" {
		t.Fatalf("child did not lock: %q %v", out.Text(), out.Err())
	}
	s, err := Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	mustCreateRun(t, s, Run{ID: "mine"})
	keys := []asset.Key{asset.MustKey("raw", "orders"), asset.MustKey("mart", "x")}
	err = s.LockAssets(ctx, "mine", keys)
	var lce *LockConflictError
	if !errors.As(err, &lce) || len(lce.Held) != 1 || lce.Held[0].RunID != "other" || lce.Held[0].PID != cmd.Process.Pid {
		t.Fatalf("LockAssets while other process lives = %v, want conflict with run other pid %d", err, cmd.Process.Pid)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if err := s.LockAssets(ctx, "mine", keys); err != nil {
		t.Fatalf("LockAssets after holder was killed = %v, want the lock stolen", err)
	}
	locks, _ := s.Locks(ctx)
	for _, l := range locks {
		if l.Asset == keys[0] && l.RunID != "mine" {
			t.Errorf("raw/orders still locked by %s", l.RunID)
		}
	}
}

// TestLockAssetsRace: two stores on one file (as two processes would) race
// for the same assets; exactly one wins each round.
func TestLockAssetsRace(t *testing.T) {
	db := filepath.Join(t.TempDir(), "elt.db")
	ctx := context.Background()
	var stores [2]*SQLite
	for i := range stores {
		s, err := Open(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	keys := []asset.Key{asset.MustKey("x"), asset.MustKey("y")}
	for round := range 20 {
		var (
			wg   sync.WaitGroup
			errs [2]error
			ids  [2]string
		)
		for i, s := range stores {
			ids[i] = "r" + strconv.Itoa(round) + "-" + strconv.Itoa(i)
			mustCreateRun(t, s, Run{ID: ids[i]})
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.LockAssets(ctx, ids[i], keys)
			}()
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			var lce *LockConflictError
			switch {
			case err == nil:
				won++
				if err := stores[i].UnlockAssets(ctx, ids[i]); err != nil {
					t.Fatal(err)
				}
			case !errors.As(err, &lce):
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d winners (%v), want 1", round, won, errs)
		}
	}
}

func TestDaemonLock(t *testing.T) {
	clock := newFakeClock()
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "elt.db")
	alive := map[int]bool{100: true, 200: true}
	check := func(pid int) bool { return alive[pid] }
	d1, err := Open(ctx, db, WithClock(clock.Now), WithPID(100), WithProcessCheck(check))
	if err != nil {
		t.Fatal(err)
	}
	defer d1.Close()
	d2, err := Open(ctx, db, WithClock(clock.Now), WithPID(200), WithProcessCheck(check))
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	const ttl = time.Minute

	steps := []struct {
		name string
		do   func() (bool, error)
		want bool
	}{
		{"d1 acquires free lock", func() (bool, error) { return d1.AcquireDaemonLock(ctx, "d1", ttl) }, true},
		{"d2 refused while d1 beats", func() (bool, error) { return d2.AcquireDaemonLock(ctx, "d2", ttl) }, false},
		{"d1 re-acquires its own", func() (bool, error) { return d1.AcquireDaemonLock(ctx, "d1", ttl) }, true},
		{"d2 takes over after ttl", func() (bool, error) {
			clock.Advance(2 * ttl)
			return d2.AcquireDaemonLock(ctx, "d2", ttl)
		}, true},
		{"d1 refused now", func() (bool, error) { return d1.AcquireDaemonLock(ctx, "d1", ttl) }, false},
		{"d1 takes over when d2's process died", func() (bool, error) {
			alive[200] = false
			return d1.AcquireDaemonLock(ctx, "d1", ttl)
		}, true},
	}
	for _, st := range steps {
		got, err := st.do()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got != st.want {
			t.Fatalf("%s: got %v, want %v", st.name, got, st.want)
		}
	}
	if err := d2.DaemonHeartbeat(ctx, "d2"); !errors.Is(err, ErrNotOwner) {
		t.Errorf("heartbeat of replaced daemon = %v, want ErrNotOwner", err)
	}
	clock.Advance(time.Second)
	if err := d1.DaemonHeartbeat(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	d, ok, err := d2.Daemon(ctx)
	if err != nil || !ok || d.Owner != "d1" || d.PID != 100 || !d.LastBeat.Equal(clock.Now()) {
		t.Errorf("Daemon = %+v %v %v, want d1 100 %v", d, ok, err, clock.Now())
	}
	if err := d2.ReleaseDaemonLock(ctx, "d2"); err != nil { // not the owner: no effect
		t.Fatal(err)
	}
	if _, ok, _ := d2.Daemon(ctx); !ok {
		t.Error("release by a non-owner removed the lock")
	}
	if err := d1.ReleaseDaemonLock(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := d2.Daemon(ctx); ok {
		t.Error("lock still held after release")
	}
}

func TestDaemonGoneWhenItsProcessIs(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "elt.db")
	alive := true
	st, err := Open(ctx, path, WithPID(4242), WithProcessCheck(func(pid int) bool { return pid != 4242 || alive }))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok, err := st.Daemon(ctx); ok || err != nil {
		t.Fatalf("Daemon before any lock: ok=%v err=%v", ok, err)
	}
	if got, err := st.AcquireDaemonLock(ctx, "d1", time.Minute); !got || err != nil {
		t.Fatalf("acquire: %v %v", got, err)
	}
	d, ok, err := st.Daemon(ctx)
	if err != nil || !ok || d.Owner != "d1" || d.PID != 4242 || d.Host == "" || d.Gone {
		t.Fatalf("Daemon = %+v %v %v, want d1 pid 4242 on this host, not gone", d, ok, err)
	}
	alive = false
	if d, _, _ := st.Daemon(ctx); !d.Gone {
		t.Errorf("Daemon after its process died = %+v, want Gone", d)
	}
}
