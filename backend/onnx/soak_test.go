package onnx

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

// TestSoak runs CARTON_SOAK_CALLS Infer calls (make soak: 1,000,000) on
// matmul_add and samples the resident set size: after warm-up it must not
// keep growing. Closing the model then frees the ORT session. With
// CARTON_SOAK_CANCELLABLE=1 each call gets its own cancellable context,
// cancelled after the call (the run options and context.AfterFunc path).
func TestSoak(t *testing.T) {
	calls, _ := strconv.Atoi(os.Getenv("CARTON_SOAK_CALLS"))
	if calls <= 0 {
		t.Skip("set CARTON_SOAK_CALLS (make soak)")
	}
	lib := anyLibrary(t)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "m.carton")
	if _, err := carton.Pack(ctx, filepath.Join("..", "..", "testdata", "onnx", "matmul_add.onnx"), path, carton.PackOptions{Config: format.Config{
		Runner: format.Runner{RunnerName: "onnx", RequiredFrameworkVersion: "*", Opts: map[string]any{"intra_op_threads": int64(1)}},
	}}); err != nil {
		t.Fatal(err)
	}
	m, err := carton.Load(ctx, path, carton.WithRuntimePath(lib), carton.WithCacheDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	x, _ := tensor.From(tensor.Shape{2, 4}, []float32{1, 2, 3, 4, 5, 6, 7, 8})
	in := map[string]tensor.Tensor{"x": x}
	step := max(calls/10, 1)
	var samples []int64
	cancellable := os.Getenv("CARTON_SOAK_CANCELLABLE") == "1"
	for i := 1; i <= calls; i++ {
		callCtx, cancel := ctx, context.CancelFunc(func() {})
		if cancellable {
			callCtx, cancel = context.WithCancel(ctx)
		}
		out, err := m.Infer(callCtx, in)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out {
			o.Release()
		}
		if i%step == 0 {
			runtime.GC()
			samples = append(samples, rssKiB())
		}
	}
	t.Logf("RSS KiB every %d calls: %v", step, samples)
	if len(samples) >= 3 {
		growth := samples[len(samples)-1] - samples[1] // after the first tenth: warm
		t.Logf("growth after warm-up: %d KiB over %d calls", growth, calls-step)
		if growth > 8<<10 {
			t.Errorf("RSS grew %d KiB after warm-up", growth)
		}
	}
	before := rssKiB()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	t.Logf("RSS before Close %d KiB, after %d KiB", before, rssKiB())
}

// rssKiB reads the current resident set size (Linux), or 0.
func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
