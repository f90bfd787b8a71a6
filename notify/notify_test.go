package notify

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/process"
)

func TestWebhookSendsSlackBodyAndHeaders(t *testing.T) {
	var got string
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, auth = string(b), r.Header.Get("Authorization")
	}))
	defer srv.Close()
	w := &Webhook{URL: srv.URL, Headers: map[string]string{"Authorization": "Bearer x"}}
	m := Message{Project: "p", RunID: "r1", Status: "failed", Duration: 1500 * time.Millisecond, Failed: []string{"raw/orders"}}
	if err := w.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, `"text":":x: elt run r1 in p failed after 1.5s\n• raw/orders"`) || !strings.Contains(got, `"elt":{`) || auth != "Bearer x" {
		t.Fatalf("body %s auth %q", got, auth)
	}
}

func TestWebhookErrorHidesTokenPath(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) }))
	defer srv.Close()
	err := (&Webhook{URL: srv.URL + "/services/T0/B0/SECRETTOKEN"}).Send(context.Background(), Message{})
	if err == nil || strings.Contains(err.Error(), "SECRETTOKEN") || !strings.Contains(err.Error(), "403") {
		t.Fatalf("err = %v", err)
	}
}

func TestCommandGetsJSON(t *testing.T) {
	dir := t.TempDir()
	c := &Command{Shell: "cat > msg.json; echo $ELT_NOTIFY_STATUS > status", Dir: dir}
	if err := c.Send(context.Background(), Message{RunID: "r2", Status: "failed"}); err != nil {
		t.Fatal(err)
	}
	if err := (&Command{Shell: "echo nope >&2; exit 4", Dir: dir}).Send(context.Background(), Message{}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("failing command: %v", err)
	}
}

func TestMain(m *testing.M) {
	process.Main()
	os.Exit(m.Run())
}

// TestCommandTimeoutTermThenGrace: a hung notification command gets
// SIGTERM and its grace period to finish (it used to be SIGKILLed at once).
func TestCommandTimeoutTermThenGrace(t *testing.T) {
	dir := t.TempDir()
	c := &Command{
		Shell:   `trap 'echo got TERM > term; exit 0' TERM; echo started; while :; do sleep 0.02; done`,
		Dir:     dir,
		Timeout: 200 * time.Millisecond,
		Grace:   2 * time.Second,
	}
	err := c.Send(context.Background(), Message{RunID: "r3", Status: "failed"})
	if err == nil || !strings.Contains(err.Error(), "timed out after 200ms") || !strings.Contains(err.Error(), "started") {
		t.Fatalf("err = %v", err)
	}
	b, rerr := os.ReadFile(filepath.Join(dir, "term"))
	if rerr != nil || string(b) != "got TERM\n" {
		t.Errorf("the command got no SIGTERM and grace: %q %v", b, rerr)
	}
}

// TestCommandTimeoutKillsAfterGrace: a command that ignores SIGTERM is
// killed once the grace period is over.
func TestCommandTimeoutKillsAfterGrace(t *testing.T) {
	start := time.Now()
	c := &Command{Shell: `trap '' TERM; while :; do sleep 0.02; done`, Timeout: 100 * time.Millisecond, Grace: 300 * time.Millisecond}
	if err := c.Send(context.Background(), Message{}); err == nil {
		t.Fatal("no error")
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 5*time.Second {
		t.Errorf("took %s, want timeout + grace", d)
	}
}
