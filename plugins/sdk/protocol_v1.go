package sdk

// Protocol version 1, kept so that plugins built before version 2 keep
// working with this host, and plugins built now keep working with hosts
// that only speak version 1. It is a hand-written gRPC service whose every
// request and response is a google.protobuf.BytesValue holding a JSON
// document:
//
//	service elt.plugin.v1.Plugin {
//	  rpc Describe(BytesValue)  returns (BytesValue);         // {"config": …} → {"assets": [spec…]}
//	  rpc Materialize(BytesValue) returns (stream BytesValue); // Request → one engine.Event per message
//	  rpc Check(BytesValue)     returns (BytesValue);         // CheckRequest → {"passed", "severity", "message", "metadata"}
//	}
//
// A spec is {"key": ["a","b"], "deps": [["c"]], "group", "kinds", "owners",
// "tags", "description", "metadata", "partitions", "code_version",
// "checks": [{"name", "blocking", "severity", "description", "metadata"}]}.
// Events use engine.Event's JSON. New plugins should implement version 2
// (proto/elt/plugin/v2/plugin.proto).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/eltproject/elt/asset"
	"github.com/eltproject/elt/engine"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// serviceNameV1 is version 1's gRPC service name.
const serviceNameV1 = "elt.plugin.v1.Plugin"

// grpcPluginV1 is the go-plugin glue of version 1.
type grpcPluginV1 struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Plugin // nil on the host side
}

// GRPCServer registers the version 1 service for Impl.
func (p *grpcPluginV1) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(serviceDesc(), &server{impl: p.Impl})
	return nil
}

// GRPCClient returns a *Client speaking version 1 on conn.
func (p *grpcPluginV1) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &Client{v1: conn}, nil
}

// handler is the interface grpc checks the registered server against.
type handler interface {
	describe(ctx context.Context, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error)
	materialize(in *wrapperspb.BytesValue, stream grpc.ServerStream) error
	check(ctx context.Context, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error)
}

func serviceDesc() *grpc.ServiceDesc {
	unary := func(name string, call func(handler, context.Context, *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error)) grpc.MethodDesc {
		return grpc.MethodDesc{
			MethodName: name,
			Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
				in := new(wrapperspb.BytesValue)
				if err := dec(in); err != nil {
					return nil, err
				}
				h := srv.(handler)
				if icpt == nil {
					return call(h, ctx, in)
				}
				info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + serviceNameV1 + "/" + name}
				return icpt(ctx, in, info, func(ctx context.Context, req any) (any, error) {
					return call(h, ctx, req.(*wrapperspb.BytesValue))
				})
			},
		}
	}
	return &grpc.ServiceDesc{
		ServiceName: serviceNameV1,
		HandlerType: (*handler)(nil),
		Methods: []grpc.MethodDesc{
			unary("Describe", handler.describe),
			unary("Check", handler.check),
		},
		Streams: []grpc.StreamDesc{{
			StreamName:    "Materialize",
			ServerStreams: true,
			Handler: func(srv any, stream grpc.ServerStream) error {
				in := new(wrapperspb.BytesValue)
				if err := stream.RecvMsg(in); err != nil {
					return err
				}
				return srv.(handler).materialize(in, stream)
			},
		}},
		Metadata: "elt/plugins/sdk/protocol_v1.go",
	}
}

type wireCheck struct {
	Name        string         `json:"name"`
	Blocking    bool           `json:"blocking,omitempty"`
	Severity    string         `json:"severity,omitempty"`
	Description string         `json:"description,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
}

type wireSpec struct {
	Key         asset.Key      `json:"key"`
	Deps        []asset.Key    `json:"deps,omitempty"`
	Group       string         `json:"group,omitempty"`
	Kinds       []string       `json:"kinds,omitempty"`
	Owners      []string       `json:"owners,omitempty"`
	Tags        []string       `json:"tags,omitempty"`
	Description string         `json:"description,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
	Partitions  string         `json:"partitions,omitempty"`
	CodeVersion string         `json:"code_version,omitempty"`
	Checks      []wireCheck    `json:"checks,omitempty"`
}

type describeRequest struct {
	Config Config `json:"config"`
}

type describeResponse struct {
	Assets []wireSpec `json:"assets"`
}

