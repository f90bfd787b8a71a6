package report

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
)

var update = flag.Bool("update", false, "rewrite golden files")

func collector() *Collector {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	passed, failed := true, false
	c := &Collector{}
	for _, ev := range []engine.Event{
		{Type: engine.StepStarted, StepID: "raw.orders", Attempt: 1, Time: t0, Metadata: map[string]any{"assets": []string{"raw/orders"}}},
		{Type: engine.StepSucceeded, StepID: "raw.orders", Status: "succeeded", Time: t0.Add(1500 * time.Millisecond)},
		{Type: engine.CheckEvaluated, Asset: asset.MustKey("raw", "orders"), Check: "positive", Passed: &failed, Status: "failed", Blocking: true, Message: "2 rows fail <x> & \"y\"", Time: t0},
		{Type: engine.CheckEvaluated, Asset: asset.MustKey("raw", "orders"), Check: "soft", Passed: &failed, Status: "warn", Message: "warned", Time: t0},
		{Type: engine.CheckEvaluated, Asset: asset.MustKey("raw", "orders"), Check: "ok", Passed: &passed, Status: "passed", Time: t0},
		{Type: engine.StepStarted, StepID: "mart", Attempt: 2, Time: t0},
		{Type: engine.StepFailed, StepID: "mart", Status: "failed", Message: "exit status 3:\n  boom", Time: t0.Add(time.Second)},
		{Type: engine.StepSkipped, StepID: "after", Status: "skipped", Message: "upstream failed", Time: t0},
	} {
		c.Add(ev)
	}
	return c
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n%s", name, got)
	}
}

func TestJUnit(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJUnit(&b, "r1", collector(), 3*time.Second); err != nil {
		t.Fatal(err)
	}
	golden(t, "junit.golden.xml", b.Bytes())
	if !strings.Contains(b.String(), `&lt;x&gt; &amp; &#34;y&#34;`) {
		t.Error("XML not escaped")
	}
}

func TestGitHub(t *testing.T) {
	var b bytes.Buffer
	GitHubAnnotations(&b, collector())
	GitHubSummary(&b, "r1", "failed", collector(), 3*time.Second)
	golden(t, "github.golden.txt", b.Bytes())
	if !strings.Contains(b.String(), "::error title=elt step mart failed::exit status 3:%0A  boom") {
		t.Errorf("annotation not escaped:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "::error title=check raw/orders%3Apositive failed::2 rows") {
		t.Errorf("title property not escaped:\n%s", b.String())
	}
}
