package python_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/tensor"
)

const tinyModel = `
class Model:
    def infer_with_tensors(self, tensors):
        return {"y": tensors["x"] + 1}

def get_model():
    return Model()
`

// BenchmarkInferOverhead: carton.Infer of a tiny numpy model, and the
// same model's infer_with_tensors timed by Python itself in a process of
// the same interpreter (reported as python-ns/op): the difference is what
// the runner adds.
func BenchmarkInferOverhead(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.py"), []byte(tinyModel), 0o644); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "tiny.carton")
	if _, err := carton.Pack(ctx, dir, path, carton.PackOptions{Config: pythonConfig()}); err != nil {
		b.Fatal(err)
	}
	m, err := carton.Load(ctx, path)
	if err != nil {
		b.Skip(err)
	}
	defer m.Close()
	x, _ := tensor.From(tensor.Shape{1, 4}, []float32{1, 2, 3, 4})
	in := map[string]tensor.Tensor{"x": x}
	for b.Loop() {
		out, err := m.Infer(ctx, in)
		if err != nil {
			b.Fatal(err)
		}
		m.ReleaseOutputs(out)
	}
	b.StopTimer()
	script := "import sys, time, numpy as np\nsys.path.insert(0, sys.argv[1])\nimport main\nm = main.get_model()\nx = {'x': np.array([[1, 2, 3, 4]], np.float32)}\nn = 200000\nt = time.perf_counter()\nfor _ in range(n): m.infer_with_tensors(x)\nprint((time.perf_counter() - t) / n * 1e9)\n"
	for _, interp := range strings.Split(os.Getenv("CARTON_PYTHON"), string(os.PathListSeparator)) {
		out, err := exec.Command(interp, "-c", script, dir).Output()
		if err != nil {
			continue
		}
		ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		if err == nil {
			b.ReportMetric(ns, "python-ns/op")
			return
		}
	}
}

// BenchmarkSklearnPipeline: the scikit-learn pipeline of testdata/sklearn
// through carton.Infer from Go, against the same model's
// infer_with_tensors in a plain Python with scikit-learn
// ($CARTON_TEST_SKLEARN_PYTHON), reported as python-ns/op after each Go
// run. locked-thread calls from a goroutine locked to its OS thread, which
// keeps the interpreter's work on one thread (see docs/runners/python.md).
func BenchmarkSklearnPipeline(b *testing.B) {
	skpy := os.Getenv("CARTON_TEST_SKLEARN_PYTHON")
	if skpy == "" {
		b.Skip("needs $CARTON_TEST_SKLEARN_PYTHON")
	}
	ctx := context.Background()
	out := filepath.Join(b.TempDir(), "sklearn.carton")
	cfg := pythonConfig()
	if _, err := carton.Pack(ctx, "testdata/sklearn", out, carton.PackOptions{Config: cfg}); err != nil {
		b.Fatal(err)
	}
	m, err := carton.Load(ctx, out)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	xs := make([]float64, 64*4)
	for i := range xs {
		xs[i] = float64(i%7) + 0.5
	}
	x, _ := tensor.From(tensor.Shape{64, 4}, xs)
	in := map[string]tensor.Tensor{"x": x}
	for _, locked := range []bool{false, true} {
		name := "goroutine"
		if locked {
			name = "locked-thread"
		}
		b.Run(name, func(b *testing.B) {
			if locked {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			for b.Loop() {
				res, err := m.Infer(ctx, in)
				if err != nil {
					b.Fatal(err)
				}
				m.ReleaseOutputs(res)
			}
			b.StopTimer()
			b.ReportMetric(sklearnInPython(b, skpy), "python-ns/op")
		})
	}
}

// sklearnInPython is infer_with_tensors' time per call in a plain Python.
func sklearnInPython(b *testing.B, python string) float64 {
	script := "import sys, time, numpy as np\nsys.path.insert(0, sys.argv[1])\nimport main\nm = main.get_model()\nx = {'x': (np.arange(256) % 7 + 0.5).reshape(64, 4)}\nn = 3000\nm.infer_with_tensors(x)\nt = time.perf_counter()\nfor _ in range(n): m.infer_with_tensors(x)\nprint((time.perf_counter() - t) / n * 1e9)\n"
	res, err := exec.Command(python, "-c", script, "testdata/sklearn").Output()
	if err != nil {
		b.Fatal(err)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(res)), 64)
	if err != nil {
		b.Fatal(err)
	}
	return ns
}
