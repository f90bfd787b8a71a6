package restapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eltproject/elt/plugins/sdk"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestPaginationStyles(t *testing.T) {
	tests := []struct {
		style      string
		pagination map[string]any
		wantPages  int
	}{
		{"cursor", map[string]any{"type": "cursor", "cursor_path": "meta.next_cursor", "cursor_param": "cursor"}, 3},
		{"next_link", map[string]any{"type": "next_link", "next_path": "links.next"}, 3},
		{"link_header", map[string]any{"type": "link_header"}, 3},
		// 25 records in pages of 10: the short third page ends the walk.
		{"page", map[string]any{"type": "page", "page_param": "page", "size_param": "per_page", "page_size": 10}, 3},
		{"offset", map[string]any{"type": "offset", "page_size": 10}, 3},
		// No pagination: one request.
		{"none", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.style, func(t *testing.T) {
			h := newHarness(t, &fakeAPI{recs: makeRecords(25, h0, time.Minute), style: tt.style, pageSize: 10})
			over := map[string]any{}
			if tt.pagination != nil {
				over["pagination"] = tt.pagination
			}
			if err := h.run(context.Background(), h.cfg(over), nil); err != nil {
				t.Fatal(err)
			}
			md := h.materialized()
			if md["rows"] != 25 || md["pages"] != tt.wantPages {
				t.Errorf("rows, pages = %v, %v; want 25, %d", md["rows"], md["pages"], tt.wantPages)
			}
			if got := h.query(`SELECT count(DISTINCT id) FROM raw.items`); got != int64(25) {
				t.Errorf("distinct ids = %v, want 25", got)
			}
		})
	}
}

var h0 = time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC)

func TestInferredColumnTypes(t *testing.T) {
	h := newHarness(t, &fakeAPI{recs: makeRecords(3, h0, time.Hour)})
	if err := h.run(context.Background(), h.cfg(nil), nil); err != nil {
		t.Fatal(err)
	}
	got := h.query(`SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'items'`)
	// The fake API writes keys sorted; columns follow the first page's order.
	want := "active BOOLEAN, amount DOUBLE, at TIMESTAMP, id BIGINT, name VARCHAR, tags VARCHAR"
	if got != want {
		t.Errorf("columns = %q\nwant      %q", got, want)
	}
	if got := h.query(`SELECT tags FROM raw.items WHERE id = 1`); got != `["a"]` {
		t.Errorf("tags = %v; arrays are kept as JSON text", got)
	}
}

func TestDeclaredFieldsAndColumns(t *testing.T) {
	h := newHarness(t, &fakeAPI{recs: makeRecords(4, h0, time.Hour)})
	cfg := h.cfg(map[string]any{
		"fields":  map[string]any{"item_id": "id", "label": "name", "first_tag": "tags.0"},
		"columns": map[string]any{"item_id": "VARCHAR"},
	})
	if err := h.run(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	if got := h.query(`SELECT first_tag || label || item_id FROM raw.items WHERE item_id = '2'`); got != "aitem-22" {
		t.Errorf("got %v", got)
	}
}

func TestAuth(t *testing.T) {
	const secret = "s3cr3t-value"
	tests := []struct {
		name   string
		config map[string]string
		check  func(http.Header) bool
	}{
		{"bearer", map[string]string{"token": secret}, func(h http.Header) bool { return h.Get("Authorization") == "Bearer "+secret }},
		{"basic", map[string]string{"username": "ann", "password": secret}, func(h http.Header) bool {
			return h.Get("Authorization") == "Basic "+base64.StdEncoding.EncodeToString([]byte("ann:"+secret))
		}},
		{"header", map[string]string{"header": "X-Api-Key", "value": secret}, func(h http.Header) bool { return h.Get("X-Api-Key") == secret }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{recs: makeRecords(2, h0, time.Hour)}
			api.hook = func(w http.ResponseWriter, r *http.Request, _ int) bool {
				if tt.check(r.Header) {
					return false
				}
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return true
			}
			h := newHarness(t, api)
			h.res["api"] = sdk.Resource{Type: "http", Config: tt.config, Secret: []string{"token", "password", "value"}}
			cfg := h.cfg(map[string]any{"auth": map[string]any{"resource": "api"}})
			if err := h.run(context.Background(), cfg, nil); err != nil {
				t.Fatal(err)
			}
			// Wrong credentials: a 401 fails at once, without the secret.
			h.res["api"] = sdk.Resource{Type: "http", Config: map[string]string{"token": "wrong-" + secret}}
			err := h.run(context.Background(), cfg, nil)
			if err == nil || !strings.Contains(err.Error(), "HTTP 401") {
				t.Fatalf("err = %v, want HTTP 401", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error leaks the secret: %v", err)
			}
			if n := api.requests(); n != 2 {
				t.Errorf("requests = %d, want 2 (401 is not retried)", n)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		hook      func(w http.ResponseWriter, r *http.Request, n int) bool
		maxRetry  int
		wantErr   string
		wantRetry int
		minWait   time.Duration
	}{
		{"429 with Retry-After", func(w http.ResponseWriter, _ *http.Request, n int) bool {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return true
			}
			return false
		}, 3, "", 1, time.Second},
		{"500 then success", func(w http.ResponseWriter, _ *http.Request, n int) bool {
			if n == 1 {
				http.Error(w, "boom", http.StatusInternalServerError)
				return true
			}
			return false
		}, 3, "", 1, 0},
		{"503 until giving up", func(w http.ResponseWriter, _ *http.Request, _ int) bool {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return true
		}, 2, "giving up after 3 attempts: HTTP 503 down for maintenance", 0, 0},
		{"404 is not retried", func(w http.ResponseWriter, _ *http.Request, _ int) bool {
			http.NotFound(w, nil)
			return true
		}, 2, "HTTP 404", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, &fakeAPI{recs: makeRecords(5, h0, time.Hour), hook: tt.hook})
			start := time.Now()
			err := h.run(context.Background(), h.cfg(map[string]any{"max_retries": tt.maxRetry}), nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if md := h.materialized(); md["retries"] != tt.wantRetry || md["rows"] != 5 {
				t.Errorf("retries, rows = %v, %v; want %d, 5", md["retries"], md["rows"], tt.wantRetry)
			}
			if el := time.Since(start); el < tt.minWait {
				t.Errorf("took %s; Retry-After asked for %s", el, tt.minWait)
			}
		})
	}
}

func TestRetryAfterBeyondDeadline(t *testing.T) {
	h := newHarness(t, &fakeAPI{hook: func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	}})
	start := time.Now()
	err := h.run(context.Background(), h.cfg(map[string]any{"deadline": "5s"}), nil)
	if err == nil || !strings.Contains(err.Error(), "would pass the step's deadline") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("waited for a retry that could not finish in time")
	}
}

