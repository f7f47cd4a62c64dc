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
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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

// BenchmarkInferOverhead: carton.Infer of a tiny numpy model against the
// same model's infer_with_tensors called by Python itself, in a process of
// the same interpreter beside the benchmark (see runPaired): added-ns/op is
// what the runner adds.
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
	var py *pairedPython
	for _, interp := range strings.Split(os.Getenv("CARTON_PYTHON"), string(os.PathListSeparator)) {
		if py = startPairedPython(b, interp, dir, "{'x': np.array([[1, 2, 3, 4]], np.float32)}"); py != nil {
			break
		}
	}
	if py == nil {
		b.Fatal("no interpreter in $CARTON_PYTHON runs the model")
	}
	x, _ := tensor.From(tensor.Shape{1, 4}, []float32{1, 2, 3, 4})
	in := map[string]tensor.Tensor{"x": x}
	runPaired(b, py, 2000, func() {
		out, err := m.Infer(ctx, in)
		if err != nil {
			b.Fatal(err)
		}
		m.ReleaseOutputs(out)
	})
}

// BenchmarkSklearnPipeline: the scikit-learn pipeline of testdata/sklearn
// through carton.Infer from Go against the same model's infer_with_tensors
// in a plain Python with scikit-learn ($CARTON_TEST_SKLEARN_PYTHON), paired
// (see runPaired). locked-thread calls from a goroutine locked to its OS
// thread.
func BenchmarkSklearnPipeline(b *testing.B) {
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
	defer m.Close()
	py := startPairedPython(b, skpy, "testdata/sklearn", "{'x': (np.arange(256) % 7 + 0.5).reshape(64, 4)}")
	if py == nil {
		b.Fatalf("%s does not run the model", skpy)
	}
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
			runPaired(b, py, 100, func() {
				res, err := m.Infer(ctx, in)
				if err != nil {
					b.Fatal(err)
				}
				m.ReleaseOutputs(res)
			})
		})
	}
}

// runPaired times b.N calls of infer in blocks of block calls, each block
// followed by as many calls of the model in py, so that the machine's slow
// and fast phases fall on both sides. It reports Python's time per call
// (python-ns/op) and, as medians over the blocks, the time Go adds per
// call (added-ns/op) and Go's time over Python's (go/python).
func runPaired(b *testing.B, py *pairedPython, block int, infer func()) {
	var pyTime time.Duration
	pyCalls := 0
	var added, ratios []float64
	start := time.Now()
	for i := 0; i < b.N; i++ {
		infer()
		if (i+1)%block != 0 && i != b.N-1 {
			continue
		}
		b.StopTimer()
		goTime := time.Since(start)
		n := i%block + 1
		t := py.run(b, n)
		added = append(added, float64(goTime-t)/float64(n))
		ratios = append(ratios, float64(goTime)/float64(t))
		pyTime += t
		pyCalls += n
		start = time.Now()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(pyTime.Nanoseconds())/float64(pyCalls), "python-ns/op")
	b.ReportMetric(median(added), "added-ns/op")
	b.ReportMetric(median(ratios), "go/python")
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// pairedPython is a Python process that imports a model directory's main,
// calls its get_model(), and then calls infer_with_tensors on fixed inputs
// as many times as it is told, answering the time taken in nanoseconds.
type pairedPython struct {
	in  io.Writer
	out *bufio.Scanner
}

const pairedScript = `import sys, time, numpy as np
sys.path.insert(0, sys.argv[1])
import main
m = main.get_model()
x = eval(sys.argv[2])
m.infer_with_tensors(x)
print("ready", flush=True)
for line in sys.stdin:
    n = int(line)
    t = time.perf_counter_ns()
    for _ in range(n): m.infer_with_tensors(x)
    print(time.perf_counter_ns() - t, flush=True)
`

// startPairedPython starts python on the model in dir with the inputs of
// the Python expression inputs; nil when it does not get ready.
func startPairedPython(b *testing.B, python, dir, inputs string) *pairedPython {
	cmd := exec.Command(python, "-c", pairedScript, dir, inputs)
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		return nil
	}
	b.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
	})
	p := &pairedPython{in: in, out: bufio.NewScanner(stdout)}
	if !p.out.Scan() || p.out.Text() != "ready" {
		return nil
	}
	return p
}

// run times n calls in Python.
func (p *pairedPython) run(b *testing.B, n int) time.Duration {
	if _, err := fmt.Fprintln(p.in, n); err != nil {
		b.Fatal(err)
	}
	if !p.out.Scan() {
		b.Fatalf("the Python side stopped: %v", p.out.Err())
	}
	ns, err := strconv.ParseInt(p.out.Text(), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return time.Duration(ns)
}
