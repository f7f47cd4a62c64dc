// Command coldload times a cold start, for BENCHMARKS.md: a process that
// loads one ONNX model and runs it once on zeros, through carton (a
// packed carton, already extracted into the cache) or onnxruntime_go (the
// .onnx file), on the same ONNX Runtime library with one thread each. Run
// it under /usr/bin/time for process start to first result; it prints
// the load and the first run's times itself.
//
//	coldload -impl carton -model m.carton -lib libonnxruntime.so
//	coldload -impl onnxruntime_go -model m.onnx -lib libonnxruntime.so
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/carton-run/carton"
	_ "github.com/carton-run/carton/backend/onnx"
	"github.com/carton-run/carton/tensor"
)

func main() {
	impl := flag.String("impl", "carton", "carton or onnxruntime_go")
	model := flag.String("model", "", "the .carton (carton) or .onnx (onnxruntime_go)")
	lib := flag.String("lib", "", "the ONNX Runtime library")
	input := flag.String("input", "x", "the input's name")
	output := flag.String("output", "y", "the output's name (onnxruntime_go)")
	n := flag.Int64("n", 0, "the input's length (1-D float32)")
	flag.Parse()
	start := time.Now()
	var load, run time.Duration
	var err error
	switch *impl {
	case "carton":
		load, run, err = viaCarton(*model, *lib, *input, *n)
	case "onnxruntime_go":
		load, run, err = viaORT(*model, *lib, *input, *output, *n)
	default:
		err = fmt.Errorf("unknown -impl %q", *impl)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%s load %.1f ms, first run %.1f ms, in main %.1f ms\n", *impl, ms(load), ms(run), ms(time.Since(start)))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func viaCarton(path, lib, input string, n int64) (load, run time.Duration, err error) {
	ctx := context.Background()
	t0 := time.Now()
	m, err := carton.Load(ctx, path, carton.WithRuntimePath(lib))
	if err != nil {
		return 0, 0, err
	}
	defer m.Close()
	load = time.Since(t0)
	x, err := tensor.New(tensor.Float32, tensor.Shape{n})
	if err != nil {
		return 0, 0, err
	}
	t1 := time.Now()
	out, err := m.Infer(ctx, map[string]tensor.Tensor{input: x})
	if err != nil {
		return 0, 0, err
	}
	run = time.Since(t1)
	m.ReleaseOutputs(out)
	return load, run, nil
}

func viaORT(path, lib, input, output string, n int64) (load, run time.Duration, err error) {
	t0 := time.Now()
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(); err != nil {
		return 0, 0, err
	}
	defer ort.DestroyEnvironment()
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return 0, 0, err
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		return 0, 0, err
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return 0, 0, err
	}
	s, err := ort.NewDynamicAdvancedSession(path, []string{input}, []string{output}, opts)
	if err != nil {
		return 0, 0, err
	}
	defer s.Destroy()
	load = time.Since(t0)
	x, err := ort.NewTensor(ort.NewShape(n), make([]float32, n))
	if err != nil {
		return 0, 0, err
	}
	defer x.Destroy()
	t1 := time.Now()
	outs := []ort.Value{nil}
	if err := s.Run([]ort.Value{x}, outs); err != nil {
		return 0, 0, err
	}
	run = time.Since(t1)
	outs[0].Destroy()
	return load, run, nil
}
