package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/serve/internal/oippb"
	"github.com/carton-run/carton/tensor"
)

// RegisterGRPC registers the protocol's gRPC service
// (inference.GRPCInferenceService) for s's models on g. Outputs travel as
// raw_output_contents; inputs as raw_input_contents (without a copy,
// alignment permitting) or typed contents.
func (s *Server) RegisterGRPC(g *grpc.Server) {
	oippb.RegisterGRPCInferenceServiceServer(g, grpcService{s: s})
}

type grpcService struct {
	oippb.UnimplementedGRPCInferenceServiceServer
	s *Server
}

func (g grpcService) ServerLive(context.Context, *oippb.ServerLiveRequest) (*oippb.ServerLiveResponse, error) {
	return &oippb.ServerLiveResponse{Live: true}, nil
}

func (g grpcService) ServerReady(context.Context, *oippb.ServerReadyRequest) (*oippb.ServerReadyResponse, error) {
	return &oippb.ServerReadyResponse{Ready: g.s.ready()}, nil
}

func (g grpcService) ServerMetadata(context.Context, *oippb.ServerMetadataRequest) (*oippb.ServerMetadataResponse, error) {
	return &oippb.ServerMetadataResponse{Name: g.s.opts.Name, Version: g.s.opts.Version, Extensions: []string{"binary_tensor_data"}}, nil
}

func (g grpcService) ModelReady(_ context.Context, req *oippb.ModelReadyRequest) (*oippb.ModelReadyResponse, error) {
	m, err := g.s.lookup(req.Name, req.Version)
	if err != nil {
		return nil, grpcError(err)
	}
	return &oippb.ModelReadyResponse{Ready: m.model() != nil && !g.s.notReady.Load()}, nil
}

func (g grpcService) ModelMetadata(_ context.Context, req *oippb.ModelMetadataRequest) (*oippb.ModelMetadataResponse, error) {
	m, err := g.s.lookup(req.Name, req.Version)
	if err != nil {
		return nil, grpcError(err)
	}
	if m.model() == nil {
		return nil, status.Errorf(codes.Unavailable, "model %s failed to load: %v", m.Name, m.LoadErr)
	}
	info := m.model().Info()
	return &oippb.ModelMetadataResponse{
		Name: m.Name, Versions: g.s.versionsOf(m.Name), Platform: Platform(info.Runner.RunnerName),
		Inputs: grpcMetadata(info.Inputs), Outputs: grpcMetadata(info.Outputs),
	}, nil
}

func grpcMetadata(specs []format.TensorSpec) []*oippb.ModelMetadataResponse_TensorMetadata {
	var out []*oippb.ModelMetadataResponse_TensorMetadata
	for _, md := range specsMetadata(specs) {
		out = append(out, &oippb.ModelMetadataResponse_TensorMetadata{Name: md.Name, Datatype: md.Datatype, Shape: md.Shape})
	}
	return out
}

func (g grpcService) ModelInfer(ctx context.Context, req *oippb.ModelInferRequest) (*oippb.ModelInferResponse, error) {
	resp, err := g.modelInfer(ctx, req, false)
	r, _ := resp.(*oippb.ModelInferResponse)
	return r, err
}

// modelInfer answers req with a *oippb.ModelInferResponse whose outputs
// are copies, or, with marshal, with the response already encoded
// straight from the framework's memory (*marshaled, NewGRPCServer).
func (g grpcService) modelInfer(ctx context.Context, req *oippb.ModelInferRequest, marshal bool) (any, error) {
	m, err := g.s.lookup(req.ModelName, req.ModelVersion)
	if err != nil {
		return nil, grpcError(err)
	}
	if m.model() == nil {
		return nil, status.Errorf(codes.Unavailable, "model %s failed to load: %v", m.Name, m.LoadErr)
	}
	done := g.s.track(m, "grpc")
	resp, err := g.infer(ctx, m, req, marshal)
	done(statusOfGRPC(err))
	return resp, err
}

