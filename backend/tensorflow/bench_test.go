package tensorflow

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"unsafe"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/benchpair"
	"github.com/carton-run/carton/tensor"
)

// The overhead benchmarks: the same SavedModel on the same library, called
//   - direct: the C API through this package's binding on the same loaded
//     session, the least a Go program must do (TF_NewTensor over the Go
//     input, TF_SessionRun, the status check, TF_TensorData of the output,
//     TF_DeleteTensor of both);
//   - session: this runner's Session.Infer;
//   - carton: carton.Infer on the packed carton (spec checks included);
// for a tiny input (signatures' x + 1 on 4 floats) and a 64 MiB input
// (first: x[:1], O(1) work, so any copy of the input would show).

type benchCase struct {
	name, model string
	input       tensor.Tensor
}

func benchCases(b *testing.B) []benchCase {
	tiny, err := tensor.New(tensor.Float32, tensor.Shape{4})
	if err != nil {
		b.Fatal(err)
	}
	big, err := tensor.New(tensor.Float32, tensor.Shape{16 << 20}) // 64 MiB
	if err != nil {
		b.Fatal(err)
	}
	return []benchCase{{"tiny", "signatures", tiny}, {"64MiB", "first", big}}
}

// benchSetup loads the library and a session with the threads of
// benchOpts, as the packed cartons ask for.
func benchSetup(b *testing.B, model string) (backend.Runtime, *session) {
	b.Helper()
	found, err := Runner{}.Runtimes(context.Background(), backend.Hints{})
	if len(found) == 0 {
		b.Skipf("no TensorFlow found: %v", err)
	}
	lib, err := loadLibrary(found[0].Path)
	if err != nil {
		b.Fatal(err)
	}
	o, _ := parseOptions(benchOpts())
	s, err := newSession(lib, filepath.Join(testModels, model), o)
	if err != nil {
		b.Fatal(err)
	}
	return found[0], s
}

// interOp is the inter_op_threads of every benchmark session: -1 (the
// default) runs each graph on the calling thread, 1 on a one-thread
// inter-op pool (go test -bench . -args -interop 1).
var interOp = flag.Int64("interop", -1, "inter_op_threads of the benchmark sessions")

func benchOpts() map[string]any {
	return map[string]any{"intra_op_threads": int64(1), "inter_op_threads": *interOp}
}

