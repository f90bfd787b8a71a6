package sdk

// Wire format. elt plugins speak gRPC over hashicorp/go-plugin (magic
// cookie ELT_PLUGIN). Version 2, the current one, is the service of
// proto/elt/plugin/v2/plugin.proto (Go code in package pluginpb): typed
// messages, with JSON only where the schema is open (the plugin's config,
// metadata). Version 1 (protocol_v1.go: JSON inside BytesValue) is still
// served and spoken, so plugins and hosts of either generation work
// together; go-plugin picks the highest version both sides know. A plugin
// error ends a call with a gRPC status whose message is the error text.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/eltproject/elt/plugins/sdk/pluginpb"
)

// Handshake values shared by the host and every plugin.
const (
	// ProtocolVersion is the newest protocol version; every version in
	// ProtocolVersions is served by plugins and spoken by the host.
	ProtocolVersion  = 2
	MagicCookieKey   = "ELT_PLUGIN"
	MagicCookieValue = "elt-plugin-v1-8c1f0d6e"
	// PluginName is the name the host dispenses.
	PluginName = "elt"
	// ServiceName is the current gRPC service's full name.
	ServiceName = "elt.plugin.v2.Plugin"
)

// ProtocolVersions lists the protocol versions this SDK speaks, oldest
// first.
var ProtocolVersions = []int{1, 2}

// Handshake returns the go-plugin handshake configuration.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{ProtocolVersion: ProtocolVersion, MagicCookieKey: MagicCookieKey, MagicCookieValue: MagicCookieValue}
}

// VersionedPlugins returns go-plugin's plugin sets for every protocol
// version, serving impl (nil on the host side).
func VersionedPlugins(impl Plugin) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		1: {PluginName: &grpcPluginV1{Impl: impl}},
		2: {PluginName: &GRPCPlugin{Impl: impl}},
	}
}

// VersionError is a plugin that speaks no protocol version this host
// speaks.
type VersionError struct {
	Plugin int // the plugin's version
}

// Error says which versions each side speaks and what to do.
func (e *VersionError) Error() string {
	vs := make([]string, len(ProtocolVersions))
	for i, v := range ProtocolVersions {
		vs[i] = strconv.Itoa(v)
	}
	return fmt.Sprintf("it speaks plugin protocol version %d, and this elt speaks versions %s; rebuild the plugin with this elt's plugins/sdk (or implement proto/elt/plugin/v2/plugin.proto), or upgrade elt",
		e.Plugin, strings.Join(vs, " and "))
}

// VersionMismatch returns a *VersionError when err is go-plugin's refusal
// of the plugin's protocol version at the handshake (go-plugin has no
// typed error for it), else nil.
func VersionMismatch(err error) error {
	msg := strings.ToLower(err.Error())
	i := strings.Index(msg, "incompatible api version")
	if i < 0 {
		return nil
	}
	var v int
	j := strings.Index(msg[i:], "plugin version:")
	if j < 0 {
		return nil
	}
	if _, serr := fmt.Sscanf(msg[i+j:], "plugin version: %d", &v); serr != nil {
		return nil
	}
	return &VersionError{Plugin: v}
}

// GRPCPlugin is the go-plugin glue of protocol version 2: the plugin side
// serves Impl, the host side gets a *Client from Dispense.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Plugin // nil on the host side
}

// GRPCServer registers the service for Impl.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginpb.RegisterPluginServer(s, &serverV2{impl: p.Impl})
	return nil
}

// GRPCClient returns a *Client on conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &Client{rpc: pluginpb.NewPluginClient(conn)}, nil
}

// Client is the host side of the service, returned by go-plugin's
// Dispense, for whichever protocol version the plugin speaks.
type Client struct {
	rpc pluginpb.PluginClient // version 2
	v1  *grpc.ClientConn      // version 1
}

// Version returns the protocol version spoken with the plugin.
func (c *Client) Version() int {
	if c.rpc != nil {
		return 2
	}
	return 1
}

