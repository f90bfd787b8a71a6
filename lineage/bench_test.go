package lineage_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eltproject/elt/lineage"
	"github.com/eltproject/elt/project"
)

// BenchmarkHTTPTransport measures events per second through the emitter
// and the HTTP transport to a local receiver (a step COMPLETE event of the
// quickstart's size).
func BenchmarkHTTPTransport(b *testing.B) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	tr, err := lineage.NewTransport(lineage.TransportConfig{Type: "http", URL: srv.URL}, "", nil)
	if err != nil {
		b.Fatal(err)
	}
	ev := sampleEvent()
	e := lineage.NewEmitter(tr, lineage.EmitterOptions{Queue: b.N + 1})
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		e.Emit(ev)
	}
	sent, lost := e.Close(time.Minute)
	el := time.Since(start)
	b.StopTimer()
	if lost != 0 || sent != int64(b.N) {
		b.Fatalf("sent %d lost %d of %d", sent, lost, b.N)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
}

func sampleEvent() lineage.RunEvent {
	return lineage.RunEvent{EventType: lineage.Complete, EventTime: time.Now(), Producer: lineage.Producer, SchemaURL: lineage.SchemaURL,
		Run: lineage.Run{RunID: lineage.RunUUID("r", "s")}, Job: lineage.Job{Namespace: "qs", Name: "share_summary"},
		Outputs: []lineage.Dataset{{Namespace: "duckdb:///tmp/w.duckdb", Name: "w.main.share_summary", Facets: lineage.Facets{
			"schema": {"fields": []map[string]any{{"name": "month", "type": "DATE"}, {"name": "days", "type": "BIGINT"}, {"name": "low", "type": "FLOAT"}}}}}}}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkQuickstartOverhead (the in-process variant) runs the quickstart with and without
// OpenLineage (HTTP to an in-process receiver, whose own CPU is counted
// against lineage), interleaved in alternating order, and reports the added wall and CPU time
// as percentages. The aa sub-benchmark compares two non-emitting copies
// the same way: its figures are the noise of the measurement.
func BenchmarkQuickstartOverhead(b *testing.B) {
	b.Run("lineage", func(b *testing.B) { benchOverhead(b, true) })
	b.Run("aa", func(b *testing.B) { benchOverhead(b, false) })
}

func benchOverhead(b *testing.B, emit bool) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	off := quickstartB(b, "")
	url := ""
	if emit {
		url = srv.URL
	}
	on := quickstartB(b, url)
	run := func(p *project.Project) (time.Duration, time.Duration) {
		ctx := context.Background()
		st, err := p.OpenStore(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		c0, w0 := cpuTime(), time.Now()
		if _, err := p.Run(ctx, st, project.RunOptions{Concurrency: 1}); err != nil {
			b.Fatal(err)
		}
		return time.Since(w0), cpuTime() - c0
	}
	run(off)
	run(on)
	var wOff, wOn, cOff, cOn time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Alternate which copy runs first (off-on, on-off, …): the second
		// run of a pair tends to be cheaper (warm caches), which would
		// otherwise count for or against lineage.
		first, second := off, on
		if i%2 == 1 {
			first, second = on, off
		}
		w1, c1 := run(first)
		w2, c2 := run(second)
		if first == on {
			w1, c1, w2, c2 = w2, c2, w1, c1
		}
		wOff, cOff = wOff+w1, cOff+c1
		wOn, cOn = wOn+w2, cOn+c2
	}
	b.ReportMetric(100*(float64(wOn)/float64(wOff)-1), "%wall_added")
	b.ReportMetric(100*(float64(cOn)/float64(cOff)-1), "%cpu_added")
	b.ReportMetric(float64(cOff.Milliseconds())/float64(b.N), "cpu_ms/run_off")
	if emit && got.Load() == 0 {
		b.Fatal("the receiver got no events")
	}
}
