package sdk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/plugins/sdk/pluginpb"
	"github.com/hashicorp/go-plugin"
)

// echo is a test double plugin that reports what it received.
type echo struct{}

func (echo) Describe(_ context.Context, cfg Config) ([]asset.Spec, error) {
	var c struct{ Name string }
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	return []asset.Spec{{
		Key: asset.MustKey("raw", c.Name), Deps: []asset.Key{asset.MustKey("src")}, Group: "g", Kinds: []string{"api"},
		Metadata: map[string]any{"n": 1.0}, Partitions: "daily", CodeVersion: "v1",
		Checks: []asset.CheckSpec{{Name: "c1", Blocking: true, Severity: "error", Description: "d", Metadata: map[string]any{"x": "y"}}},
	}}, nil
}

func (echo) Materialize(ctx context.Context, req *Request, emit engine.Emitter) error {
	if string(req.Config) == `"fail"` {
		return errors.New("told to fail")
	}
	for _, k := range req.Assets {
		emit(engine.Materialized(k, map[string]any{
			"partition": req.Partition.Key,
			"start":     req.Partition.Start.Format(time.RFC3339),
			"secret":    req.Resources["r"].Config["k"],
			"step_dir":  req.StepDir,
		}))
	}
	return nil
}

func (echo) Check(_ context.Context, req *CheckRequest) (engine.CheckResult, error) {
	return engine.CheckResult{Passed: true, Severity: "warn", Message: req.Asset.String() + "/" + req.Check, Metadata: req.Metadata}, nil
}

// connect serves p over protocol version (1 or 2) in process.
func connect(t *testing.T, p Plugin, version int) *Client {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, VersionedPlugins(p)[version])
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(PluginName)
	if err != nil {
		t.Fatal(err)
	}
	c := raw.(*Client)
	if c.Version() != version {
		t.Fatalf("client speaks version %d, want %d", c.Version(), version)
	}
	return c
}

// eachVersion runs f for every protocol version.
func eachVersion(t *testing.T, f func(t *testing.T, version int)) {
	for _, v := range ProtocolVersions {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) { f(t, v) })
	}
}

func TestRoundTrip(t *testing.T) { eachVersion(t, testRoundTrip) }

