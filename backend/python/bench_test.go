package python_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
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
