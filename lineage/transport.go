package lineage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
)

// Transport sends one serialized event.
type Transport interface {
	Send(ctx context.Context, event []byte) error
	// Retryable reports whether a failed Send may succeed later.
	Retryable(err error) bool
	Close() error
}

// NewTransport makes the configured transport. Relative file paths
// resolve from dir; console writes to stdout.
func NewTransport(c TransportConfig, dir string, stdout io.Writer) (Transport, error) {
	switch c.Type {
	case "http":
		timeout := c.Timeout
		if timeout <= 0 {
			timeout = defaultHTTPTimeout
		}
		// A write buffer that holds a whole event with its headers: one
		// write (one TCP segment train) per event instead of one per 4 KB.
		rt := http.DefaultTransport.(*http.Transport).Clone()
		rt.WriteBufferSize = httpWriteBuffer
		return &httpTransport{url: c.endpointURL(), key: c.APIKey, client: &http.Client{Timeout: timeout, Transport: rt}}, nil
	case "file":
		p := c.Path
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, fmt.Errorf("openlineage: %w", err)
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, fmt.Errorf("openlineage: %w", err)
		}
		return &writerTransport{w: f, c: f}, nil
	case "console":
		return &writerTransport{w: stdout}, nil
	}
	return nil, fmt.Errorf("openlineage: transport type %q is not http, file or console", c.Type)
}

// httpWriteBuffer is the HTTP transport's write buffer: larger than most
// events (a step COMPLETE with schema and column lineage is 2–20 KB).
const httpWriteBuffer = 64 << 10

// httpTransport POSTs each event as JSON.
type httpTransport struct {
	url    string
	key    string
	client *http.Client
}

// statusError is a non-2xx answer of the receiver.
type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("receiver answered HTTP %d", e.code) }

func (t *httpTransport) Send(ctx context.Context, event []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(event))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if t.key != "" {
		req.Header.Set("Authorization", "Bearer "+t.key)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		// The error names the URL, never the key (it is in a header).
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return &statusError{resp.StatusCode}
	}
	return nil
}

func (t *httpTransport) Retryable(err error) bool {
	if se, ok := err.(*statusError); ok {
		return se.code >= 500 || se.code == http.StatusTooManyRequests || se.code == http.StatusRequestTimeout
	}
	return true
}

func (t *httpTransport) Close() error { t.client.CloseIdleConnections(); return nil }

// writerTransport appends JSON lines to a file or stdout.
type writerTransport struct {
	mu sync.Mutex
	w  io.Writer
	c  io.Closer
}

func (t *writerTransport) Send(_ context.Context, event []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	line := append(append(make([]byte, 0, len(event)+1), event...), '\n')
	_, err := t.w.Write(line)
	return err
}

func (t *writerTransport) Retryable(error) bool { return false }

func (t *writerTransport) Close() error {
	if t.c != nil {
		return t.c.Close()
	}
	return nil
}
