package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/carton-run/carton"
	_ "github.com/carton-run/carton/backend/onnx"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

// The same two models as backend/onnx's BenchmarkOverhead: matmul_add with
// a 1x4 input, and shape_of with a 64 MiB input (O(1) work: a copy of the
// input would show). Each runs through carton.Infer and through
// onnxruntime_go, on the same ONNX Runtime library, with one intra-op and
// one inter-op thread.

func library(b *testing.B) string {
	p := os.Getenv("CARTON_ONNXRUNTIME_LIB")
	if p == "" {
		b.Skip("set CARTON_ONNXRUNTIME_LIB to an ONNX Runtime 1.24+ library")
	}
	return p
}

var cases = []struct {
	name, model, in, out string
	shape                tensor.Shape
}{
	{"tiny", "matmul_add.onnx", "x", "y", tensor.Shape{1, 4}},
	{"64MiB", "shape_of.onnx", "x", "shape", tensor.Shape{16 << 20}},
}

func modelPath(name string) string { return filepath.Join("..", "testdata", "onnx", name) }

func BenchmarkONNX(b *testing.B) {
	lib := library(b)
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(); err != nil {
		b.Fatal(err)
	}
	defer ort.DestroyEnvironment()
	for _, c := range cases {
		n, _ := c.shape.NumElements()
		data := tensor.Aligned[float32](n)
		for i := range data[:min(n, 4)] {
			data[i] = float32(i + 1)
		}
		b.Run("input="+c.name+"/impl=carton", func(b *testing.B) { benchCarton(b, lib, c.model, c.in, c.shape, data, false) })
		b.Run("input="+c.name+"/impl=carton-into", func(b *testing.B) { benchCarton(b, lib, c.model, c.in, c.shape, data, true) })
		b.Run("input="+c.name+"/impl=onnxruntime_go", func(b *testing.B) { benchYalue(b, c.model, c.in, c.out, c.shape, data) })
		b.Run("input="+c.name+"/impl=onnxruntime_go-prebound", func(b *testing.B) { benchYaluePrebound(b, c.model, c.in, c.out, c.shape, data) })
	}
}

// With into, through InferInto and one output map for every call.
func benchCarton(b *testing.B, lib, model, input string, shape tensor.Shape, data []float32, into bool) {
	ctx := context.Background()
	dir := b.TempDir()
	path := filepath.Join(dir, "m.carton")
	_, err := carton.Pack(ctx, modelPath(model), path, carton.PackOptions{Config: format.Config{
		Runner: format.Runner{RunnerName: "onnx", RequiredFrameworkVersion: "*",
			Opts: map[string]any{"intra_op_threads": int64(1), "inter_op_threads": int64(1)}},
	}})
	if err != nil {
		b.Fatal(err)
	}
	m, err := carton.Load(ctx, path, carton.WithRuntimePath(lib), carton.WithCacheDir(dir))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	x, err := tensor.From(shape, data)
	if err != nil {
		b.Fatal(err)
	}
	in := map[string]tensor.Tensor{input: x}
	out := map[string]tensor.Tensor{}
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if into {
			err = m.InferInto(ctx, in, out)
		} else {
			out, err = m.Infer(ctx, in)
		}
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range out {
			t.Release()
		}
	}
}

func yalueOptions(b *testing.B) *ort.SessionOptions {
	o, err := ort.NewSessionOptions()
	if err != nil {
		b.Fatal(err)
	}
	if err := o.SetIntraOpNumThreads(1); err != nil {
		b.Fatal(err)
	}
	if err := o.SetInterOpNumThreads(1); err != nil {
		b.Fatal(err)
	}
	return o
}

// benchYalue is onnxruntime_go used like carton.Infer: an input tensor in,
// a freshly allocated output back, destroyed after use.
func benchYalue(b *testing.B, model, input, output string, shape tensor.Shape, data []float32) {
	opts := yalueOptions(b)
	defer opts.Destroy()
	s, err := ort.NewDynamicAdvancedSession(modelPath(model), []string{input}, []string{output}, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Destroy()
	x, err := ort.NewTensor(ort.NewShape(shape...), data)
	if err != nil {
		b.Fatal(err)
	}
	defer x.Destroy()
	inputs := []ort.Value{x}
	outputs := []ort.Value{nil}
	b.ReportAllocs()
	for b.Loop() {
		outputs[0] = nil
		if err := s.Run(inputs, outputs); err != nil {
			b.Fatal(err)
		}
		outputs[0].Destroy()
	}
}

// benchYaluePrebound is onnxruntime_go at its fastest: input and output
// tensors bound once, each Run writes into the same output buffer.
func benchYaluePrebound(b *testing.B, model, input, output string, shape tensor.Shape, data []float32) {
	opts := yalueOptions(b)
	defer opts.Destroy()
	x, err := ort.NewTensor(ort.NewShape(shape...), data)
	if err != nil {
		b.Fatal(err)
	}
	defer x.Destroy()
	var y ort.Value
	if output == "shape" {
		t, err := ort.NewEmptyTensor[int64](ort.NewShape(1))
		if err != nil {
			b.Fatal(err)
		}
		y = t
	} else {
		t, err := ort.NewEmptyTensor[float32](ort.NewShape(shape[0], 3))
		if err != nil {
			b.Fatal(err)
		}
		y = t
	}
	defer y.Destroy()
	s, err := ort.NewAdvancedSession(modelPath(model), []string{input}, []string{output}, []ort.Value{x}, []ort.Value{y}, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Destroy()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Run(); err != nil {
			b.Fatal(err)
		}
	}
}