func BenchmarkOverhead(b *testing.B) {
	for _, c := range benchCases(b) {
		rt, s := benchSetup(b, c.model)
		b.Logf("TensorFlow %s from %s", s.lib.version, rt.Path)
		b.Run("input="+c.name+"/impl=direct", func(b *testing.B) {
			cs := s.scratch.Get().(*callState)
			b.ReportAllocs()
			for b.Loop() {
				directOnce(b, s, cs, c.input)
			}
			s.scratch.Put(cs)
		})
		in := map[string]tensor.Tensor{s.sig.inputs[0].key: c.input}
		b.Run("input="+c.name+"/impl=session", func(b *testing.B) {
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
		m := loadPacked(b, rt, c.model)
		benchpair.TimeAPIs(b, "input="+c.name, context.Background(), m, in)
		m.Close()
		s.Close()
	}
}

// BenchmarkOverheadParallel is BenchmarkOverhead with GOMAXPROCS callers at
// once on one session or model.
func BenchmarkOverheadParallel(b *testing.B) {
	for _, c := range benchCases(b) {
		rt, s := benchSetup(b, c.model)
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
		m := loadPacked(b, rt, c.model)
		benchpair.TimeParallelAPIs(b, "input="+c.name, context.Background(), m, map[string]tensor.Tensor{s.sig.inputs[0].key: c.input})
		m.Close()
		s.Close()
	}
}

func loadPacked(b *testing.B, rt backend.Runtime, model string) *carton.Model {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	path := filepath.Join(dir, "m.carton")
	if _, err := carton.Pack(ctx, filepath.Join(testModels, model), path, carton.PackOptions{Config: format.Config{
		Runner: format.Runner{RunnerName: "tensorflow", RequiredFrameworkVersion: "*", Opts: benchOpts()},
	}}); err != nil {
		b.Fatal(err)
	}
	m, err := carton.Load(ctx, path, carton.WithRuntimePath(rt.Path), carton.WithCacheDir(dir))
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// directOnce is the floor: the native calls any binding has to make.
func directOnce(b *testing.B, s *session, cs *callState, x tensor.Tensor) {
	f := &s.lib.fn
	shape := x.Shape()
	cs.pin.Pin(x.Pointer())
	cs.inVals[0] = cs.Call(f.newTensor, uintptr(tfFloat), uintptrOfShape(shape), uintptr(len(shape)), uintptr(x.Pointer()), uintptr(x.ByteLen()), s.dealloc, 0)
	cs.Call(f.sessionRun, s.handle, 0, uintptrOfOps(s.inOps), uintptrOfVals(cs.inVals), 1, uintptrOfOps(s.outOps), uintptrOfVals(cs.outVals), 1, 0, 0, 0, uintptr(cs.status))
	if err := s.lib.err(&cs.Caller, cs.status); err != nil {
		b.Fatal(err)
	}
	if cs.Call(f.tensorData, cs.outVals[0]) == 0 {
		b.Fatal("no output data")
	}
	cs.Call(f.deleteTensor, cs.outVals[0])
	cs.Call(f.deleteTensor, cs.inVals[0])
	cs.pin.Unpin()
}

// BenchmarkLoad compares opening a SavedModel: TF_LoadSessionFromSavedModel
// and the signature lookup through this binding (impl=direct), and
// carton.Load of the packed carton plus Close (impl=carton): dense (tiny),
// and SavedModels holding 46 MB and 256 MiB of float32 variables, made by
// the TensorFlow in $CARTON_PYTHON's first interpreter; Load reads the
// copy the first Load extracted into the cache, whose stamp proves it and
// the carton unchanged (nothing is hashed).
func BenchmarkLoad(b *testing.B) {
	rt, s := benchSetup(b, "dense")
	s.Close()
	o, _ := parseOptions(benchOpts())
	ctx := context.Background()
	dir := b.TempDir()
	cases := []struct{ name, model string }{{"tiny", filepath.Join(testModels, "dense")}}
	py := "python3"
	if l := filepath.SplitList(os.Getenv("CARTON_PYTHON")); len(l) > 0 {
		py = l[0]
	}
	for _, l := range []struct {
		name   string
		floats int
	}{{"46MB", 46e6 / 4}, {"256MB", 64 << 20}} {
		p := filepath.Join(dir, l.name)
		script := "import sys, tensorflow as tf\n" +
			"class M(tf.Module):\n" +
			"    def __init__(self, n):\n" +
			"        self.w = tf.Variable(tf.random.normal([n]))\n" +
			"    @tf.function(input_signature=[tf.TensorSpec([1], tf.float32)])\n" +
			"    def __call__(self, x):\n" +
			"        return {'y': x + self.w[:1]}\n" +
			"m = M(int(sys.argv[2]))\n" +
			"tf.saved_model.save(m, sys.argv[1], signatures=m.__call__)\n"
		cmd := exec.Command(py, "-c", script, p, strconv.Itoa(l.floats))
		cmd.Env = append(os.Environ(), "TF_CPP_MIN_LOG_LEVEL=3")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Skipf("making the %s model needs tensorflow in %s: %v: %s", l.name, py, err, out)
		}
		cases = append(cases, struct{ name, model string }{l.name, p})
	}
	for _, c := range cases {
		b.Run("model="+c.name+"/impl=direct", func(b *testing.B) {
			for b.Loop() {
				s, err := newSession(s.lib, c.model, o)
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
		})
		path := filepath.Join(dir, c.name+".carton")
		if _, err := carton.Pack(ctx, c.model, path, carton.PackOptions{Config: format.Config{
			Runner: format.Runner{RunnerName: "tensorflow", RequiredFrameworkVersion: "*", Opts: benchOpts()},
		}}); err != nil {
			b.Fatal(err)
		}
		cache := filepath.Join(dir, c.name+"-cache")
		load := func(b *testing.B) {
			m, err := carton.Load(ctx, path, carton.WithRuntimePath(rt.Path), carton.WithCacheDir(cache))
			if err != nil {
				b.Fatal(err)
			}
			m.Close()
		}
		load(b) // extracts
		b.Run("model="+c.name+"/impl=carton", func(b *testing.B) {
			for b.Loop() {
				load(b)
			}
		})
	}
}

// BenchmarkOverheadPaired alternates short batches of the direct floor
// and of carton.Infer on one goroutine (internal/benchpair) and reports the
// median added time per call with its 95% interval: on a machine whose
// speed drifts, batches taken a millisecond apart cancel the drift that
// separate runs cannot. -benchtime sets the number of rounds.
func BenchmarkOverheadPaired(b *testing.B) {
	for _, c := range benchCases(b) {
		rt, own := benchSetup(b, c.model)
		own.Close()
		m := loadPacked(b, rt, c.model)
		// The floor runs on carton's own session: two sessions would each
		// keep per-session thread pools spinning on this 2-core machine.
		s := sessionOf(b, m)
		in := map[string]tensor.Tensor{s.sig.inputs[0].key: c.input}
		cs := s.scratch.Get().(*callState)
		benchpair.BenchAPIs(b, "input="+c.name, context.Background(), m, in, 20, "direct", func(b *testing.B) benchpair.Op {
			return benchpair.Repeat(func() { directOnce(b, s, cs, c.input) })
		})
		s.scratch.Put(cs)
		m.Close()
	}
}

// sessionOf returns the runner session inside a loaded carton.Model (an
// unexported field; benchmarks only).
func sessionOf(b *testing.B, m *carton.Model) *session {
	f := reflect.ValueOf(m).Elem().FieldByName("session")
	s, ok := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(*session)
	if !ok {
		b.Fatal("carton.Model holds no TensorFlow session")
	}
	return s
}
