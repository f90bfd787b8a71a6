package lineagetest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Receiver is a local OpenLineage HTTP endpoint (POST /api/v1/lineage)
// that keeps every event it receives; it stops when the test ends.
type Receiver struct {
	// URL is the base URL to configure as the http transport's url.
	URL    string
	mu     sync.Mutex
	events [][]byte
}

// NewReceiver starts a receiver on the loopback interface.
func NewReceiver(t testing.TB) *Receiver {
	r := &Receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/api/v1/lineage" || req.Method != http.MethodPost {
			http.NotFound(w, req)
			return
		}
		b, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.events = append(r.events, b)
		r.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// Take returns the events received so far and forgets them.
func (r *Receiver) Take() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}