func TestSlowServerHitsDeadline(t *testing.T) {
	api := &fakeAPI{recs: makeRecords(30, h0, time.Minute), style: "cursor", pageSize: 10}
	api.hook = func(_ http.ResponseWriter, r *http.Request, n int) bool {
		if n >= 2 { // the first page loads, then the server stalls
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}
		return false
	}
	h := newHarness(t, api)
	cfg := h.cfg(map[string]any{
		"deadline":   "400ms",
		"pagination": map[string]any{"type": "cursor", "cursor_path": "meta.next_cursor", "cursor_param": "cursor"},
	})
	start := time.Now()
	err := h.run(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "deadline of 400ms passed") || !strings.Contains(err.Error(), "nothing of this refresh was committed") {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("took %s after a 400ms deadline", el)
	}
	if h.tableExists() {
		if n := h.query(`SELECT count(*) FROM raw.items`); n != int64(0) {
			t.Errorf("%v rows committed despite the deadline", n)
		}
	}
}

func TestPerRequestTimeoutIsRetried(t *testing.T) {
	api := &fakeAPI{recs: makeRecords(3, h0, time.Hour)}
	api.hook = func(_ http.ResponseWriter, r *http.Request, n int) bool {
		if n == 1 {
			<-r.Context().Done()
		}
		return false
	}
	h := newHarness(t, api)
	if err := h.run(context.Background(), h.cfg(map[string]any{"request_timeout": "100ms"}), nil); err != nil {
		t.Fatal(err)
	}
	if md := h.materialized(); md["retries"] != 1 {
		t.Errorf("retries = %v, want 1", md["retries"])
	}
}

func TestWindowRerunReplacesRows(t *testing.T) {
	day := &sdk.Partition{Key: "2024-03-09", Start: h0, End: h0.Add(24 * time.Hour)}
	// 30 records every hour from 22:00 the day before: 2 before the
	// window, 24 inside, 4 after.
	recs := makeRecords(30, h0.Add(-2*time.Hour), time.Hour)
	tests := []struct {
		name   string
		window map[string]any
		want   int64
	}{
		{"time column", map[string]any{"interval": "daily", "time_column": "at"}, 24},
		{"window column", map[string]any{"interval": "daily"}, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{recs: recs}
			h := newHarness(t, api)
			cfg := h.cfg(map[string]any{"window": tt.window, "params": map[string]any{"since": "{start}", "until": "{end}"}})
			for i := range 2 {
				if err := h.run(context.Background(), cfg, day); err != nil {
					t.Fatalf("run %d: %v", i+1, err)
				}
			}
			if n := h.query(`SELECT count(*) FROM raw.items`); n != tt.want {
				t.Errorf("rows after two runs = %v, want %d (replaced, not duplicated)", n, tt.want)
			}
			md := h.materialized()
			if md["window_start"] != "2024-03-09T00:00:00Z" || md["window_end"] != "2024-03-10T00:00:00Z" {
				t.Errorf("window metadata = %v .. %v", md["window_start"], md["window_end"])
			}
			if q := api.queries[0]; q.Get("since") != "2024-03-09T00:00:00Z" || q.Get("until") != "2024-03-10T00:00:00Z" {
				t.Errorf("request params = %v", q)
			}
		})
	}
}

