package lineage

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestResolveConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		name    string
		cfg     *Config
		env     map[string]string
		want    *Config
		wantErr string
	}{
		{name: "off", cfg: nil, env: nil, want: nil},
		{name: "env url", env: map[string]string{EnvURL: "http://ol:5000", EnvAPIKey: "k", EnvNamespace: "ns"},
			want: &Config{Namespace: "ns", Transport: TransportConfig{Type: "http", URL: "http://ol:5000", APIKey: "k"}}},
		{name: "file keeps project namespace", cfg: &Config{Transport: TransportConfig{Type: "file", Path: "ol.jsonl"}},
			want: &Config{Namespace: "proj", Transport: TransportConfig{Type: "file", Path: "ol.jsonl"}}},
		{name: "yaml key wins over env key", cfg: &Config{Transport: TransportConfig{Type: "http", URL: "https://x", APIKey: "yaml"}},
			env: map[string]string{EnvAPIKey: "env"}, want: &Config{Namespace: "proj", Transport: TransportConfig{Type: "http", URL: "https://x", APIKey: "yaml"}}},
		{name: "disabled", cfg: &Config{Transport: TransportConfig{Type: "console"}}, env: map[string]string{EnvDisabled: "true"}, want: nil},
		{name: "bad type", cfg: &Config{Transport: TransportConfig{Type: "kafka"}}, wantErr: "not http, file or console"},
		{name: "http without url", cfg: &Config{Transport: TransportConfig{Type: "http"}}, wantErr: "needs url"},
		{name: "bad url keeps secret out", cfg: &Config{Transport: TransportConfig{Type: "http", URL: "ftp://user:pw@h/x?token=t"}}, wantErr: "ftp://h/x"},
		{name: "file without path", cfg: &Config{Transport: TransportConfig{Type: "file"}}, wantErr: "needs path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.cfg, env(tc.env), "proj")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "pw") {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestEmitterRetriesThenSends(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	tr, _ := NewTransport(TransportConfig{Type: "http", URL: srv.URL}, "", nil)
	var warns []string
	e := NewEmitter(tr, EmitterOptions{Backoff: time.Millisecond, Warn: func(s string) { warns = append(warns, s) }})
	e.Emit(map[string]string{"a": "b"})
	sent, lost := e.Close(5 * time.Second)
	if sent != 1 || lost != 0 || calls.Load() != 3 || len(warns) != 0 {
		t.Fatalf("sent %d lost %d calls %d warns %v", sent, lost, calls.Load(), warns)
	}
}

func TestEmitterReceiverDownWarnsOnce(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more
	tr, _ := NewTransport(TransportConfig{Type: "http", URL: url, APIKey: "topsecret"}, "", nil)
	var mu sync.Mutex
	var warns []string
	e := NewEmitter(tr, EmitterOptions{Backoff: time.Millisecond, Where: url, Warn: func(s string) { mu.Lock(); warns = append(warns, s); mu.Unlock() }})
	start := time.Now()
	for i := 0; i < 50; i++ {
		e.Emit(map[string]int{"i": i})
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Emit blocked for %v", d)
	}
	sent, lost := e.Close(5 * time.Second)
	if sent != 0 || lost != 50 {
		t.Fatalf("sent %d lost %d", sent, lost)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "cannot send") || strings.Contains(warns[0], "topsecret") {
		t.Fatalf("warnings %q", warns)
	}
}

func TestEmitterQueueFullDrops(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	tr, _ := NewTransport(TransportConfig{Type: "http", URL: srv.URL}, "", nil)
	e := NewEmitter(tr, EmitterOptions{Queue: 2, Retries: 1})
	for i := 0; i < 10; i++ {
		e.Emit(i)
	}
	close(block)
	_, lost := e.Close(2 * time.Second)
	if lost < 7 {
		t.Fatalf("lost %d of 10 with a queue of 2 and a stuck receiver", lost)
	}
}

func TestFileTransportAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "ol.jsonl")
	for run := 0; run < 2; run++ {
		tr, err := NewTransport(TransportConfig{Type: "file", Path: path}, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		e := NewEmitter(tr, EmitterOptions{})
		e.Emit(map[string]int{"run": run})
		e.Emit(map[string]int{"run": run})
		e.Close(time.Second)
	}
	f, _ := os.Open(path)
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
	}
	if n != 4 {
		t.Fatalf("%d lines, want 4", n)
	}
	var buf bytes.Buffer
	tr, _ := NewTransport(TransportConfig{Type: "console"}, "", &buf)
	e := NewEmitter(tr, EmitterOptions{})
	e.Emit(map[string]int{"x": 1})
	e.Close(time.Second)
	if buf.String() != "{\"x\":1}\n" {
		t.Fatalf("console wrote %q", buf.String())
	}
}

func TestEmitterRedacts(t *testing.T) {
	var buf bytes.Buffer
	tr, _ := NewTransport(TransportConfig{Type: "console"}, "", &buf)
	e := NewEmitter(tr, EmitterOptions{Redact: func(s string) string { return strings.ReplaceAll(s, "hunter2", "****") }})
	e.Emit(map[string]string{"sql": "SELECT 'hunter2'"})
	e.Close(time.Second)
	if strings.Contains(buf.String(), "hunter2") || !strings.Contains(buf.String(), "****") {
		t.Fatalf("console wrote %q", buf.String())
	}
}

func TestRunUUIDStable(t *testing.T) {
	a, b := RunUUID("r1", ""), RunUUID("r1", "step")
	if a == b || a != RunUUID("r1", "") || len(a) != 36 || a[14] != '5' {
		t.Fatalf("run uuids %s %s", a, b)
	}
}

func TestCompileTemplate(t *testing.T) {
	got := Compile(`SELECT * FROM {{ ref("a") }} JOIN {{ref('b')}} USING (id) WHERE d >= {{ partition_start }} -- {{ this }}`,
		func(n string) string { return map[string]string{"a": `"main"."a"`}[n] }, `"main"."me"`)
	want := `SELECT * FROM "main"."a" JOIN "b" USING (id) WHERE d >= NULL -- "main"."me"`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// TestCloseIdleDoesNotWait: the end-of-run flush returns as soon as the
// queue is drained; with nothing queued it never waits for its timeout
// (an hour here: a flush that waited would hang the test).
func TestCloseIdleDoesNotWait(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	for _, n := range []int{0, 1} {
		tr, _ := NewTransport(TransportConfig{Type: "http", URL: srv.URL}, "", nil)
		e := NewEmitter(tr, EmitterOptions{})
		for i := 0; i < n; i++ {
			e.Emit(map[string]string{"a": "b"})
		}
		if sent, lost := e.Close(time.Hour); sent != int64(n) || lost != 0 {
			t.Fatalf("%d queued: sent %d lost %d", n, sent, lost)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("receiver got %d events, want 1", calls.Load())
	}
}
