// Package notify tells people about finished runs: a webhook that posts a
// Slack-compatible JSON body, or a command that gets the run as JSON on
// stdin and in ELT_NOTIFY_* variables.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/eltproject/elt/redact"
	"time"

	"github.com/eltproject/elt/process"
)

// Message describes a finished run.
type Message struct {
	Project  string            `json:"project"`
	RunID    string            `json:"run_id"`
	Status   string            `json:"status"`
	Trigger  string            `json:"trigger,omitempty"`
	Duration time.Duration     `json:"-"`
	Failed   []string          `json:"failed,omitempty"` // "asset: reason"
	Checks   []string          `json:"failed_checks,omitempty"`
	Error    string            `json:"error,omitempty"`
	Extra    map[string]string `json:"extra,omitempty"`
}

// Text is the one-paragraph summary used as the Slack "text".
func (m Message) Text() string {
	if m.RunID == "" {
		// Not about a run: a freshness sensor's warning, or its all-clear.
		icon := ":warning:"
		if m.Status == "fresh" {
			icon = ":white_check_mark:"
		}
		return fmt.Sprintf("%s elt %s in %s: %s", icon, m.Status, m.Project, m.Error)
	}
	var b strings.Builder
	icon := ":white_check_mark:"
	if m.Status != "succeeded" {
		icon = ":x:"
	}
	fmt.Fprintf(&b, "%s elt run %s in %s %s after %s", icon, m.RunID, m.Project, m.Status, m.Duration.Round(time.Millisecond))
	if m.Error != "" {
		fmt.Fprintf(&b, "\n%s", m.Error)
	}
	for _, f := range m.Failed {
		fmt.Fprintf(&b, "\n• %s", f)
	}
	for _, c := range m.Checks {
		fmt.Fprintf(&b, "\n• check %s", c)
	}
	return b.String()
}

// Webhook posts messages to a URL.
type Webhook struct {
	URL     string
	Headers map[string]string
	Client  *http.Client
	Timeout time.Duration
}

// Send posts {"text": …, "elt": {...}}: Slack, Mattermost and most chat
// webhooks show the text; other receivers read the "elt" object.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(map[string]any{"text": m.Text(), "elt": m})
	if err != nil {
		return err
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: bad URL", redact.URL(w.URL))
	}
	req.Header.Set("Content-Type", "application/json")
	keys := make([]string, 0, len(w.Headers))
	for k := range w.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		req.Header.Set(k, w.Headers[k])
	}
	c := w.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		// *url.Error would print the whole URL, token path included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook %s: %v", redact.URL(w.URL), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("webhook: %s answered %s", redact.URL(w.URL), resp.Status)
	}
	return nil
}

// Command runs a program with the message as JSON on stdin.
type Command struct {
	Argv  []string
	Shell string
	Env   []string
	Dir   string
	// Timeout ends a hung command (SIGTERM to it and everything it
	// started, then SIGKILL after Grace); 30s when 0.
	Timeout time.Duration
	// Grace between SIGTERM and SIGKILL; process.DefaultGrace when 0.
	Grace time.Duration
	// Redactor, when set, removes secrets from the output an error quotes.
	Redactor process.Redactor
}

// Send runs the command; a non-zero exit is an error with its output.
func (c *Command) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("timed out after %s", timeout))
	defer cancel()
	var out bytes.Buffer
	_, err = process.Run(ctx, &process.Proc{
		Argv:  c.Argv,
		Shell: c.Shell,
		Dir:   c.Dir,
		Env: append(append([]string{}, c.Env...),
			"ELT_NOTIFY_RUN_ID="+m.RunID, "ELT_NOTIFY_STATUS="+m.Status, "ELT_NOTIFY_TEXT="+m.Text()),
		Stdin:    bytes.NewReader(body),
		Output:   &out,
		Redactor: c.Redactor,
		Grace:    c.Grace,
	})
	if err != nil {
		return fmt.Errorf("notification command: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Sender is a webhook or a command.
type Sender interface {
	Send(ctx context.Context, m Message) error
}
