package python_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/internal/benchpair"
	"github.com/carton-run/carton/tensor"
)

const tinyModel = `
class Model:
    def infer_with_tensors(self, tensors):
        return {"y": tensors["x"] + 1}

def get_model():
    return Model()
`

// BenchmarkInferOverhead: carton.Infer of a tiny numpy model against the
// same model's infer_with_tensors called by Python itself, in a process of
// the same interpreter beside the benchmark, paired (internal/benchpair:
// added-ns/op is what the runner adds). A Python batch's time includes a
// pipe round trip to that process, about 20-40 µs, under 20 ns a call in
// batches of 2,000.
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
	var py benchpair.Op
	for _, interp := range strings.Split(os.Getenv("CARTON_PYTHON"), string(os.PathListSeparator)) {
		if py = pythonCalls(b, interp, dir, "{'x': np.array([[1, 2, 3, 4]], np.float32)}"); py != nil {
			break
		}
	}
	if py == nil {
		b.Fatal("no interpreter in $CARTON_PYTHON runs the model")
	}
	x, _ := tensor.From(tensor.Shape{1, 4}, []float32{1, 2, 3, 4})
	in := map[string]tensor.Tensor{"x": x}
	benchpair.Bench(b, 2000, "python", py, "carton", benchpair.InfersReleasing(ctx, m, in))
}

// BenchmarkSklearnPipeline: the scikit-learn pipeline of testdata/sklearn
// through carton.Infer from Go against the same model's infer_with_tensors
// in a plain Python with scikit-learn ($CARTON_TEST_SKLEARN_PYTHON),
// paired as BenchmarkInferOverhead. locked-thread calls from a goroutine
// locked to its OS thread. python-vs-python pairs two such Python
// processes alike: the noise floor. A run's interval holds only the noise
// between its rounds, not what differs between two processes (placement,
// layout, hash seeds), so carton equals Python within noise where its
// difference lies within the floor's.
func BenchmarkSklearnPipeline(b *testing.B) {
	ctx := context.Background()
	m, in, skpy := sklearnModel(b)
	py := pythonCalls(b, skpy, "testdata/sklearn", sklearnInputs)
	if py == nil {
		b.Fatalf("%s does not run the model", skpy)
	}
	b.Run("python-vs-python", func(b *testing.B) {
		other := pythonCalls(b, skpy, "testdata/sklearn", sklearnInputs)
		if other == nil {
			b.Fatalf("%s does not run the model", skpy)
		}
		benchpair.Bench(b, 20, "python", py, "other-python", other)
	})
	for _, locked := range []bool{false, true} {
		b.Run(callerName(locked), func(b *testing.B) {
			if locked {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			benchpair.Bench(b, 20, "python", py, "carton", benchpair.InfersReleasing(ctx, m, in))
		})
	}
}

// sklearnInputs is the scikit-learn benchmarks' input as Python makes it;
// sklearnModel makes the same in Go.
const sklearnInputs = "{'x': (np.arange(256) % 7 + 0.5).reshape(64, 4)}"

// sklearnModel packs and loads testdata/sklearn and returns it with its
// input and the Python with scikit-learn to compare with.
func sklearnModel(b *testing.B) (*carton.Model, map[string]tensor.Tensor, string) {
	skpy := os.Getenv("CARTON_TEST_SKLEARN_PYTHON")
	if skpy == "" {
		b.Skip("needs $CARTON_TEST_SKLEARN_PYTHON")
	}
	ctx := context.Background()
	out := filepath.Join(b.TempDir(), "sklearn.carton")
	if _, err := carton.Pack(ctx, "testdata/sklearn", out, carton.PackOptions{Config: pythonConfig()}); err != nil {
		b.Fatal(err)
	}
	m, err := carton.Load(ctx, out)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	xs := make([]float64, 64*4)
	for i := range xs {
		xs[i] = float64(i%7) + 0.5
	}
	x, _ := tensor.From(tensor.Shape{64, 4}, xs)
	return m, map[string]tensor.Tensor{"x": x}, skpy
}

func callerName(locked bool) string {
	if locked {
		return "locked-thread"
	}
	return "goroutine"
}

const pythonCallsScript = `import sys, numpy as np
sys.path.insert(0, sys.argv[1])
import main
m = main.get_model()
x = eval(sys.argv[2])
m.infer_with_tensors(x)
print("ready", flush=True)
for line in sys.stdin:
    for _ in range(int(line)): m.infer_with_tensors(x)
    print("done", flush=True)
`

// pythonCalls starts python on the model in dir (its main.get_model())
// with the inputs of the Python expression inputs, and returns the Op of
// n calls of its infer_with_tensors there; nil when it does not start.
func pythonCalls(b *testing.B, python, dir, inputs string) benchpair.Op {
	in, out := startPython(b, python, "-c", pythonCallsScript, dir, inputs)
	if out == nil {
		return nil
	}
	return func(n int) error {
		if _, err := fmt.Fprintln(in, n); err != nil {
			return err
		}
		if !out.Scan() || out.Text() != "done" {
			return fmt.Errorf("the Python side stopped: %v", out.Err())
		}
		return nil
	}
}

// startPython runs python with args, which prints "ready" once it reads
// requests on its stdin; out is nil when it does not start or get ready.
// The process ends when the benchmark does.
func startPython(b *testing.B, python string, args ...string) (in io.WriteCloser, out *bufio.Scanner) {
	cmd := exec.Command(python, args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		return nil, nil
	}
	b.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
	})
	out = bufio.NewScanner(stdout)
	out.Buffer(nil, 1<<20)
	if !out.Scan() || out.Text() != "ready" {
		return nil, nil
	}
	return in, out
}
