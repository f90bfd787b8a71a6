package restapi

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/plugins/sdk"
)

// fakeAPI is a test double of a paginated JSON API serving recs in the
// pagination style named by style.
type fakeAPI struct {
	t        testing.TB
	recs     []map[string]any
	style    string
	pageSize int
	// hook runs first for request n (1-based); returning true means it
	// wrote the response.
	hook func(w http.ResponseWriter, r *http.Request, n int) bool

	mu      sync.Mutex
	queries []url.Values
	headers []http.Header
}

func (a *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.queries = append(a.queries, r.URL.Query())
	a.headers = append(a.headers, r.Header.Clone())
	n := len(a.queries)
	hook := a.hook
	a.mu.Unlock()
	if hook != nil && hook(w, r, n) {
		return
	}
	q := r.URL.Query()
	atoi := func(k string, def int) int {
		if v := q.Get(k); v != "" {
			i, err := strconv.Atoi(v)
			if err != nil {
				http.Error(w, "bad "+k, 400)
				return -1
			}
			return i
		}
		return def
	}
	ps := a.pageSize
	from := 0
	switch a.style {
	case "cursor":
		from = atoi("cursor", 0)
	case "next_link", "link_header":
		from = atoi("pos", 0)
	case "page":
		ps = atoi("per_page", ps)
		from = (atoi("page", 1) - 1) * ps
	case "offset":
		ps = atoi("limit", ps)
		from = atoi("offset", 0)
	default:
		ps = len(a.recs)
	}
	if from < 0 || ps < 0 {
		return
	}
	to := min(from+ps, len(a.recs))
	from = min(from, to)
	body := map[string]any{"data": a.recs[from:to]}
	more := to < len(a.recs)
	switch a.style {
	case "cursor":
		var next any
		if more {
			next = strconv.Itoa(to)
		}
		body["meta"] = map[string]any{"next_cursor": next}
	case "next_link":
		if more {
			body["links"] = map[string]any{"next": "/items?pos=" + strconv.Itoa(to)}
		}
	case "link_header":
		if more {
			w.Header().Add("Link", fmt.Sprintf(`<http://%s/items?pos=%d>; rel="next", <http://%s/items?pos=0>; rel="first"`, r.Host, to, r.Host))
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(body); err != nil {
		a.t.Errorf("fake API: %v", err)
	}
}

// setHook replaces the hook between runs.
func (a *fakeAPI) setHook(h func(w http.ResponseWriter, r *http.Request, n int) bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hook = h
}

func (a *fakeAPI) requests() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.queries)
}

func makeRecords(n int, start time.Time, step time.Duration) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{
			"id":     i + 1,
			"name":   fmt.Sprintf("item-%d", i+1),
			"amount": float64(i) + 0.5,
			"active": i%2 == 0,
			"at":     start.Add(time.Duration(i) * step).UTC().Format(time.RFC3339),
			"tags":   []string{"a"},
		}
	}
	return out
}

// harness runs the plugin in-process against a fake API and a DuckDB file.
type harness struct {
	t      *testing.T
	api    *fakeAPI
	srv    *httptest.Server
	db     string
	now    time.Time
	res    map[string]sdk.Resource
	events []engine.Event
}

func newHarness(t *testing.T, api *fakeAPI) *harness {
	t.Helper()
	api.t = t
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	h := &harness{t: t, api: api, srv: srv, db: filepath.Join(t.TempDir(), "wh.duckdb"),
		now: time.Date(2024, 3, 10, 12, 30, 0, 0, time.UTC)}
	h.res = map[string]sdk.Resource{"warehouse": {Type: "duckdb", Config: map[string]string{"path": h.db}}}
	return h
}

// cfg returns a base configuration merged with over.
func (h *harness) cfg(over map[string]any) map[string]any {
	c := map[string]any{
		"base_url":      h.srv.URL,
		"path":          "/items",
		"records":       "data",
		"destination":   map[string]any{"resource": "warehouse", "table": "raw/items"},
		"retry_backoff": "10ms",
	}
	for k, v := range over {
		c[k] = v
	}
	return c
}

func (h *harness) run(ctx context.Context, cfg map[string]any, part *sdk.Partition) error {
	h.t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	p := &Plugin{Now: func() time.Time { return h.now }, HTTP: h.srv.Client()}
	h.events = nil
	var mu sync.Mutex
	return p.Materialize(ctx, &sdk.Request{
		Assets:    []asset.Key{asset.MustKey("raw", "items")},
		Partition: part,
		Resources: h.res,
		Config:    sdk.Config(b),
	}, func(ev engine.Event) {
		mu.Lock()
		defer mu.Unlock()
		h.events = append(h.events, ev)
	})
}

// materialized returns the metadata of the materialization event.
func (h *harness) materialized() map[string]any {
	h.t.Helper()
	for _, ev := range h.events {
		if ev.Type == engine.AssetMaterialized {
			return ev.Metadata
		}
	}
	h.t.Fatalf("no materialization event in %v", h.events)
	return nil
}

// query runs a one-value query on the destination.
func (h *harness) query(q string) any {
	h.t.Helper()
	db, err := sql.Open("duckdb", h.db)
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	var v any
	if err := db.QueryRow(q).Scan(&v); err != nil {
		h.t.Fatalf("%s: %v", q, err)
	}
	return v
}

func (h *harness) tableExists() bool {
	n := h.query(`SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw' AND table_name = 'items'`)
	return n.(int64) > 0
}
