package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The secret shapes a step may print or report, and how they are
// configured: a `secret:` setting, a password inside a URL-valued setting
// (written percent-encoded), and a `secret_env` variable.
const (
	leakPassword = "S3cr/t pw!"
	leakToken    = "tok-9f8e7d6c"
	leakURLOnly  = "urlonly-pw-77"
)

func leakShapes() map[string]string {
	return map[string]string{
		"password":             leakPassword,
		"password (path esc)":  url.PathEscape(leakPassword),
		"password (query esc)": url.QueryEscape(leakPassword),
		"password (userinfo)":  strings.TrimPrefix(url.UserPassword("u", leakPassword).String(), "u:"),
		"token":                leakToken,
	}
}

// TestSecretsReachNoChannel runs a step that writes every secret in every
// shape to stdout, stderr, its events file (as metadata values, metadata
// keys, nested lists, check and failure messages), then reads every output
// channel: console (plain and -o json), runs show -o json, runs logs, the
// step log files and everything else under .elt (SQLite store included),
// JUnit, the GitHub summary and annotations, and a notification command's
// input. Zero occurrences are allowed.
func TestSecretsReachNoChannel(t *testing.T) {
	enc := url.PathEscape(leakPassword)
	dir := newProject(t, `
name: leaks
secret_env: [LEAK_TOKEN]
resources:
  pg:
    type: postgres
    url: "postgres://loader:`+strings.ReplaceAll(enc, "%", "%%")+`@db.internal:5432/wh"
    password: "`+leakPassword+`"
    secret: [password]
  api:
    type: http
    url: "https://svc:`+leakURLOnly+`@api.internal/v1"
assets:
  - key: leaky
    command: sh leak.sh
    checks:
      - {name: pw_check, blocking: false}
notifications:
  - {type: command, command: "cat > notified.json"}
`)
	// elt.yaml's ${...} interpolation: %% is not special, undo the escape.
	b, _ := os.ReadFile(filepath.Join(dir, "elt.yaml"))
	os.WriteFile(filepath.Join(dir, "elt.yaml"), bytes.ReplaceAll(b, []byte("%%"), []byte("%")), 0o644)
	script := `echo "url=$ELT_RESOURCE_PG_URL api=$ELT_RESOURCE_API_URL"
echo "password=$ELT_RESOURCE_PG_PASSWORD token=$LEAK_TOKEN" >&2
printf 'encoded=%s query=%s\n' '` + enc + `' '` + url.QueryEscape(leakPassword) + `'
cat >> "$ELT_EVENTS_FILE" <<JSON
{"type":"materialization","metadata":{"$ELT_RESOURCE_PG_PASSWORD":"as key","nested":[["x",["$LEAK_TOKEN"]]],"url":"$ELT_RESOURCE_PG_URL","deep":{"$LEAK_TOKEN":{"k":"$ELT_RESOURCE_PG_PASSWORD"}}}}
{"type":"check","check":"pw_check","passed":false,"message":"saw $ELT_RESOURCE_PG_PASSWORD","metadata":{"$LEAK_TOKEN":1}}
{"type":"log","message":"log line $LEAK_TOKEN $ELT_RESOURCE_API_URL"}
JSON
echo "fatal: auth $ELT_RESOURCE_PG_PASSWORD $ELT_RESOURCE_PG_URL" >&2
exit 3
`
	if err := os.WriteFile(filepath.Join(dir, "leak.sh"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LEAK_TOKEN", leakToken)
	t.Setenv("GITHUB_ACTIONS", "true")
	summary := filepath.Join(dir, "summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	junit := filepath.Join(dir, "junit.xml")

	channels := map[string]string{}
	out, errOut, code := elt(t, dir, "run", "-o", "json", "--junit", junit)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (the step fails)\n%s\n%s", code, out, errOut)
	}
	channels["run -o json stdout (events, annotations)"] = out
	channels["run -o json stderr"] = errOut
	var runID string
	for _, line := range strings.Split(out, "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil && ev["type"] == "run_started" {
			runID, _ = ev["run_id"].(string)
		}
	}
	if runID == "" {
		t.Fatalf("no run_started event in\n%s", out)
	}
	out, errOut, _ = elt(t, dir, "run")
	channels["run (console) stdout"], channels["run (console) stderr"] = out, errOut
	out, errOut, _ = elt(t, dir, "runs", "show", runID, "-o", "json")
	channels["runs show -o json"] = out + errOut
	if !strings.Contains(out, "as key") {
		t.Fatalf("runs show -o json lacks the materialization metadata:\n%s", out)
	}
	out, errOut, _ = elt(t, dir, "runs", "show", runID)
	channels["runs show"] = out + errOut
	out, errOut, _ = elt(t, dir, "runs", "logs", runID)
	channels["runs logs"] = out + errOut
	if !strings.Contains(out, "db.internal") || !strings.Contains(out, "https://****@api.internal/v1") {
		t.Fatalf("the step log lacks the echoed URL (so the test proves nothing):\n%s", out)
	}
	for name, path := range map[string]string{"JUnit": junit, "GitHub summary": summary, "notification": filepath.Join(dir, "notified.json")} {
		b, err := os.ReadFile(path)
		if err != nil || len(b) == 0 {
			t.Fatalf("%s: %v (empty: %v)", name, err, len(b) == 0)
		}
		channels[name] = string(b)
	}
	// The store (SQLite file and its journal), step logs and anything else
	// elt keeps, read as raw bytes.
	filepath.WalkDir(filepath.Join(dir, ".elt"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			rel, _ := filepath.Rel(dir, path)
			channels[rel] = string(b)
		}
		return nil
	})

	total := 0
	for ch, text := range channels {
		for shape, s := range leakShapes() {
			if n := strings.Count(text, s); n > 0 {
				total += n
				t.Errorf("%s: %d occurrence(s) of the %s", ch, n, shape)
			}
		}
	}
	if !strings.Contains(channels["runs logs"], "****") {
		t.Errorf("the step log shows no placeholder:\n%s", channels["runs logs"])
	}
	t.Logf("secret occurrences across %d channels: %d", len(channels), total)
}