// Describe asks the plugin for the assets it materializes under cfg.
func (c *Client) Describe(ctx context.Context, cfg Config) ([]asset.Spec, error) {
	if c.rpc == nil {
		return c.describeV1(ctx, cfg)
	}
	resp, err := c.rpc.Describe(ctx, &pluginpb.DescribeRequest{ConfigJson: cfg})
	if err != nil {
		return nil, callError(err)
	}
	specs := make([]asset.Spec, 0, len(resp.GetAssets()))
	for _, w := range resp.GetAssets() {
		s, err := specFromPB(w)
		if err != nil {
			return nil, fmt.Errorf("describe response: %w", err)
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// Materialize runs req in the plugin, calling emit for every event as it
// arrives, and returns the plugin's error.
func (c *Client) Materialize(ctx context.Context, req *Request, emit engine.Emitter) error {
	if c.rpc == nil {
		return c.materializeV1(ctx, req, emit)
	}
	stream, err := c.rpc.Materialize(ctx, &pluginpb.MaterializeRequest{
		RunId: req.RunID, StepId: req.StepID, Attempt: int32(req.Attempt), Assets: keysToPB(req.Assets),
		Partition: partitionToPB(req.Partition), Resources: resourcesToPB(req.Resources),
		ProjectDir: req.ProjectDir, StepDir: req.StepDir, ConfigJson: req.Config,
	})
	if err != nil {
		return callError(err)
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return callError(err)
		}
		ev, err := eventFromPB(msg)
		if err != nil {
			return err
		}
		emit(ev)
	}
}

// Check asks the plugin to evaluate one check.
func (c *Client) Check(ctx context.Context, req *CheckRequest) (engine.CheckResult, error) {
	if c.rpc == nil {
		return c.checkV1(ctx, req)
	}
	md, err := marshalObject(req.Metadata)
	if err != nil {
		return engine.CheckResult{}, err
	}
	r, err := c.rpc.Check(ctx, &pluginpb.CheckRequest{
		RunId: req.RunID, Asset: keyToPB(req.Asset), Check: req.Check, MetadataJson: md,
		Partition: partitionToPB(req.Partition), ProjectDir: req.ProjectDir, Resources: resourcesToPB(req.Resources),
		LastMaterialized: timeToPB(req.LastMaterialized), ConfigJson: req.Config,
	})
	if err != nil {
		return engine.CheckResult{}, callError(err)
	}
	out := engine.CheckResult{Passed: r.GetPassed(), Severity: r.GetSeverity(), Message: r.GetMessage()}
	if out.Metadata, err = unmarshalObject(r.GetMetadataJson()); err != nil {
		return engine.CheckResult{}, fmt.Errorf("check response: metadata: %w", err)
	}
	return out, nil
}

// serverV2 is the plugin side of version 2.
type serverV2 struct {
	pluginpb.UnimplementedPluginServer
	impl Plugin
}

func (s *serverV2) Describe(ctx context.Context, in *pluginpb.DescribeRequest) (*pluginpb.DescribeResponse, error) {
	specs, err := s.impl.Describe(ctx, Config(in.GetConfigJson()))
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	resp := &pluginpb.DescribeResponse{Assets: make([]*pluginpb.AssetSpec, 0, len(specs))}
	for _, sp := range specs {
		w, err := specToPB(sp)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "asset %s: %v", sp.Key, err)
		}
		resp.Assets = append(resp.Assets, w)
	}
	return resp, nil
}

func (s *serverV2) Materialize(in *pluginpb.MaterializeRequest, stream grpc.ServerStreamingServer[pluginpb.Event]) error {
	req := &Request{
		RunID: in.GetRunId(), StepID: in.GetStepId(), Attempt: int(in.GetAttempt()), Partition: partitionFromPB(in.GetPartition()),
		Resources: resourcesFromPB(in.GetResources()), ProjectDir: in.GetProjectDir(), StepDir: in.GetStepDir(), Config: Config(in.GetConfigJson()),
	}
	var err error
	if req.Assets, err = keysFromPB(in.GetAssets()); err != nil {
		return status.Errorf(codes.InvalidArgument, "materialize request: %v", err)
	}
	var (
		mu      sync.Mutex
		sendErr error
	)
	emit := func(ev engine.Event) {
		mu.Lock()
		defer mu.Unlock()
		if sendErr != nil {
			return
		}
		msg, err := eventToPB(ev)
		if err == nil {
			err = stream.Send(msg)
		}
		sendErr = err
	}
	err = s.impl.Materialize(stream.Context(), req, emit)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case err != nil:
		return status.Error(codes.Unknown, err.Error())
	case sendErr != nil:
		return status.Errorf(codes.Internal, "sending event: %v", sendErr)
	}
	return nil
}

func (s *serverV2) Check(ctx context.Context, in *pluginpb.CheckRequest) (*pluginpb.CheckResponse, error) {
	c, ok := s.impl.(Checker)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this plugin does not evaluate checks (it does not implement sdk.Checker)")
	}
	req := &CheckRequest{
		RunID: in.GetRunId(), Check: in.GetCheck(), Partition: partitionFromPB(in.GetPartition()), ProjectDir: in.GetProjectDir(),
		Resources: resourcesFromPB(in.GetResources()), LastMaterialized: timeFromPB(in.GetLastMaterialized()), Config: Config(in.GetConfigJson()),
	}
	var err error
	if req.Asset, err = keyFromPB(in.GetAsset()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "check request: %v", err)
	}
	if req.Metadata, err = unmarshalObject(in.GetMetadataJson()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "check request: metadata: %v", err)
	}
	r, err := c.Check(ctx, req)
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	md, err := marshalObject(r.Metadata)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "check metadata: %v", err)
	}
	return &pluginpb.CheckResponse{Passed: r.Passed, Severity: r.Severity, Message: r.Message, MetadataJson: md}, nil
}

