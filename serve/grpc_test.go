package serve

import (
	"context"
	protobuf "google.golang.org/protobuf/proto"
	"net"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/carton-run/carton"
	_ "github.com/carton-run/carton/backend" // the noop runner
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/serve/internal/oippb"
	"github.com/carton-run/carton/tensor"
)

// noopModel loads a carton of the noop runner, which returns its inputs.
func noopModel(t *testing.T) *carton.Model {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.bin")
	require.NoError(t, os.WriteFile(model, []byte("m"), 0o644))
	path := filepath.Join(dir, "echo.carton")
	_, err := carton.Pack(context.Background(), model, path, carton.PackOptions{Config: format.Config{
		Runner: format.Runner{RunnerName: "noop", RequiredFrameworkVersion: "*"},
	}})
	require.NoError(t, err)
	m, err := carton.Load(context.Background(), path, carton.WithCacheDir(filepath.Join(dir, "cache")))
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

// grpcServers are the two ways to serve gRPC: the service registered on a
// server of the caller's, and NewGRPCServer's.
var grpcServers = map[string]func(*Server) *grpc.Server{
	"RegisterGRPC": func(s *Server) *grpc.Server {
		g := grpc.NewServer()
		s.RegisterGRPC(g)
		return g
	},
	"NewGRPCServer": func(s *Server) *grpc.Server { return s.NewGRPCServer() },
}

// grpcEcho serves a noop carton (it returns its inputs) over gRPC on a
// loopback port and returns a client.
func grpcEcho(t *testing.T, newServer func(*Server) *grpc.Server) oippb.GRPCInferenceServiceClient {
	s, err := New([]Model{{Name: "echo", Version: "3", Model: noopModel(t)}}, Options{})
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := newServer(s)
	go g.Serve(l)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return oippb.NewGRPCInferenceServiceClient(conn)
}

func TestGRPCTypedContents(t *testing.T) {
	for name, newServer := range grpcServers {
		t.Run(name, func(t *testing.T) { testGRPCTypedContents(t, grpcEcho(t, newServer)) })
	}
}

func testGRPCTypedContents(t *testing.T, c oippb.GRPCInferenceServiceClient) {
	ctx := context.Background()
	resp, err := c.ModelInfer(ctx, &oippb.ModelInferRequest{ModelName: "echo", Id: "r1", Inputs: []*oippb.ModelInferRequest_InferInputTensor{
		{Name: "i8", Datatype: "INT8", Shape: []int64{2}, Contents: &oippb.InferTensorContents{IntContents: []int32{-128, 127}}},
		{Name: "u16", Datatype: "UINT16", Shape: []int64{1}, Contents: &oippb.InferTensorContents{UintContents: []uint32{65535}}},
		{Name: "s", Datatype: "BYTES", Shape: []int64{2}, Contents: &oippb.InferTensorContents{BytesContents: [][]byte{[]byte("a"), {0xff}}}},
		{Name: "f", Datatype: "FP64", Shape: []int64{1, 1}, Contents: &oippb.InferTensorContents{Fp64Contents: []float64{0.5}}},
	}, Outputs: []*oippb.ModelInferRequest_InferRequestedOutputTensor{{Name: "s"}, {Name: "i8"}}})
	require.NoError(t, err)
	assert.Equal(t, "r1", resp.Id)
	assert.Equal(t, "3", resp.ModelVersion)
	require.Len(t, resp.Outputs, 2)
	assert.Equal(t, "s", resp.Outputs[0].Name)
	assert.Equal(t, []byte{1, 0, 0, 0, 'a', 1, 0, 0, 0, 0xff}, resp.RawOutputContents[0])
	assert.Equal(t, []byte{0x80, 0x7f}, resp.RawOutputContents[1])

	ready, err := c.ModelReady(ctx, &oippb.ModelReadyRequest{Name: "echo", Version: "3"})
	require.NoError(t, err)
	assert.True(t, ready.Ready)
	md, err := c.ModelMetadata(ctx, &oippb.ModelMetadataRequest{Name: "echo"})
	require.NoError(t, err)
	assert.Equal(t, []string{"3"}, md.Versions)
	assert.Equal(t, "carton_noop", md.Platform)
}

func TestGRPCErrors(t *testing.T) {
	for name, newServer := range grpcServers {
		t.Run(name, func(t *testing.T) { testGRPCErrors(t, grpcEcho(t, newServer)) })
	}
}

func testGRPCErrors(t *testing.T, c oippb.GRPCInferenceServiceClient) {
	ctx := context.Background()
	in := func(ts ...*oippb.ModelInferRequest_InferInputTensor) *oippb.ModelInferRequest {
		return &oippb.ModelInferRequest{ModelName: "echo", Inputs: ts}
	}
	for name, tc := range map[string]struct {
		req  *oippb.ModelInferRequest
		code codes.Code
	}{
		"no inputs":       {in(), codes.InvalidArgument},
		"unknown model":   {&oippb.ModelInferRequest{ModelName: "nope"}, codes.NotFound},
		"unknown version": {&oippb.ModelInferRequest{ModelName: "echo", ModelVersion: "9"}, codes.NotFound},
		"int8 overflow":   {in(&oippb.ModelInferRequest_InferInputTensor{Name: "x", Datatype: "INT8", Shape: []int64{1}, Contents: &oippb.InferTensorContents{IntContents: []int32{300}}}), codes.InvalidArgument},
		"fp16 contents":   {in(&oippb.ModelInferRequest_InferInputTensor{Name: "x", Datatype: "FP16", Shape: []int64{1}, Contents: &oippb.InferTensorContents{Fp32Contents: []float32{1}}}), codes.InvalidArgument},
		"short contents":  {in(&oippb.ModelInferRequest_InferInputTensor{Name: "x", Datatype: "FP32", Shape: []int64{3}, Contents: &oippb.InferTensorContents{Fp32Contents: []float32{1}}}), codes.InvalidArgument},
		"no contents":     {in(&oippb.ModelInferRequest_InferInputTensor{Name: "x", Datatype: "FP32", Shape: []int64{1}}), codes.InvalidArgument},
		"raw count": {&oippb.ModelInferRequest{ModelName: "echo", Inputs: []*oippb.ModelInferRequest_InferInputTensor{{Name: "x", Datatype: "FP32", Shape: []int64{1}}, {Name: "y", Datatype: "FP32", Shape: []int64{1}}},
			RawInputContents: [][]byte{{0, 0, 0, 0}}}, codes.InvalidArgument},
		"raw size": {&oippb.ModelInferRequest{ModelName: "echo", Inputs: []*oippb.ModelInferRequest_InferInputTensor{{Name: "x", Datatype: "FP32", Shape: []int64{2}}},
			RawInputContents: [][]byte{{0, 0, 0, 0}}}, codes.InvalidArgument},
		"bad datatype": {in(&oippb.ModelInferRequest_InferInputTensor{Name: "x", Datatype: "FP8", Shape: []int64{1}}), codes.InvalidArgument},
		"unknown output": {&oippb.ModelInferRequest{ModelName: "echo", Inputs: []*oippb.ModelInferRequest_InferInputTensor{{Name: "x", Datatype: "FP32", Shape: []int64{1}}},
			RawInputContents: [][]byte{{0, 0, 0, 0}}, Outputs: []*oippb.ModelInferRequest_InferRequestedOutputTensor{{Name: "z"}}}, codes.InvalidArgument},
	} {
		_, err := c.ModelInfer(ctx, tc.req)
		assert.Equal(t, tc.code, status.Code(err), "%s: %v", name, err)
	}
	_, err := c.ModelMetadata(ctx, &oippb.ModelMetadataRequest{Name: "nope"})
	assert.Equal(t, codes.NotFound, status.Code(err))
}

// On a NewGRPCServer, a response is encoded from the outputs' own memory:
// a numeric output's one copy is into the message (grpcResponse's views),
// where RegisterGRPC's copies it first. Both send the same message.
func TestGRPCEncodesOutputsFromTheirMemory(t *testing.T) {
	s, err := New([]Model{{Name: "echo", Model: noopModel(t)}}, Options{})
	require.NoError(t, err)
	m := s.byName["echo"][0]
	x, err := tensor.From(tensor.Shape{1 << 18}, make([]float32, 1<<18))
	require.NoError(t, err)
	str, err := tensor.FromStrings(tensor.Shape{2}, []string{"a", "bc"})
	require.NoError(t, err)
	out := map[string]tensor.Tensor{"x": x, "s": str}
	req := &oippb.ModelInferRequest{ModelName: "echo", Id: "r"}
	views, err := grpcResponse(m, req, out, true)
	require.NoError(t, err)
	copies, err := grpcResponse(m, req, out, false)
	require.NoError(t, err)
	require.Equal(t, "x", views.Outputs[1].Name)
	assert.Same(t, unsafe.SliceData(x.Bytes()), unsafe.SliceData(views.RawOutputContents[1]), "a view of the output")
	assert.NotSame(t, unsafe.SliceData(x.Bytes()), unsafe.SliceData(copies.RawOutputContents[1]), "a copy")
	encoded, err := marshalResponse(views)
	require.NoError(t, err)
	want, err := protobuf.Marshal(copies)
	require.NoError(t, err)
	assert.Equal(t, want, encoded.data.Materialize())
	encoded.data.Free()
}
