package lineage

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// lineageCache keeps derived column lineage between runs, keyed by the
// SQL and the columns of every table it may read, so an unchanged asset
// needs no parsing (and no in-memory DuckDB) on the next run.
type lineageCache struct {
	path    string
	mu      sync.Mutex
	entries map[string]cacheEntry
	dirty   bool
}

type cacheEntry struct {
	Lineage *ColumnLineage `json:"lineage,omitempty"`
	Err     string         `json:"error,omitempty"`
}

// cacheVersion changes when the derivation changes, dropping old entries.
const cacheVersion = "1"

func openCache(path string) *lineageCache {
	c := &lineageCache{path: path, entries: map[string]cacheEntry{}}
	if path == "" {
		return c
	}
	if b, err := os.ReadFile(path); err == nil {
		var f struct {
			Version string                `json:"version"`
			Entries map[string]cacheEntry `json:"entries"`
		}
		if json.Unmarshal(b, &f) == nil && f.Version == cacheVersion && f.Entries != nil {
			c.entries = f.Entries
		}
	}
	return c
}

func (c *lineageCache) get(key string) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	return e, ok
}

func (c *lineageCache) put(key string, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[key] = e
	c.dirty = true
}

// save writes the cache when it changed (atomically: temp file, rename).
func (c *lineageCache) save() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.path == "" || !c.dirty {
		return
	}
	b, err := json.Marshal(map[string]any{"version": cacheVersion, "entries": c.entries})
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return
	}
	tmp := c.path + ".tmp"
	if os.WriteFile(tmp, b, 0o644) == nil {
		_ = os.Rename(tmp, c.path)
	}
	c.dirty = false
}

// cacheKey hashes the SQL, the output columns and the known columns of
// every asset whose table name occurs in the SQL (a superset of what the
// query reads).
func cacheKey(sql string, out []string, assets map[string]*Asset) string {
	h := sha256.New()
	h.Write([]byte(cacheVersion + "\x00" + sql + "\x00" + strings.Join(out, ",") + "\x00"))
	lower := strings.ToLower(sql)
	var names []string
	for n := range assets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := assets[n]
		if a.Declared {
			continue
		}
		parts := strings.Split(a.Dataset.Name, ".")
		if !strings.Contains(lower, strings.ToLower(parts[len(parts)-1])) {
			continue
		}
		h.Write([]byte(a.Dataset.Namespace + "/" + a.Dataset.Name + ":"))
		for _, c := range a.Columns {
			h.Write([]byte(c.Name + ","))
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
