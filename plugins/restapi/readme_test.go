package restapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/plugins/sdk"
)

// readmeBlock returns the first ```yaml block after heading in README.md.
func readmeBlock(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, heading)
	if i < 0 {
		t.Fatalf("README.md has no %q section", heading)
	}
	s = s[i:]
	start := strings.Index(s, "```yaml\n")
	if start < 0 {
		t.Fatalf("no yaml block under %q", heading)
	}
	s = s[start+len("```yaml\n"):]
	end := strings.Index(s, "```")
	if end < 0 {
		t.Fatal("unterminated yaml block")
	}
	return s[:end]
}

// TestReadmeExample runs the README's restapi block as written (only the
// API's host is the local test server's, and the token comes from the
// environment it names) for one hourly partition against an API that
// pages with the cursor the block configures.
func TestReadmeExample(t *testing.T) {
	block := readmeBlock(t, "### `restapi`")
	const token = "readme-token"
	block = strings.ReplaceAll(block, "${GITHUB_TOKEN}", token)
	var doc struct {
		Resources map[string]map[string]any `yaml:"resources"`
		Assets    []struct {
			Key        string `yaml:"key"`
			Partitions string `yaml:"partitions"`
			Plugin     struct {
				Name   string         `yaml:"name"`
				Config map[string]any `yaml:"config"`
			} `yaml:"plugin"`
		} `yaml:"assets"`
	}
	if err := yaml.Unmarshal([]byte(block), &doc); err != nil {
		t.Fatalf("README's restapi block: %v", err)
	}
	if len(doc.Assets) != 1 || doc.Assets[0].Plugin.Name != "restapi" || doc.Assets[0].Partitions != "hourly" {
		t.Fatalf("README's restapi block changed shape: %+v", doc.Assets)
	}

	// The API: /v1/events?since&until, data.items, meta.next, 3 pages.
	window := sdk.Partition{Key: "2024-01-02T03:00", Start: time.Date(2024, 1, 2, 3, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 2, 4, 0, 0, 0, time.UTC)}
	const pages, perPage = 3, 4
	var mu sync.Mutex
	var cursors []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		cursors = append(cursors, q.Get("cursor"))
		mu.Unlock()
		switch {
		case r.URL.Path != "/v1/events":
			http.Error(w, "no such path "+r.URL.Path, http.StatusNotFound)
			return
		case r.Header.Get("Authorization") != "Bearer "+token:
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		case q.Get("since") != "2024-01-02T03:00:00Z" || q.Get("until") != "2024-01-02T04:00:00Z":
			http.Error(w, "bad window "+q.Get("since")+".."+q.Get("until"), http.StatusBadRequest)
			return
		}
		// Like real cursor APIs: no cursor is page 1, an unknown one is an error.
		page := 0
		if c, ok := q["cursor"]; ok {
			n, err := strconv.Atoi(strings.TrimPrefix(c[0], "p"))
			if err != nil || !strings.HasPrefix(c[0], "p") || n < 1 || n >= pages {
				http.Error(w, "invalid cursor "+strconv.Quote(c[0]), http.StatusBadRequest)
				return
			}
			page = n
		}
		items := make([]map[string]any, perPage)
		for i := range items {
			n := page*perPage + i
			items[i] = map[string]any{"id": n, "type": fmt.Sprintf("kind-%d", n%2), "created_at": window.Start.Add(time.Duration(n) * time.Minute).Format(time.RFC3339)}
		}
		var next any
		if page+1 < pages {
			next = "p" + strconv.Itoa(page+1)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"items": items}, "meta": map[string]any{"next": next}})
	}))
	defer srv.Close()

	cfg := doc.Assets[0].Plugin.Config
	cfg["base_url"] = srv.URL
	dir := t.TempDir()
	res := map[string]sdk.Resource{}
	for name, r := range doc.Resources {
		c := map[string]string{}
		for k, v := range r {
			if k != "type" && k != "secret" {
				c[k] = fmt.Sprint(v)
			}
		}
		if r["type"] == "duckdb" {
			c["path"] = filepath.Join(dir, filepath.Base(c["path"]))
		}
		res[name] = sdk.Resource{Type: fmt.Sprint(r["type"]), Config: c}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	p := &Plugin{Now: func() time.Time { return window.End.Add(3 * time.Hour) }, HTTP: srv.Client()}
	err = p.Materialize(context.Background(), &sdk.Request{
		Assets: []asset.Key{asset.MustKey(strings.Split(doc.Assets[0].Key, "/")...)}, Partition: &window,
		Resources: res, Config: sdk.Config(b),
	}, func(ev engine.Event) {
		if ev.Type == engine.AssetMaterialized {
			md = ev.Metadata
		}
	})
	if err != nil {
		t.Fatalf("the README's restapi example fails: %v", err)
	}
	if got := strings.Join(cursors, ","); got != ",p1,p2" {
		t.Errorf("cursors sent = %q, want the three pages \",p1,p2\"", got)
	}
	if md["rows"] != pages*perPage {
		t.Errorf("rows = %v, want %d", md["rows"], pages*perPage)
	}
	h := &harness{t: t, db: res["warehouse"].Config["path"]}
	if n := h.query(`SELECT count(DISTINCT id) FROM raw.events WHERE kind IN ('kind-0', 'kind-1') AND created_at >= TIMESTAMP '2024-01-02 03:00:00'`); n != int64(pages*perPage) {
		t.Errorf("rows in raw.events with the README's fields = %v", n)
	}
}
