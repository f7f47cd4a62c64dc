package onnx

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/benchpair"
	"github.com/carton-run/carton/internal/onnxtest"
	"github.com/carton-run/carton/tensor"
)

// The overhead benchmarks: the same model on the same library, called
//   - direct: the C API through this package's binding, the least a Go
//     program must do (create the input value over Go memory, Run, get the
//     output's data pointer, release both values);
//   - session: this runner's Session.Infer (what carton.Infer calls after
//     checking inputs against the specs; BenchmarkCartonInfer in the root
//     package adds that layer);
// for a tiny input (matmul_add, 1x4) and a 64 MiB input (shape_of, whose
// work is O(1), so any copy of the input would show).

type benchCase struct {
	name  string
	model string
	input tensor.Tensor
}

func benchCases(b *testing.B) []benchCase {
	tiny, _ := tensor.From(tensor.Shape{1, 4}, []float32{1, 2, 3, 4})
	big, _ := tensor.New(tensor.Float32, tensor.Shape{16 << 20}) // 64 MiB
	dir := filepath.Join("..", "..", "testdata", "onnx")
	return []benchCase{
		{"tiny", filepath.Join(dir, "matmul_add.onnx"), tiny},
		{"64MiB", filepath.Join(dir, "shape_of.onnx"), big},
	}
}