func TestCursorWindowsAdvanceAfterCommit(t *testing.T) {
	api := &fakeAPI{recs: makeRecords(3, h0, time.Minute)}
	h := newHarness(t, api)
	h.now = time.Date(2024, 3, 12, 1, 0, 0, 0, time.UTC) // minus 2h lag: last complete day is 03-10
	cfg := h.cfg(map[string]any{
		"window": map[string]any{"interval": "daily", "lag": "2h", "start": "2024-03-09", "format": "date"},
		"params": map[string]any{"from": "{start}", "to": "{end}", "c": "{cursor}"},
	})
	if err := h.run(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, q := range api.queries {
		got = append(got, q.Get("from")+".."+q.Get("to"))
	}
	if want := "2024-03-09..2024-03-10 2024-03-10..2024-03-11"; strings.Join(got, " ") != want {
		t.Errorf("windows requested = %v, want %s", got, want)
	}
	if c := h.query(`SELECT cursor FROM _elt_cursors WHERE asset = 'raw/items'`); c != "2024-03-11T00:00:00Z" {
		t.Errorf("cursor = %v", c)
	}
	if c0, c1 := api.queries[0].Get("c"), api.queries[1].Get("c"); c0 != "" || c1 != "2024-03-10T00:00:00Z" {
		t.Errorf("{cursor} in the first run = %q, %q; want empty (nothing stored), then the first window's end", c0, c1)
	}

	// Same clock: up to date, nothing requested, cursor unchanged.
	n := api.requests()
	if err := h.run(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	if api.requests() != n || h.materialized()["windows"] != 0 {
		t.Errorf("an up-to-date run requested %d pages", api.requests()-n)
	}

	// A day later: one window, the stored cursor in {cursor}; a failing
	// window leaves the cursor where it was.
	h.now = h.now.Add(24 * time.Hour)
	api.setHook(func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		http.Error(w, "nope", http.StatusBadRequest)
		return true
	})
	if err := h.run(context.Background(), cfg, nil); err == nil {
		t.Fatal("want an error")
	}
	if c := h.query(`SELECT cursor FROM _elt_cursors`); c != "2024-03-11T00:00:00Z" {
		t.Errorf("cursor moved to %v by a failed window", c)
	}
	api.setHook(nil)
	if err := h.run(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	last := api.queries[len(api.queries)-1]
	if last.Get("from") != "2024-03-11" || last.Get("c") != "2024-03-11T00:00:00Z" {
		t.Errorf("last request = %v", last)
	}
	if n := h.query(`SELECT count(*) FROM raw.items`); n != int64(9) {
		t.Errorf("rows = %v, want 3 per window × 3 windows", n)
	}
}

func TestRateLimit(t *testing.T) {
	h := newHarness(t, &fakeAPI{recs: makeRecords(50, h0, time.Minute), style: "offset", pageSize: 10})
	start := time.Now()
	cfg := h.cfg(map[string]any{"rate_limit": 20, "pagination": map[string]any{"type": "offset", "page_size": 10}})
	if err := h.run(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	// 6 requests (5 full pages and an empty one) at 20/s: 5 gaps of 50ms.
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Errorf("6 requests at 20/s took %s", el)
	}
}

func TestBadResponses(t *testing.T) {
	tests := []struct {
		name, body, records, want string
	}{
		{"not JSON", "<html>", "data", "response body is not JSON"},
		{"records not an array", `{"data": {"a": 1}}`, "data", `records path "data" holds JSON, not an array`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, &fakeAPI{hook: func(w http.ResponseWriter, _ *http.Request, _ int) bool {
				_, _ = w.Write([]byte(tt.body))
				return true
			}})
			err := h.run(context.Background(), h.cfg(map[string]any{"records": tt.records}), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDescribeGolden(t *testing.T) {
	cfg := `{"base_url": "https://api.example.test/v1", "path": "/events", "records": "data",
		"window": {"interval": "hourly", "lag": "10m", "start": "2024-01-01"},
		"destination": {"resource": "warehouse", "table": "raw/events"}}`
	specs, err := New().Describe(context.Background(), sdk.Config(cfg))
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(specs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "describe.golden.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if strings.TrimSpace(string(want)) != string(got) {
		t.Errorf("describe output changed:\n%s\nwant\n%s", got, want)
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := New().Describe(context.Background(), sdk.Config(`{"base_url": "x", "pagination": {"type": "pages"}, "columns": {"a": "BLOB"}, "window": {"interval": "fortnightly"}, "destination": {"table": "a/b/c"}}`))
	for _, want := range []string{`base_url "x"`, "destination.resource is required", "destination.table", `pagination.type "pages"`, "columns.a: unknown type", "window.interval"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
	for _, tt := range []struct{ pagination, param, want string }{
		{`{"type": "cursor", "cursor_path": "next", "cursor_param": "after"}`, "after", "params.after: pagination.cursor_param"},
		{`{"type": "page"}`, "page", "params.page: pagination.page_param"},
		{`{"type": "page", "size_param": "per_page", "page_size": 50}`, "per_page", "params.per_page: pagination.size_param"},
		{`{"type": "offset"}`, "offset", "params.offset: pagination.offset_param"},
		{`{"type": "offset"}`, "limit", "params.limit: pagination.size_param"},
	} {
		_, err := New().Describe(context.Background(), sdk.Config(`{"base_url": "http://x", "destination": {"resource": "w", "table": "t"}, "pagination": `+tt.pagination+`, "params": {"`+tt.param+`": "{cursor}"}}`))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("pagination %s with params.%s: error %v, want %q", tt.pagination, tt.param, err, tt.want)
		}
	}
	_, err = New().Describe(context.Background(), sdk.Config(`{"base_url": "http://x", "destination": {"resource": "w", "table": "t"}, "pagination": {"type": "page"}, "params": {"per_page": "100"}}`))
	if err != nil {
		t.Errorf("a page size in params without size_param is the user's: %v", err)
	}
	_, err = New().Describe(context.Background(), sdk.Config(`{"base_url": "http://x", "tiemout": 3}`))
	if err == nil || !strings.Contains(err.Error(), "tiemout") {
		t.Errorf("unknown key not reported: %v", err)
	}
}

func TestCredentialsStayOnTheAPIHost(t *testing.T) {
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Store(true)
		}
		_, _ = w.Write([]byte(`{"data": [{"id": 3}]}`))
	}))
	defer other.Close()
	api := &fakeAPI{hook: func(w http.ResponseWriter, r *http.Request, _ int) bool {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return true
		}
		_, _ = w.Write([]byte(`{"data": [{"id": 1}, {"id": 2}], "next": "` + other.URL + `/more"}`))
		return true
	}}
	h := newHarness(t, api)
	h.res["api"] = sdk.Resource{Type: "http", Config: map[string]string{"token": "tok"}}
	cfg := h.cfg(map[string]any{
		"auth":       map[string]any{"resource": "api"},
		"pagination": map[string]any{"type": "next_link", "next_path": "next"},
	})
	if err := h.run(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	if leaked.Load() {
		t.Error("the bearer token was sent to the host of a next link")
	}
	if md := h.materialized(); md["rows"] != 3 {
		t.Errorf("rows = %v, want 3", md["rows"])
	}
}

func TestEmptyBodyIsNoRecords(t *testing.T) {
	h := newHarness(t, &fakeAPI{hook: func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		w.WriteHeader(http.StatusNoContent)
		return true
	}})
	if err := h.run(context.Background(), h.cfg(nil), nil); err != nil {
		t.Fatal(err)
	}
	if md := h.materialized(); md["rows"] != 0 || md["pages"] != 1 {
		t.Errorf("metadata = %v", md)
	}
}

func TestEmptyWindowThenData(t *testing.T) {
	day := func(d int) *sdk.Partition {
		start := h0.AddDate(0, 0, d)
		return &sdk.Partition{Key: start.Format(time.DateOnly), Start: start, End: start.AddDate(0, 0, 1)}
	}
	var full atomic.Bool
	api := &fakeAPI{hook: func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		if !full.Load() {
			_, _ = w.Write([]byte(`{"data": []}`))
		} else {
			_, _ = w.Write([]byte(`{"data": [{"id": 1, "v": "x"}]}`))
		}
		return true
	}}
	h := newHarness(t, api)
	cfg := h.cfg(map[string]any{"window": map[string]any{"interval": "daily"}})
	if err := h.run(context.Background(), cfg, day(0)); err != nil {
		t.Fatal(err)
	}
	if h.tableExists() {
		t.Error("an empty first window created a table it could not know the columns of")
	}
	full.Store(true)
	if err := h.run(context.Background(), cfg, day(1)); err != nil {
		t.Fatal(err)
	}
	if got := h.query(`SELECT v FROM raw.items WHERE id = 1`); got != "x" {
		t.Errorf("v = %v", got)
	}
}