type checkResponse struct {
	Passed   bool           `json:"passed"`
	Severity string         `json:"severity,omitempty"`
	Message  string         `json:"message,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

func toWire(s asset.Spec) wireSpec {
	w := wireSpec{Key: s.Key, Deps: s.Deps, Group: s.Group, Kinds: s.Kinds, Owners: s.Owners, Tags: s.Tags,
		Description: s.Description, Metadata: s.Metadata, Partitions: s.Partitions, CodeVersion: s.CodeVersion}
	for _, c := range s.Checks {
		w.Checks = append(w.Checks, wireCheck{Name: c.Name, Blocking: c.Blocking, Severity: c.Severity, Description: c.Description, Metadata: c.Metadata})
	}
	return w
}

func fromWire(w wireSpec) (asset.Spec, error) {
	if w.Key.IsZero() {
		return asset.Spec{}, errors.New("asset spec without \"key\"")
	}
	s := asset.Spec{Key: w.Key, Deps: w.Deps, Group: w.Group, Kinds: w.Kinds, Owners: w.Owners, Tags: w.Tags,
		Description: w.Description, Metadata: w.Metadata, Partitions: w.Partitions, CodeVersion: w.CodeVersion}
	for _, c := range w.Checks {
		if c.Name == "" {
			return asset.Spec{}, fmt.Errorf("asset %s: check without \"name\"", w.Key)
		}
		s.Checks = append(s.Checks, asset.CheckSpec{Name: c.Name, Blocking: c.Blocking, Severity: c.Severity, Description: c.Description, Metadata: c.Metadata})
	}
	return s, nil
}

func marshalBytes(v any) (*wrapperspb.BytesValue, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return wrapperspb.Bytes(b), nil
}

// server is the plugin side of the service.
type server struct {
	impl Plugin
}

func (s *server) describe(ctx context.Context, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	var req describeRequest
	if err := json.Unmarshal(in.GetValue(), &req); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "describe request: %v", err)
	}
	specs, err := s.impl.Describe(ctx, req.Config)
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	resp := describeResponse{Assets: make([]wireSpec, 0, len(specs))}
	for _, sp := range specs {
		resp.Assets = append(resp.Assets, toWire(sp))
	}
	return marshalBytes(resp)
}

func (s *server) materialize(in *wrapperspb.BytesValue, stream grpc.ServerStream) error {
	var req Request
	if err := json.Unmarshal(in.GetValue(), &req); err != nil {
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
		msg, err := marshalBytes(ev)
		if err == nil {
			err = stream.SendMsg(msg)
		}
		sendErr = err
	}
	err := s.impl.Materialize(stream.Context(), &req, emit)
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

func (s *server) check(ctx context.Context, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	c, ok := s.impl.(Checker)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this plugin does not evaluate checks (it does not implement sdk.Checker)")
	}
	var req CheckRequest
	if err := json.Unmarshal(in.GetValue(), &req); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "check request: %v", err)
	}
	r, err := c.Check(ctx, &req)
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	return marshalBytes(checkResponse{Passed: r.Passed, Severity: r.Severity, Message: r.Message, Metadata: r.Metadata})
}

// describeV1 asks a version 1 plugin for the assets it materializes under
// cfg.
func (c *Client) describeV1(ctx context.Context, cfg Config) ([]asset.Spec, error) {
	in, err := marshalBytes(describeRequest{Config: cfg})
	if err != nil {
		return nil, err
	}
	out := new(wrapperspb.BytesValue)
	if err := c.v1.Invoke(ctx, "/"+serviceNameV1+"/Describe", in, out); err != nil {
		return nil, callError(err)
	}
	var resp describeResponse
	if err := json.Unmarshal(out.GetValue(), &resp); err != nil {
		return nil, fmt.Errorf("describe response: %w", err)
	}
	specs := make([]asset.Spec, 0, len(resp.Assets))
	for _, w := range resp.Assets {
		s, err := fromWire(w)
		if err != nil {
			return nil, fmt.Errorf("describe response: %w", err)
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// materializeV1 runs req in a version 1 plugin.
func (c *Client) materializeV1(ctx context.Context, req *Request, emit engine.Emitter) error {
	in, err := marshalBytes(req)
	if err != nil {
		return err
	}
	desc := &serviceDesc().Streams[0]
	stream, err := c.v1.NewStream(ctx, desc, "/"+serviceNameV1+"/Materialize")
	if err != nil {
		return callError(err)
	}
	if err := stream.SendMsg(in); err != nil {
		return callError(err)
	}
	if err := stream.CloseSend(); err != nil {
		return callError(err)
	}
	for {
		msg := new(wrapperspb.BytesValue)
		err := stream.RecvMsg(msg)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return callError(err)
		}
		ev, err := DecodeEvent(msg.GetValue())
		if err != nil {
			return err
		}
		emit(ev)
	}
}

// checkV1 asks a version 1 plugin to evaluate one check.
func (c *Client) checkV1(ctx context.Context, req *CheckRequest) (engine.CheckResult, error) {
	in, err := marshalBytes(req)
	if err != nil {
		return engine.CheckResult{}, err
	}
	out := new(wrapperspb.BytesValue)
	if err := c.v1.Invoke(ctx, "/"+serviceNameV1+"/Check", in, out); err != nil {
		return engine.CheckResult{}, callError(err)
	}
	var r checkResponse
	if err := json.Unmarshal(out.GetValue(), &r); err != nil {
		return engine.CheckResult{}, fmt.Errorf("check response: %w", err)
	}
	return engine.CheckResult{Passed: r.Passed, Severity: r.Severity, Message: r.Message, Metadata: r.Metadata}, nil
}