// statusOfGRPC is the HTTP status an RPC's outcome counts as.
func statusOfGRPC(err error) int {
	switch status.Code(err) {
	case codes.OK:
		return http.StatusOK
	case codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.NotFound:
		return http.StatusNotFound
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

func (g grpcService) infer(ctx context.Context, m *served, req *oippb.ModelInferRequest, marshal bool) (any, error) {
	inputs, err := grpcInputs(req)
	if err != nil {
		return nil, grpcError(err)
	}
	seen := map[string]bool{}
	for _, o := range req.Outputs {
		if seen[o.Name] {
			return nil, status.Errorf(codes.InvalidArgument, "output %q is asked for twice", o.Name)
		}
		seen[o.Name] = true
	}
	out, err := g.s.run(ctx, m, inputs) // the gRPC deadline is ctx's
	if err != nil {
		return nil, grpcError(err)
	}
	defer m.model().ReleaseOutputs(out)
	resp, err := grpcResponse(m, req, out, marshal)
	if err != nil || !marshal {
		return resp, err
	}
	return marshalResponse(resp) // before the release: the outputs are in resp
}

// grpcResponse is the response carrying out's outputs that req asks for.
// With views, its raw_output_contents are the numeric outputs' own memory,
// valid until they are released; else copies.
func grpcResponse(m *served, req *oippb.ModelInferRequest, out map[string]tensor.Tensor, views bool) (*oippb.ModelInferResponse, error) {
	names := format.SortedKeys(out)
	if len(req.Outputs) > 0 {
		names = names[:0:0]
		for _, o := range req.Outputs {
			if _, ok := out[o.Name]; !ok {
				return nil, status.Errorf(codes.InvalidArgument, "the model has no output %q (it has %v)", o.Name, format.SortedKeys(out))
			}
			names = append(names, o.Name)
		}
	}
	resp := &oippb.ModelInferResponse{ModelName: m.Name, ModelVersion: m.Version, Id: req.Id}
	for _, name := range names {
		t := out[name]
		resp.Outputs = append(resp.Outputs, &oippb.ModelInferResponse_InferOutputTensor{
			Name: name, Datatype: Datatype(t.DType()), Shape: slices.Clone(t.Shape()),
		})
		if views && t.DType() != tensor.String {
			resp.RawOutputContents = append(resp.RawOutputContents, t.Bytes())
		} else {
			resp.RawOutputContents = append(resp.RawOutputContents, appendBinary(make([]byte, 0, binarySize(t)), t))
		}
	}
	return resp, nil
}

// grpcInputs makes the request's input tensors, from raw_input_contents
// (one per input, in order) or from each input's typed contents.
func grpcInputs(req *oippb.ModelInferRequest) (map[string]tensor.Tensor, error) {
	if len(req.Inputs) == 0 {
		return nil, fmt.Errorf("%w: the request has no inputs", ErrBadRequest)
	}
	raw := req.RawInputContents
	if len(raw) > 0 && len(raw) != len(req.Inputs) {
		return nil, fmt.Errorf("%w: %d raw_input_contents for %d inputs", ErrBadRequest, len(raw), len(req.Inputs))
	}
	inputs := make(map[string]tensor.Tensor, len(req.Inputs))
	for i, in := range req.Inputs {
		if _, dup := inputs[in.Name]; dup {
			return nil, fmt.Errorf("%w: input %q is given twice", ErrBadRequest, in.Name)
		}
		dt, err := DTypeOf(in.Datatype)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", in.Name, err)
		}
		shape := tensor.Shape(in.Shape)
		var t tensor.Tensor
		switch {
		case len(raw) > 0 && in.Contents != nil:
			return nil, fmt.Errorf("%w: input %q has both contents and raw_input_contents", ErrBadRequest, in.Name)
		case len(raw) > 0:
			t, err = fromBinary(dt, shape, raw[i])
		case in.Contents == nil:
			return nil, fmt.Errorf("%w: input %q has no contents (and there are no raw_input_contents)", ErrBadRequest, in.Name)
		default:
			t, err = fromContents(dt, shape, in.Contents)
		}
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", in.Name, err)
		}
		inputs[in.Name] = t
	}
	return inputs, nil
}

// fromContents makes a tensor from the typed contents field of dt.
func fromContents(dt tensor.DType, shape tensor.Shape, c *oippb.InferTensorContents) (tensor.Tensor, error) {
	var (
		t   tensor.Tensor
		err error
	)
	switch dt {
	case tensor.Bool:
		t, err = tensor.From(shape, c.BoolContents)
	case tensor.Int8:
		t, err = narrow[int32, int8](shape, c.IntContents)
	case tensor.Int16:
		t, err = narrow[int32, int16](shape, c.IntContents)
	case tensor.Int32:
		t, err = tensor.From(shape, c.IntContents)
	case tensor.Int64:
		t, err = tensor.From(shape, c.Int64Contents)
	case tensor.Uint8:
		t, err = narrow[uint32, uint8](shape, c.UintContents)
	case tensor.Uint16:
		t, err = narrow[uint32, uint16](shape, c.UintContents)
	case tensor.Uint32:
		t, err = tensor.From(shape, c.UintContents)
	case tensor.Uint64:
		t, err = tensor.From(shape, c.Uint64Contents)
	case tensor.Float32:
		t, err = tensor.From(shape, c.Fp32Contents)
	case tensor.Float64:
		t, err = tensor.From(shape, c.Fp64Contents)
	case tensor.String:
		strs := make([]string, len(c.BytesContents))
		for i, b := range c.BytesContents {
			strs[i] = string(b)
		}
		t, err = tensor.FromStrings(shape, strs)
	default:
		return tensor.Tensor{}, fmt.Errorf("%w: %s travels only as raw_input_contents", ErrBadRequest, Datatype(dt))
	}
	if err != nil {
		return tensor.Tensor{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return t, nil
}

// narrow converts wide contents to T, refusing values T cannot hold.
func narrow[W int32 | uint32, T int8 | int16 | uint8 | uint16](shape tensor.Shape, v []W) (tensor.Tensor, error) {
	out := make([]T, len(v))
	for i, x := range v {
		if W(T(x)) != x {
			return tensor.Tensor{}, fmt.Errorf("%w: element %d, %d, does not fit %s", ErrBadRequest, i, x, Datatype(tensor.DTypeOf[T]()))
		}
		out[i] = T(x)
	}
	return tensor.From(shape, out)
}

// grpcError maps an error to the gRPC status the HTTP status maps to.
func grpcError(err error) error {
	if errors.Is(err, errNotFound) {
		return status.Error(codes.NotFound, err.Error())
	}
	code := codes.Internal
	switch statusOf(err) {
	case http.StatusBadRequest:
		code = codes.InvalidArgument
	case http.StatusServiceUnavailable:
		code = codes.Unavailable
	case http.StatusGatewayTimeout:
		code = codes.DeadlineExceeded
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		code = codes.ResourceExhausted
	}
	if errors.Is(err, context.Canceled) {
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}