func testRoundTrip(t *testing.T, version int) {
	c := connect(t, echo{}, version)
	ctx := context.Background()

	specs, err := c.Describe(ctx, Config(`{"name": "orders"}`))
	if err != nil {
		t.Fatal(err)
	}
	s := specs[0]
	if s.Key.String() != "raw/orders" || s.Deps[0].String() != "src" || s.Partitions != "daily" || s.CodeVersion != "v1" ||
		s.Metadata["n"] != 1.0 || s.Checks[0].Name != "c1" || !s.Checks[0].Blocking || s.Checks[0].Metadata["x"] != "y" {
		t.Errorf("spec = %+v", s)
	}
	if _, err := c.Describe(ctx, Config(`{"nmae": "x"}`)); err == nil || !strings.Contains(err.Error(), "nmae") {
		t.Errorf("unknown config key: err = %v", err)
	}

	start := time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC)
	var got []engine.Event
	err = c.Materialize(ctx, &Request{
		Assets:    []asset.Key{asset.MustKey("a"), asset.MustKey("b")},
		Partition: &Partition{Key: "2024-03-09", Start: start, End: start.Add(24 * time.Hour)},
		Resources: map[string]Resource{"r": {Type: "http", Config: map[string]string{"k": "v"}, Secret: []string{"k"}}},
		StepDir:   "/tmp/x",
	}, func(ev engine.Event) { got = append(got, ev) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Asset.String() != "b" || got[0].Metadata["partition"] != "2024-03-09" ||
		got[0].Metadata["start"] != "2024-03-09T00:00:00Z" || got[0].Metadata["secret"] != "v" || got[0].Metadata["step_dir"] != "/tmp/x" {
		t.Errorf("events = %+v", got)
	}

	err = c.Materialize(ctx, &Request{Config: Config(`"fail"`)}, func(engine.Event) {})
	var remote *RemoteError
	if !errors.As(err, &remote) || remote.Msg != "told to fail" {
		t.Errorf("err = %#v, want RemoteError(told to fail)", err)
	}

	r, err := c.Check(ctx, &CheckRequest{Asset: asset.MustKey("a"), Check: "c1", Metadata: map[string]any{"q": "z"}})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Passed || r.Severity != "warn" || r.Message != "a/c1" || r.Metadata["q"] != "z" {
		t.Errorf("check = %+v", r)
	}
}

func TestCheckUnimplemented(t *testing.T) {
	eachVersion(t, func(t *testing.T, version int) {
		c := connect(t, struct{ Plugin }{echo{}}, version) // hides echo's Check
		_, err := c.Check(context.Background(), &CheckRequest{Asset: asset.MustKey("a"), Check: "c"})
		if err == nil || !strings.Contains(err.Error(), "does not implement sdk.Checker") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		in   string
		want engine.EventType
		err  string
	}{
		{`{"type": "log", "message": "hi"}`, engine.Log, ""},
		{`{"type": "asset_materialized", "asset": ["a", "b"], "metadata": {"rows": 3}}`, engine.AssetMaterialized, ""},
		{`{"type": "asset_failed", "asset": ["a"], "message": "x"}`, engine.AssetFailed, ""},
		{`{"type": "check_evaluated", "asset": ["a"], "check": "c", "passed": false}`, engine.CheckEvaluated, ""},
		{`{"type": "asset_materialized"}`, "", "without \"asset\""},
		{`{"type": "check_evaluated", "asset": ["a"], "check": "c"}`, "", "needs"},
		{`{"type": "run_succeeded"}`, "", "plugins send"},
		{`{"type": "log", "asset": ["a", ""]}`, "", "plugin event"},
		{`[`, "", "plugin event"},
	}
	for _, tt := range tests {
		ev, err := DecodeEvent([]byte(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("DecodeEvent(%s) err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || ev.Type != tt.want {
			t.Errorf("DecodeEvent(%s) = %v, %v", tt.in, ev.Type, err)
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add(`{"type": "check_evaluated", "asset": ["a"], "check": "c", "passed": true}`)
	f.Add(`{"type": "asset_materialized", "asset": "a/b"}`)
	f.Add(`{"type": "log"}`)
	f.Fuzz(func(t *testing.T, s string) {
		ev, err := DecodeEvent([]byte(s))
		if err != nil {
			return
		}
		switch ev.Type {
		case engine.Log:
		case engine.AssetMaterialized, engine.AssetFailed:
			if ev.Asset.IsZero() {
				t.Errorf("accepted %s without an asset", ev.Type)
			}
		case engine.CheckEvaluated:
			if ev.Asset.IsZero() || ev.Check == "" || ev.Passed == nil {
				t.Errorf("accepted an incomplete check event: %+v", ev)
			}
		default:
			t.Errorf("accepted event type %q", ev.Type)
		}
	})
}

func TestConfigDecode(t *testing.T) {
	var v struct{ A int }
	if err := Config(nil).Decode(&v); err != nil || v.A != 0 {
		t.Errorf("empty config: %v", err)
	}
	if err := Config(`{"A": 2}`).Decode(&v); err != nil || v.A != 2 {
		t.Errorf("decode: %v, %d", err, v.A)
	}
	if err := Config(`{"B": 2}`).Decode(&v); err == nil {
		t.Error("unknown field accepted")
	}
}

func TestHandshake(t *testing.T) {
	h := Handshake()
	if h.MagicCookieKey != "ELT_PLUGIN" || h.ProtocolVersion != 2 || h.MagicCookieValue == "" {
		t.Errorf("handshake = %+v", h)
	}
}

// waiter is a test double that blocks until its context ends and reports
// that it saw the cancellation.
type waiter struct {
	echo
	saw chan error
}

func (w waiter) Materialize(ctx context.Context, _ *Request, _ engine.Emitter) error {
	<-ctx.Done()
	w.saw <- ctx.Err()
	return ctx.Err()
}

func TestCancellationReachesThePlugin(t *testing.T) {
	w := waiter{saw: make(chan error, 1)}
	c := connect(t, w, ProtocolVersion)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := c.Materialize(ctx, &Request{}, func(engine.Event) {})
	if err == nil {
		t.Fatal("want an error from a cancelled call")
	}
	select {
	case perr := <-w.saw:
		if perr == nil {
			t.Error("the plugin's context ended without an error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the plugin never saw the cancellation")
	}
}

func TestEventFromPB(t *testing.T) {
	yes := true
	key := &pluginpb.AssetKey{Parts: []string{"a", "b"}}
	tests := []struct {
		name string
		in   *pluginpb.Event
		err  string
	}{
		{"log", &pluginpb.Event{Type: pluginpb.EventType_EVENT_TYPE_LOG, Message: "hi"}, ""},
		{"materialized", &pluginpb.Event{Type: pluginpb.EventType_EVENT_TYPE_ASSET_MATERIALIZED, Asset: key, MetadataJson: []byte(`{"rows": 3}`)}, ""},
		{"check", &pluginpb.Event{Type: pluginpb.EventType_EVENT_TYPE_CHECK_EVALUATED, Asset: key, Check: "c", Passed: &yes}, ""},
		{"no type", &pluginpb.Event{Message: "x"}, "EVENT_TYPE_UNSPECIFIED"},
		{"unknown type", &pluginpb.Event{Type: 42}, "plugins send log"},
		{"materialized without asset", &pluginpb.Event{Type: pluginpb.EventType_EVENT_TYPE_ASSET_MATERIALIZED}, "without \"asset\""},
		{"empty key part", &pluginpb.Event{Type: pluginpb.EventType_EVENT_TYPE_ASSET_FAILED, Asset: &pluginpb.AssetKey{Parts: []string{"a", ""}}}, "asset key"},
		{"check without passed", &pluginpb.Event{Type: pluginpb.EventType_EVENT_TYPE_CHECK_EVALUATED, Asset: key, Check: "c"}, "needs"},
		{"metadata not an object", &pluginpb.Event{Type: pluginpb.EventType_EVENT_TYPE_LOG, MetadataJson: []byte(`[1]`)}, "metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := eventFromPB(tt.in)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				back, err := eventToPB(ev)
				if err != nil || back.GetType() != tt.in.GetType() || back.GetAsset().String() != tt.in.GetAsset().String() {
					t.Errorf("round trip: %v, %v", back, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("err = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestVersionMismatch(t *testing.T) {
	err := VersionMismatch(errors.New("Incompatible API version with plugin. Plugin version: 7, Client versions: [1 2]"))
	var v *VersionError
	if !errors.As(err, &v) || v.Plugin != 7 || !strings.Contains(err.Error(), "versions 1 and 2") {
		t.Errorf("err = %v", err)
	}
	for _, other := range []string{"exec: no such file", "incompatible api version", "plugin exited before we could connect"} {
		if err := VersionMismatch(errors.New(other)); err != nil {
			t.Errorf("%q read as a version mismatch: %v", other, err)
		}
	}
}