// eventTypes maps the engine's event types a plugin may send to the wire.
var eventTypes = map[engine.EventType]pluginpb.EventType{
	engine.Log:               pluginpb.EventType_EVENT_TYPE_LOG,
	engine.AssetMaterialized: pluginpb.EventType_EVENT_TYPE_ASSET_MATERIALIZED,
	engine.AssetFailed:       pluginpb.EventType_EVENT_TYPE_ASSET_FAILED,
	engine.CheckEvaluated:    pluginpb.EventType_EVENT_TYPE_CHECK_EVALUATED,
}

func eventToPB(ev engine.Event) (*pluginpb.Event, error) {
	t, ok := eventTypes[ev.Type]
	if !ok {
		return nil, fmt.Errorf("event of type %q: plugins send log, asset_materialized, asset_failed or check_evaluated", ev.Type)
	}
	md, err := marshalObject(ev.Metadata)
	if err != nil {
		return nil, err
	}
	out := &pluginpb.Event{Type: t, Check: ev.Check, Passed: ev.Passed, Severity: ev.Severity, Status: ev.Status, Message: ev.Message, MetadataJson: md}
	if !ev.Asset.IsZero() {
		out.Asset = keyToPB(ev.Asset)
	}
	return out, nil
}

func eventFromPB(m *pluginpb.Event) (engine.Event, error) {
	ev := engine.Event{Check: m.GetCheck(), Severity: m.GetSeverity(), Status: m.GetStatus(), Message: m.GetMessage()}
	for et, pt := range eventTypes {
		if pt == m.GetType() {
			ev.Type = et
		}
	}
	if ev.Type == "" {
		return engine.Event{}, fmt.Errorf("plugin event of type %s: plugins send log, asset_materialized, asset_failed or check_evaluated", m.GetType())
	}
	if m.Passed != nil {
		p := m.GetPassed()
		ev.Passed = &p
	}
	var err error
	if m.GetAsset() != nil {
		if ev.Asset, err = keyFromPB(m.GetAsset()); err != nil {
			return engine.Event{}, fmt.Errorf("plugin event %s: %w", ev.Type, err)
		}
	}
	if ev.Metadata, err = unmarshalObject(m.GetMetadataJson()); err != nil {
		return engine.Event{}, fmt.Errorf("plugin event %s: metadata: %w", ev.Type, err)
	}
	if err := validateEvent(ev); err != nil {
		return engine.Event{}, err
	}
	return ev, nil
}

func specToPB(s asset.Spec) (*pluginpb.AssetSpec, error) {
	md, err := marshalObject(s.Metadata)
	if err != nil {
		return nil, err
	}
	w := &pluginpb.AssetSpec{Key: keyToPB(s.Key), Deps: keysToPB(s.Deps), Group: s.Group, Kinds: s.Kinds, Owners: s.Owners, Tags: s.Tags,
		Description: s.Description, MetadataJson: md, Partitions: s.Partitions, CodeVersion: s.CodeVersion}
	for _, c := range s.Checks {
		cmd, err := marshalObject(c.Metadata)
		if err != nil {
			return nil, fmt.Errorf("check %s: %w", c.Name, err)
		}
		w.Checks = append(w.Checks, &pluginpb.CheckSpec{Name: c.Name, Blocking: c.Blocking, Severity: c.Severity, Description: c.Description, MetadataJson: cmd})
	}
	return w, nil
}

func specFromPB(w *pluginpb.AssetSpec) (asset.Spec, error) {
	if len(w.GetKey().GetParts()) == 0 {
		return asset.Spec{}, errors.New("asset spec without a key")
	}
	key, err := keyFromPB(w.GetKey())
	if err != nil {
		return asset.Spec{}, err
	}
	s := asset.Spec{Key: key, Group: w.GetGroup(), Kinds: w.GetKinds(), Owners: w.GetOwners(), Tags: w.GetTags(),
		Description: w.GetDescription(), Partitions: w.GetPartitions(), CodeVersion: w.GetCodeVersion()}
	if s.Deps, err = keysFromPB(w.GetDeps()); err != nil {
		return asset.Spec{}, fmt.Errorf("asset %s: deps: %w", key, err)
	}
	if s.Metadata, err = unmarshalObject(w.GetMetadataJson()); err != nil {
		return asset.Spec{}, fmt.Errorf("asset %s: metadata: %w", key, err)
	}
	for _, c := range w.GetChecks() {
		if c.GetName() == "" {
			return asset.Spec{}, fmt.Errorf("asset %s: check without a name", key)
		}
		cs := asset.CheckSpec{Name: c.GetName(), Blocking: c.GetBlocking(), Severity: c.GetSeverity(), Description: c.GetDescription()}
		if cs.Metadata, err = unmarshalObject(c.GetMetadataJson()); err != nil {
			return asset.Spec{}, fmt.Errorf("asset %s: check %s: metadata: %w", key, c.GetName(), err)
		}
		s.Checks = append(s.Checks, cs)
	}
	return s, nil
}