func BenchmarkOverhead(b *testing.B) {
	path := anyLibrary(b)
	lib, err := loadLibrary(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("ONNX Runtime %s from %s", lib.version, path)
	opts := sessionOptions{intraOp: 1, interOp: 1, optLevel: 99}
	for _, c := range benchCases(b) {
		s, err := newSession(lib, c.model, nil, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("input="+c.name+"/impl=direct", func(b *testing.B) { benchDirect(b, s, c.input) })
		m := loadPackedONNX(b, path, c.model)
		benchpair.TimeAPIs(b, "input="+c.name, context.Background(), m, map[string]tensor.Tensor{s.inputs[0].name: c.input})
		m.Close()
		b.Run("input="+c.name+"/impl=session", func(b *testing.B) {
			in := map[string]tensor.Tensor{s.inputs[0].name: c.input}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				out := make(map[string]tensor.Tensor, 1) // what carton.Infer allocates
				if err := s.Infer(ctx, in, out); err != nil {
					b.Fatal(err)
				}
				for _, t := range out {
					t.Release()
				}
			}
		})
		s.Close()
	}
}

// BenchmarkOverheadPaired alternates short batches of the direct floor
// and of carton.Infer on one goroutine (internal/benchpair) and reports the
// median added time per call with its 95% interval: batches taken a
// fraction of a millisecond apart cancel the drift of this kind of machine
// that separate benchmark runs cannot. -benchtime sets the number of rounds.
func BenchmarkOverheadPaired(b *testing.B) {
	path := anyLibrary(b)
	lib, err := loadLibrary(path)
	if err != nil {
		b.Fatal(err)
	}
	opts := sessionOptions{intraOp: 1, interOp: 1, optLevel: 99}
	ctx := context.Background()
	for _, c := range benchCases(b) {
		s, err := newSession(lib, c.model, nil, opts)
		if err != nil {
			b.Fatal(err)
		}
		m := loadPackedONNX(b, path, c.model)
		in := map[string]tensor.Tensor{s.inputs[0].name: c.input}
		cs := s.scratch.Get().(*callState)
		benchpair.BenchAPIs(b, "input="+c.name, ctx, m, in, 100, "direct", func(b *testing.B) benchpair.Op {
			return benchpair.Repeat(func() { directOnce(b, s, cs, c.input) })
		})
		s.scratch.Put(cs)
		m.Close()
		s.Close()
	}
}

// loadPackedONNX packs model with one intra- and one inter-op thread and
// loads it on the library at libPath.
func loadPackedONNX(b *testing.B, libPath, model string) *carton.Model {
	ctx := context.Background()
	dir := b.TempDir()
	path := filepath.Join(dir, "m.carton")
	if _, err := carton.Pack(ctx, model, path, carton.PackOptions{Config: format.Config{
		Runner: format.Runner{RunnerName: "onnx", RequiredFrameworkVersion: "*",
			Opts: map[string]any{"intra_op_threads": int64(1), "inter_op_threads": int64(1)}},
	}}); err != nil {
		b.Fatal(err)
	}
	m, err := carton.Load(ctx, path, carton.WithRuntimePath(libPath), carton.WithCacheDir(dir))
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// benchDirect is the floor: the native calls any binding has to make.
func benchDirect(b *testing.B, s *session, x tensor.Tensor) {
	cs := s.scratch.Get().(*callState)
	b.ReportAllocs()
	for b.Loop() {
		directOnce(b, s, cs, x)
	}
	s.scratch.Put(cs)
}

func directOnce(b *testing.B, s *session, cs *callState, x tensor.Tensor) {
	a := s.lib.api
	shape := x.Shape()
	cs.pin.Pin(x.Pointer())
	if err := a.callC(&cs.Caller, fnCreateTensorWithDataAsOrtVal, s.lib.memInfo, uintptr(x.Pointer()), uintptr(x.ByteLen()), ptr(&shape[0]), uintptr(len(shape)), s.inputs[0].ortType, ptr(&cs.inVals[0])); err != nil {
		b.Fatal(err)
	}
	cs.outVals[0] = 0
	if err := a.callC(&cs.Caller, fnRun, s.handle, 0, ptr(&s.inNames[0]), ptr(&cs.inVals[0]), 1, ptr(&s.outNames[0]), 1, ptr(&cs.outVals[0])); err != nil {
		b.Fatal(err)
	}
	if err := a.callC(&cs.Caller, fnGetTensorMutableData, cs.outVals[0], ptr(&cs.data)); err != nil {
		b.Fatal(err)
	}
	_ = *(*byte)(cs.data)
	a.rawC(&cs.Caller, fnReleaseValue, cs.outVals[0])
	a.rawC(&cs.Caller, fnReleaseValue, cs.inVals[0])
	cs.pin.Unpin()
}

// BenchmarkOverheadParallel is BenchmarkOverhead with two callers at once
// (b.RunParallel on GOMAXPROCS goroutines) on one session or model.
func BenchmarkOverheadParallel(b *testing.B) {
	path := anyLibrary(b)
	lib, err := loadLibrary(path)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range benchCases(b) {
		s, err := newSession(lib, c.model, nil, sessionOptions{intraOp: 1, interOp: 1, optLevel: 99})
		if err != nil {
			b.Fatal(err)
		}
		b.Run("input="+c.name+"/impl=direct", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				cs := s.scratch.Get().(*callState)
				for pb.Next() {
					directOnce(b, s, cs, c.input)
				}
				s.scratch.Put(cs)
			})
		})
		dir := b.TempDir()
		packed := filepath.Join(dir, "m.carton")
		if _, err := carton.Pack(ctx, c.model, packed, carton.PackOptions{Config: format.Config{
			Runner: format.Runner{RunnerName: "onnx", RequiredFrameworkVersion: "*",
				Opts: map[string]any{"intra_op_threads": int64(1), "inter_op_threads": int64(1)}},
		}}); err != nil {
			b.Fatal(err)
		}
		m, err := carton.Load(ctx, packed, carton.WithRuntimePath(path), carton.WithCacheDir(dir))
		if err != nil {
			b.Fatal(err)
		}
		benchpair.TimeParallelAPIs(b, "input="+c.name, ctx, m, map[string]tensor.Tensor{s.inputs[0].name: c.input})
		m.Close()
		s.Close()
	}
}

var _ backend.Session = (*session)(nil)

