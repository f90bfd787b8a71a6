package schedule

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
)

// benchDaemon builds a daemon with 1,000 schedules and 1,000 sensors (600
// asset, 300 freshness, 100 file) on an in-memory store. The schedules'
// partitions start in 2030, so due ticks launch nothing.
func benchDaemon(b *testing.B, cron string, fileSensors int, clock *FakeClock) *Daemon {
	b.Helper()
	dir := b.TempDir()
	for i := range 10 {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.csv", i)), []byte("x"), 0o644)
	}
	mats := map[asset.Key]time.Time{}
	for i := range 1000 {
		mats[asset.MustKey("raw", fmt.Sprintf("t%d", i))] = clock.Now().Add(-time.Hour)
	}
	memo := MemoMaterializations(clock, time.Second, func(context.Context) (map[asset.Key]time.Time, error) { return mats, nil })
	env := SensorEnv{ProjectDir: dir, Materializations: memo}
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"}
	d := &Daemon{Store: newMemStore(), Launch: func(context.Context, RunRequest) (string, error) { return "", nil }}
	for i := range 1000 {
		def := mustDef(b, PartitionsConfig{Type: "daily", Start: "2030-01-01", Timezone: zones[i%4]})
		d.Schedules = append(d.Schedules, mustSchedule(b, ScheduleConfig{Cron: cron, Timezone: zones[i%4], Job: fmt.Sprintf("job%d", i)}, def))
		d.Schedules[i].Name = fmt.Sprintf("s%d", i)
	}
	for i := range 1000 {
		key := fmt.Sprintf("raw/t%d", i)
		var cfg SensorConfig
		switch {
		case i < 600 || i >= 900+fileSensors:
			cfg = SensorConfig{Type: SensorAsset, Assets: []string{key}, Interval: time.Second}
		case i < 900:
			cfg = SensorConfig{Type: SensorFreshness, Assets: []string{key}, MaxAge: 24 * time.Hour, Interval: time.Second}
		default:
			cfg = SensorConfig{Type: SensorFile, Path: dir, Glob: "*.csv", Job: "load", Interval: time.Second}
		}
		s, err := NewSensor(fmt.Sprintf("sensor%d", i), cfg, env)
		if err != nil {
			b.Fatal(err)
		}
		d.Sensors = append(d.Sensors, s)
	}
	return d
}

// BenchmarkDaemonTick measures one daemon evaluation with 1,000 schedules
// and 1,000 sensors, all sensors due, no run launched. "idle" schedules
// are not due; "due" schedules all tick and are skipped (no window yet);
// "no-files" replaces the 100 file sensors with asset sensors.
func BenchmarkDaemonTick(b *testing.B) {
	for _, bc := range []struct {
		name, cron string
		files      int
		step       time.Duration
	}{
		{"idle", "0 2 * * *", 100, time.Second},
		{"due", "* * * * *", 100, time.Minute},
		{"idle-no-files", "0 2 * * *", 0, time.Second},
		{"due-no-files", "* * * * *", 0, time.Minute},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			clock := NewFakeClock(time.Date(2024, 6, 1, 12, 0, 30, 0, time.UTC))
			d := benchDaemon(b, bc.cron, bc.files, clock)
			// The first tick loads state, records baselines and lets the
			// file sensors see the files.
			if _, err := d.Tick(ctx, clock.Now()); err != nil {
				b.Fatal(err)
			}
			d.Wait()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				clock.Advance(bc.step)
				rep, err := d.Tick(ctx, clock.Now())
				if err != nil {
					b.Fatal(err)
				}
				if rep.SensorsEvaluated != 1000 || len(rep.Launched) != 0 {
					b.Fatalf("evaluated %d sensors, launched %d", rep.SensorsEvaluated, len(rep.Launched))
				}
			}
			// CPU time per tick is steadier than wall time on a shared
			// machine.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime returns the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
