package serve

import (
	"context"
	"runtime"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"
	protobuf "google.golang.org/protobuf/proto"

	"github.com/carton-run/carton/serve/internal/oippb"
)

// NewGRPCServer makes a gRPC server with the protocol's service for s's
// models registered, on which a response's raw_output_contents are
// encoded straight from the framework's memory: the one copy of an output
// is into the message sent. (RegisterGRPC, on a server of the caller's,
// copies each output once more: a handler there must return its response
// before it is encoded, so the outputs cannot be held until then.)
//
// Its transport reads HTTP/2 frames into a pool that lays a message's
// frames one after another where it can, so that raw_input_contents are
// views of the frames, with no copy (see frameArena; at most 64 MiB of
// chunks in use per server).
//
// The server also runs RPCs on GOMAXPROCS long-lived goroutines instead
// of one new goroutine each (grpc.NumStreamWorkers: 9 µs less a call
// here). opts come after these and may override them. ModelInfer's
// response, as a unary interceptor on this server sees it, is the encoded
// message, not a *ModelInferResponse.
func (s *Server) NewGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	return s.newGRPCServer(newFrameArena(), opts...)
}

// newGRPCServer is NewGRPCServer with arena as the transport's pool.
func (s *Server) newGRPCServer(arena *frameArena, opts ...grpc.ServerOption) *grpc.Server {
	base := encoding.GetCodecV2(proto.Name)
	g := grpc.NewServer(append([]grpc.ServerOption{
		grpc.ForceServerCodecV2(passThroughCodec{base, arena}),
		experimental.BufferPool(arena),
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
	}, opts...)...)
	svc := grpcService{s: s}
	desc := oippb.GRPCInferenceService_ServiceDesc
	desc.Methods = append([]grpc.MethodDesc(nil), desc.Methods...)
	for i := range desc.Methods {
		if desc.Methods[i].MethodName == "ModelInfer" {
			desc.Methods[i].Handler = svc.modelInferHandler
		}
	}
	g.RegisterService(&desc, svc)
	return g
}

// modelInferHandler is ModelInfer's grpc.MethodDesc handler on a
// NewGRPCServer: it returns the response encoded (*marshaled).
func (g grpcService) modelInferHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	if interceptor == nil {
		// Nothing but this call sees the request: its buffer can go back
		// to the pool once the response is encoded (before modelInfer
		// returns; Infer has returned too).
		p := new(pooledInferRequest)
		defer p.release()
		if err := dec(p); err != nil {
			return nil, err
		}
		return g.modelInfer(ctx, &p.req, true)
	}
	req := new(oippb.ModelInferRequest)
	if err := dec(req); err != nil {
		return nil, err
	}
	call := func(ctx context.Context, req any) (any, error) {
		return g.modelInfer(ctx, req.(*oippb.ModelInferRequest), true)
	}
	return interceptor(ctx, req, &grpc.UnaryServerInfo{Server: srv, FullMethod: oippb.GRPCInferenceService_ModelInfer_FullMethodName}, call)
}

// marshaled is a response already encoded, which passThroughCodec sends
// as it is.
type marshaled struct{ data mem.BufferSlice }

// passThroughCodec is gRPC's proto codec, except that it sends a
// *marshaled as it is and decodes a ModelInferRequest's raw inputs in
// place.
type passThroughCodec struct {
	encoding.CodecV2
	arena *frameArena // the transport's pool, if the server's
}

// Unmarshal decodes a ModelInferRequest with its raw inputs as views of
// one copy of the message (unmarshalInferRequest), into a pooled buffer
// for a *pooledInferRequest.
func (c passThroughCodec) Unmarshal(data mem.BufferSlice, v any) error {
	switch req := v.(type) {
	case *pooledInferRequest:
		return req.decode(data, c.arena)
	case *oippb.ModelInferRequest:
		return unmarshalInferRequest(data, req)
	}
	return c.CodecV2.Unmarshal(data, v)
}

func (c passThroughCodec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*marshaled); ok {
		return m.data, nil
	}
	return c.CodecV2.Marshal(v)
}

// marshalResponse encodes resp into a buffer of gRPC's pool, which gRPC
// gives back once the message is sent.
func marshalResponse(resp *oippb.ModelInferResponse) (*marshaled, error) {
	size := protobuf.Size(resp)
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	out, err := protobuf.MarshalOptions{UseCachedSize: true}.MarshalAppend((*buf)[:0], resp)
	if err != nil {
		pool.Put(buf)
		return nil, err
	}
	*buf = out
	return &marshaled{data: mem.BufferSlice{mem.NewBuffer(buf, pool)}}, nil
}