// BenchmarkLoad compares opening a model: ORT creating a session from the
// .onnx file through this binding (direct: what onnxruntime_go's session
// creation does), and carton.Load of the packed carton plus Close, for
// matmul_add (tiny) and models with a 46 MB and a 256 MiB float32
// initializer (written by largeModel). carton.Load opens the zip, checks
// the cached copy and selects the runtime and creates the session: the
// tiny model from the zip's bytes (verified), the large ones from the copy
// extracted into the cache on the first Load, whose stamp proves it and
// the zip unchanged (impl=carton, later Loads; impl=carton-first extracts
// afresh each time; impl=carton-bytes reads it from the zip's bytes,
// load_from = "bytes").
func BenchmarkLoad(b *testing.B) {
	path := anyLibrary(b)
	lib, err := loadLibrary(path)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	dir := b.TempDir()
	opts := sessionOptions{intraOp: 1, interOp: 1, optLevel: 99}
	cases := []struct{ name, model string }{{"tiny", filepath.Join("..", "..", "testdata", "onnx", "matmul_add.onnx")}}
	// ResNet-18's size, and one over 200 MB, as float32 initializers.
	for _, l := range []struct {
		name   string
		floats int
	}{{"46MB", 46e6 / 4}, {"256MB", 64 << 20}} {
		p := filepath.Join(dir, l.name+".onnx")
		if err := os.WriteFile(p, onnxtest.LargeModel(l.floats), 0o644); err != nil {
			b.Fatal(err)
		}
		cases = append(cases, struct{ name, model string }{l.name, p})
	}
	for _, c := range cases {
		b.Run("model="+c.name+"/impl=direct", func(b *testing.B) {
			for b.Loop() {
				s, err := newSession(lib, c.model, nil, opts)
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
		})
		packed := filepath.Join(dir, c.name+".carton")
		if _, err := carton.Pack(ctx, c.model, packed, carton.PackOptions{Config: format.Config{
			Runner: format.Runner{RunnerName: "onnx", RequiredFrameworkVersion: "*",
				Opts: map[string]any{"intra_op_threads": int64(1), "inter_op_threads": int64(1)}},
		}}); err != nil {
			b.Fatal(err)
		}
		cache := filepath.Join(dir, c.name+"-cache")
		load := func(b *testing.B, cache string, opts ...carton.Option) {
			m, err := carton.Load(ctx, packed, append(opts, carton.WithRuntimePath(path), carton.WithCacheDir(cache))...)
			if err != nil {
				b.Fatal(err)
			}
			m.Close()
		}
		load(b, cache) // extracts the large model
		b.Run("model="+c.name+"/impl=carton", func(b *testing.B) {
			for b.Loop() {
				load(b, cache)
			}
		})
		if c.name != "256MB" {
			continue
		}
		b.Run("model="+c.name+"/impl=carton-first", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				load(b, filepath.Join(dir, fmt.Sprintf("first-%d", i)))
			}
		})
		b.Run("model="+c.name+"/impl=carton-bytes", func(b *testing.B) {
			for b.Loop() {
				load(b, cache, carton.WithRunnerOpt("load_from", "bytes"))
			}
		})
	}
}

// BenchmarkCancellableContext prices cancellation: carton.InferInto with a
// context that can be cancelled (and never is), which arms ORT's terminate
// flag through context.AfterFunc, against context.Background, paired.
func BenchmarkCancellableContext(b *testing.B) {
	path := anyLibrary(b)
	for _, c := range benchCases(b) {
		m := loadPackedONNX(b, path, c.model)
		in := map[string]tensor.Tensor{m.Info().Inputs[0].Name: c.input}
		ctx, cancel := context.WithCancel(context.Background())
		b.Run("input="+c.name, func(b *testing.B) {
			benchpair.Bench(b, 50, "background", benchpair.InfersInto(context.Background(), m, in), "cancellable", benchpair.InfersInto(ctx, m, in))
		})
		cancel()
		m.Close()
	}
}