func keyToPB(k asset.Key) *pluginpb.AssetKey { return &pluginpb.AssetKey{Parts: k.Parts()} }

func keyFromPB(k *pluginpb.AssetKey) (asset.Key, error) {
	key, err := asset.NewKey(k.GetParts()...)
	if err != nil {
		return asset.Key{}, fmt.Errorf("asset key %q: %w", k.GetParts(), err)
	}
	return key, nil
}

func keysToPB(keys []asset.Key) []*pluginpb.AssetKey {
	out := make([]*pluginpb.AssetKey, len(keys))
	for i, k := range keys {
		out[i] = keyToPB(k)
	}
	return out
}

func keysFromPB(keys []*pluginpb.AssetKey) ([]asset.Key, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	out := make([]asset.Key, len(keys))
	for i, k := range keys {
		var err error
		if out[i], err = keyFromPB(k); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func partitionToPB(p *Partition) *pluginpb.Partition {
	if p == nil {
		return nil
	}
	return &pluginpb.Partition{Key: p.Key, Keys: p.Keys, Start: timeToPB(p.Start), End: timeToPB(p.End)}
}

func partitionFromPB(p *pluginpb.Partition) *Partition {
	if p == nil {
		return nil
	}
	return &Partition{Key: p.GetKey(), Keys: p.GetKeys(), Start: timeFromPB(p.GetStart()), End: timeFromPB(p.GetEnd())}
}

func timeToPB(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func timeFromPB(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func resourcesToPB(res map[string]Resource) map[string]*pluginpb.Resource {
	if len(res) == 0 {
		return nil
	}
	out := make(map[string]*pluginpb.Resource, len(res))
	for n, r := range res {
		out[n] = &pluginpb.Resource{Type: r.Type, Config: r.Config, Secret: r.Secret}
	}
	return out
}

func resourcesFromPB(res map[string]*pluginpb.Resource) map[string]Resource {
	if len(res) == 0 {
		return nil
	}
	out := make(map[string]Resource, len(res))
	for n, r := range res {
		out[n] = Resource{Type: r.GetType(), Config: r.GetConfig(), Secret: r.GetSecret()}
	}
	return out
}

// marshalObject encodes metadata as a JSON object; nil and empty maps are
// empty bytes.
func marshalObject(m map[string]any) ([]byte, error) {
	if len(m) == 0 {
		return nil, nil
	}
	return json.Marshal(m)
}

// unmarshalObject decodes a JSON object; empty bytes are nil.
func unmarshalObject(b []byte) (map[string]any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeEvent parses one version 1 Materialize message (an engine.Event
// as JSON) and checks that it is an event a plugin may send.
func DecodeEvent(b []byte) (engine.Event, error) {
	var ev engine.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return engine.Event{}, fmt.Errorf("plugin event: %w", err)
	}
	if err := validateEvent(ev); err != nil {
		return engine.Event{}, err
	}
	return ev, nil
}

// validateEvent checks that ev is an event a plugin may send, with what
// its type needs.
func validateEvent(ev engine.Event) error {
	switch ev.Type {
	case engine.Log:
	case engine.AssetMaterialized, engine.AssetFailed:
		if ev.Asset.IsZero() {
			return fmt.Errorf("plugin event %s without \"asset\"", ev.Type)
		}
	case engine.CheckEvaluated:
		if ev.Asset.IsZero() || ev.Check == "" || ev.Passed == nil {
			return errors.New("plugin event check_evaluated needs \"asset\", \"check\" and \"passed\"")
		}
	default:
		return fmt.Errorf("plugin event of type %q: plugins send log, asset_materialized, asset_failed or check_evaluated", ev.Type)
	}
	return nil
}

// RemoteError is an error the plugin returned (as opposed to a transport
// failure, which the host reports with the plugin's stderr).
type RemoteError struct {
	Msg string
}

// Error returns the plugin's message.
func (e *RemoteError) Error() string { return e.Msg }

// callError turns a gRPC status into a RemoteError when the plugin itself
// returned the error, and keeps transport errors (the process died, the
// context ended) as they are.
func callError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Unknown, codes.InvalidArgument, codes.Unimplemented:
		return &RemoteError{Msg: st.Message()}
	}
	return err
}
