package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"

	"github.com/carton-run/carton"
	_ "github.com/carton-run/carton/backend/onnx"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/benchpair"
	"github.com/carton-run/carton/serve"
	"github.com/carton-run/carton/serve/internal/oippb"
	"github.com/carton-run/carton/tensor"
)

// BenchmarkServeAdded measures what the server adds to an in-process
// Infer, per request, one client on loopback: REST with JSON, REST with
// binary data, gRPC with raw contents, for matmul_add with a [1,4] input
// (tiny) and shape_of with a 1 MiB input (its work is O(1): what shows is
// moving the tensor). Each sub-benchmark reports the p50 and p99 of its
// requests' latency; protocol=inprocess is carton.Infer itself, the floor,
// and protocol=grpc-transport is gRPC's own: grpc-go carrying the same
// request to a service that does nothing with it (grpc-raw-paired
// compares the two with internal/benchpair).
// Needs ONNX Runtime ($CARTON_ONNXRUNTIME_LIB or one carton finds).
func BenchmarkServeAdded(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name, model string
		n           int
		shape       []int64
	}{{"tiny", "matmul_add", 4, []int64{1, 4}}, {"1MiB", "shape_of", 1 << 18, []int64{1 << 18}}} {
		dir := b.TempDir()
		path := filepath.Join(dir, c.name+".carton")
		if _, err := carton.Pack(ctx, filepath.Join("..", "testdata", "onnx", c.model+".onnx"), path, carton.PackOptions{Config: format.Config{
			Runner: format.Runner{RunnerName: "onnx", RequiredFrameworkVersion: "*", Opts: map[string]any{"intra_op_threads": int64(1), "inter_op_threads": int64(1)}},
		}}); err != nil {
			b.Skipf("packing needs ONNX Runtime: %v", err)
		}
		var opts []carton.Option
		if lib := os.Getenv("CARTON_ONNXRUNTIME_LIB"); lib != "" {
			opts = append(opts, carton.WithRuntimePath(lib))
		}
		m, err := carton.Load(ctx, path, append(opts, carton.WithCacheDir(filepath.Join(dir, "cache")))...)
		if err != nil {
			b.Skipf("%v", err)
		}
		data := make([]float32, c.n)
		for i := range data {
			data[i] = float32(i%7) - 3
		}
		x, _ := tensor.From(tensor.Shape(c.shape), data)
		raw := x.Bytes()

		s, err := serve.New([]serve.Model{{Name: "m", Model: m}}, serve.Options{})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(s)
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		g := s.NewGRPCServer(grpc.MaxRecvMsgSize(64 << 20))
		go g.Serve(l)
		conn, _ := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		gc := oippb.NewGRPCInferenceServiceClient(conn)
		// gRPC's own floor: the same client and request, to a server that
		// neither decodes the request nor runs anything.
		fl, _ := net.Listen("tcp", "127.0.0.1:0")
		floor := grpc.NewServer(grpc.ForceServerCodecV2(discardRequests{encoding.GetCodecV2(proto.Name)}),
			grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))), grpc.MaxRecvMsgSize(64<<20))
		oippb.RegisterGRPCInferenceServiceServer(floor, transportOnly{})
		go floor.Serve(fl)
		floorConn, _ := grpc.NewClient(fl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		floorClient := oippb.NewGRPCInferenceServiceClient(floorConn)

		jsonBody, _ := json.Marshal(map[string]any{"inputs": []map[string]any{{"name": "x", "shape": c.shape, "datatype": "FP32", "data": data}}})
		header, _ := json.Marshal(map[string]any{
			"inputs":     []map[string]any{{"name": "x", "shape": c.shape, "datatype": "FP32", "parameters": map[string]any{"binary_data_size": len(raw)}}},
			"parameters": map[string]any{"binary_data_output": true},
		})
		binBody := append(append([]byte{}, header...), raw...)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		post := func(body []byte, headerLen int) error {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v2/models/m/infer", bytes.NewReader(body))
			if headerLen > 0 {
				req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(headerLen))
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return err
		}
		// The rawclient protocols: the least a client can do
		// (rawclient_test.go), so that what shows is the server.
		rawConn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		rawRequest := func(body []byte, headerLen int) []byte {
			req := "POST /v2/models/m/infer HTTP/1.1\r\nHost: m\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
			if headerLen > 0 {
				req += "Inference-Header-Content-Length: " + strconv.Itoa(headerLen) + "\r\n"
			}
			return append([]byte(req+"\r\n"), body...)
		}
		rawJSON, rawBinary := rawRequest(jsonBody, 0), rawRequest(binBody, len(header))
		respBuf := make([]byte, 4<<20)
		rawPost := func(req []byte) error {
			if _, err := rawConn.Write(req); err != nil {
				return err
			}
			return readHTTPResponse(rawConn, respBuf)
		}
		grpcReq := &oippb.ModelInferRequest{ModelName: "m",
			Inputs:           []*oippb.ModelInferRequest_InferInputTensor{{Name: "x", Datatype: "FP32", Shape: c.shape}},
			RawInputContents: [][]byte{raw}}

		for _, p := range []struct {
			name string
			call func() error
		}{
			{"inprocess", func() error {
				out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x})
				if err == nil {
					m.ReleaseOutputs(out)
				}
				return err
			}},
			{"rest-json", func() error { return post(jsonBody, 0) }},
			{"rest-binary", func() error { return post(binBody, len(header)) }},
			{"rest-json-rawclient", func() error { return rawPost(rawJSON) }},
			{"rest-binary-rawclient", func() error { return rawPost(rawBinary) }},
			{"grpc-raw", func() error { _, err := gc.ModelInfer(ctx, grpcReq); return err }},
			{"grpc-transport", func() error { _, err := floorClient.ModelInfer(ctx, grpcReq); return err }},
		} {
			b.Run("input="+c.name+"/protocol="+p.name, func(b *testing.B) {
				lat := make([]time.Duration, 0, b.N)
				for b.Loop() {
					start := time.Now()
					if err := p.call(); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(start))
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
				b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
			})
		}
		// gRPC against its own floor, paired (internal/benchpair):
		// added-ns/op is what carton-serve adds to the transport.
		b.Run("input="+c.name+"/protocol=grpc-raw-paired", func(b *testing.B) {
			calls := func(client oippb.GRPCInferenceServiceClient) benchpair.Op {
				return func(n int) error {
					for range n {
						if _, err := client.ModelInfer(ctx, grpcReq); err != nil {
							return err
						}
					}
					return nil
				}
			}
			benchpair.Bench(b, 10, "grpc-transport", calls(floorClient), "carton-serve", calls(gc))
		})
		if c.name == "1MiB" {
			// The floor of any protocol over loopback TCP: the request's
			// bytes sent, a byte back.
			b.Run("input=1MiB/protocol=loopback-tcp", func(b *testing.B) {
				sl, _ := net.Listen("tcp", "127.0.0.1:0")
				defer sl.Close()
				go func() {
					c, err := sl.Accept()
					if err != nil {
						return
					}
					defer c.Close()
					buf := make([]byte, len(rawBinary))
					for {
						if _, err := io.ReadFull(c, buf); err != nil {
							return
						}
						if _, err := c.Write([]byte{1}); err != nil {
							return
						}
					}
				}()
				cc, _ := net.Dial("tcp", sl.Addr().String())
				defer cc.Close()
				one := make([]byte, 1)
				lat := make([]time.Duration, 0, b.N)
				for b.Loop() {
					start := time.Now()
					if _, err := cc.Write(rawBinary); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(cc, one); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(start))
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
				b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
			})
			b.Run("input=1MiB/protocol=one-copy", func(b *testing.B) {
				dst := make([]byte, len(raw))
				lat := make([]time.Duration, 0, b.N)
				for b.Loop() {
					start := time.Now()
					copy(dst, raw)
					lat = append(lat, time.Since(start))
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
				b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
			})
		}
		conn.Close()
		floorConn.Close()
		rawConn.Close()
		g.Stop()
		floor.Stop()
		srv.Close()
		m.Close()
	}
}

// transportOnly answers every ModelInfer with an empty response.
type transportOnly struct {
	oippb.UnimplementedGRPCInferenceServiceServer
}

func (transportOnly) ModelInfer(context.Context, *oippb.ModelInferRequest) (*oippb.ModelInferResponse, error) {
	return &oippb.ModelInferResponse{ModelName: "m"}, nil
}

// discardRequests is gRPC's proto codec, except that it leaves a
// ModelInferRequest undecoded.
type discardRequests struct{ encoding.CodecV2 }

func (c discardRequests) Unmarshal(data mem.BufferSlice, v any) error {
	if _, ok := v.(*oippb.ModelInferRequest); ok {
		return nil
	}
	return c.CodecV2.Unmarshal(data, v)
}
