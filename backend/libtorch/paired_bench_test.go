package libtorch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/dlopen"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/benchpair"
	"github.com/carton-run/carton/tensor"
)

// BenchmarkOverheadPaired times carton.Infer against the bare forward
// called from C++ in this same process (csrc/bench_direct.cpp, built beside
// the shim by `make shims`, linking the same libtorch), alternating short
// batches of each on one goroutine (internal/benchpair), and reports the
// median added time per call with its 95% interval. A third side, the
// shim's ct_forward called straight through the binding in a loop, splits
// the difference into the shim's part (level=shim: binding vs C++) and
// the Go side's (level=go: carton.Infer vs binding; go-release and
// go-into the same for Infer with ReleaseOutputs and InferInto); level=total-into is
// carton.InferInto with one output map for every call, level=total-release
// carton.Infer with each call's map given back through ReleaseOutputs; level=shim-code is
// the shim called from a C++ loop (its C++ alone) and level=transition that
// loop vs the binding loop (one Go call per forward). level=least is a
// hand-written loop doing only what any Go binding with carton's API must
// around the shim (look the input up in the map, forward, one Go block
// for the outputs, copy, map entries, release) against the C++ forward:
// a lower bound for carton.InferInto, which level=into-vs-least compares
// with it; level=least-infer is that loop with a new output map per call,
// the lower bound for carton.Infer (level=infer-vs-least), and
// level=least-release the loop keeping one Go block for the outputs, the
// lower bound for carton.Infer with ReleaseOutputs (level=release-vs-least).
// level=tuned times the C++ forward taking the shortcuts the shim takes
// (ctb_forward_tuned: forward's Method looked up once, in dict mode the
// input dict refilled and run without the schema check) against the plain
// one; tuned-release and tuned-into time carton against that tuned floor,
// which leaves only what carton adds, not what it saves.
// -benchtime sets the number of rounds.
func BenchmarkOverheadPaired(b *testing.B) {
	rt := pairedRuntime(b)
	ctx := context.Background()
	tiny, _ := tensor.From(tensor.Shape{2, 4}, []float32{1, 2, 3, 4, 5, 6, 7, 8})
	big, _ := tensor.New(tensor.Float32, tensor.Shape{16 << 20})
	models := filepath.Join("..", "..", "testdata", "torch")
	for _, c := range []struct {
		name, model string
		dict        bool
		x           tensor.Tensor
	}{{"tiny", "dict_io", true, tiny}, {"64MiB", "first", false, big}} {
		dir := b.TempDir()
		path := filepath.Join(dir, c.model+".carton")
		if _, err := carton.Pack(ctx, filepath.Join(models, c.model+".pt"), path, carton.PackOptions{Config: format.Config{
			Runner: format.Runner{RunnerName: "torchscript", RequiredFrameworkVersion: "*"}}}); err != nil {
			b.Fatal(err)
		}
		m, err := carton.Load(ctx, path, carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(dir),
			carton.WithRunnerOpt("num_threads", 1))
		if err != nil {
			b.Fatal(err)
		}
		direct := CppForward(b, rt.Version, filepath.Join(models, c.model+".pt"), c.dict, false, c.x)
		tuned := CppForward(b, rt.Version, filepath.Join(models, c.model+".pt"), c.dict, true, c.x)
		binding := bindingLoop(b, rt, filepath.Join(models, c.model+".pt"), c.x)
		shimCpp := shimFromCpp(b, rt, filepath.Join(models, c.model+".pt"), c.x)
		in := map[string]tensor.Tensor{"x": c.x}
		least := leastGoLoop(b, rt, filepath.Join(models, c.model+".pt"), in, leastInto)
		leastInfer := leastGoLoop(b, rt, filepath.Join(models, c.model+".pt"), in, leastFreshMap)
		leastReuse := leastGoLoop(b, rt, filepath.Join(models, c.model+".pt"), in, leastKeptBlock)
		for _, level := range []struct {
			name, aName, bName string
			a, b               benchpair.Op
		}{
			{"total", "cpp", "carton", direct, benchpair.Infers(ctx, m, in)},
			{"total-into", "cpp", "carton", direct, benchpair.InfersInto(ctx, m, in)},         // carton.InferInto, one output map
			{"total-release", "cpp", "carton", direct, benchpair.InfersReleasing(ctx, m, in)}, // carton.Infer, outputs given back by ReleaseOutputs
			{"shim", "cpp", "binding", direct, binding},
			{"shim-code", "cpp", "shim-from-cpp", direct, shimCpp},       // the shim's C++ alone
			{"transition", "shim-from-cpp", "binding", shimCpp, binding}, // one Go call per forward
			{"go", "binding", "carton", binding, benchpair.Infers(ctx, m, in)},
			{"go-release", "binding", "carton", binding, benchpair.InfersReleasing(ctx, m, in)}, // issue #7's yardstick: the same binding, called directly
			{"go-into", "binding", "carton", binding, benchpair.InfersInto(ctx, m, in)},
			{"least", "cpp", "least-go", direct, least},                                      // the least Go work this API needs
			{"into-vs-least", "least-go", "carton", least, benchpair.InfersInto(ctx, m, in)}, // what carton adds to that
			{"least-infer", "cpp", "least-go", direct, leastInfer},                           // the same with a new map per call, as Infer returns
			{"infer-vs-least", "least-go", "carton", leastInfer, benchpair.Infers(ctx, m, in)},
			{"least-release", "cpp", "least-go", direct, leastReuse}, // the same keeping its block, as Infer with ReleaseOutputs may
			{"release-vs-least", "least-go", "carton", leastReuse, benchpair.InfersReleasing(ctx, m, in)},
			{"tuned", "cpp", "cpp-tuned", direct, tuned}, // what the shim's shortcuts save a C++ caller
			{"tuned-release", "cpp-tuned", "carton", tuned, benchpair.InfersReleasing(ctx, m, in)},
			{"tuned-into", "cpp-tuned", "carton", tuned, benchpair.InfersInto(ctx, m, in)},
		} {
			b.Run("input="+c.name+"/level="+level.name, func(b *testing.B) {
				benchpair.Bench(b, 50, level.aName, level.a, level.bName, level.b)
			})
		}
		m.Close()
	}
}

// pairedRuntime is the newest libtorch with a shim, or the one
// CARTON_TEST_LIBTORCH_VERSION names.
func pairedRuntime(b *testing.B) backend.Runtime {
	rts, err := Runner{}.Runtimes(context.Background(), backend.Hints{})
	if err != nil || len(rts) == 0 {
		b.Skip("no libtorch")
	}
	want := os.Getenv("CARTON_TEST_LIBTORCH_VERSION")
	for _, rt := range rts { // newest first
		if _, ok := ShimPath(rt.Version); ok && (want == "" || rt.Version == want) {
			return rt
		}
	}
	b.Skip("no libtorch with a shim")
	return backend.Runtime{}
}

// bindingLoop loads model through the shim and returns an op that calls
// ct_forward on x n times, each call handing the previous result back as
// done: the shim's cost plus one native call, without the Go side of
// Infer (no map, no output tensors).
func bindingLoop(b *testing.B, rt backend.Runtime, model string, x tensor.Tensor) benchpair.Op {
	m, cs := oneInputCall(b, rt, model, x)
	return func(n int) error {
		for range n {
			if err := cs.forwardOne(m, x); err != nil {
				return err
			}
			cs.call.done[0], cs.call.nDone = cs.call.result, 1
		}
		return nil
	}
}

// forwardOne calls ct_forward on x as the call state's one input, as
// oneInputCall set it up, handing back whatever cs.call.done holds.
func (cs *callState) forwardOne(m *module, x tensor.Tensor) error {
	st := cs.Call(m.shim.fn.forward, m.handle, uintptr(unsafe.Pointer(&cs.ins[0])), 1, uintptr(unsafe.Pointer(&cs.dims[0])),
		uintptr(unsafe.Pointer(&cs.call)), uintptr(x.Pointer()), 0, 0, 0, 0, 0, 0, 0, 0, 0)
	return m.shim.check(&cs.Caller, st, &cs.call.err)
}

// oneInputCall loads model through the shim and describes x as its one
// input "x", as carton does (data passed as an argument, nothing pinned);
// cleanup frees the last result and the module.
func oneInputCall(b *testing.B, rt backend.Runtime, model string, x tensor.Tensor) (*module, *callState) {
	s, err := loadShim(context.Background(), rt)
	if err != nil {
		b.Fatal(err)
	}
	m, err := newModule(s, model, nil, "cpu", &format.Config{})
	if err != nil {
		b.Fatal(err)
	}
	cs := &callState{}
	cs.ins = []ctTensor{{name: m.cName("x"), dtype: int32(tensor.Float32), ndim: int32(len(x.Shape())), nbytes: int64(x.ByteLen())}}
	cs.dims = append([]int64(nil), x.Shape()...)
	b.Cleanup(func() {
		if cs.call.nDone > 0 {
			dlopen.Call(s.fn.resultFree, cs.call.done[0])
		}
		m.Close()
	})
	return m, cs
}

// shimFromCpp loads model through the shim and returns an op that calls
// ct_forward on x n times from a C++ loop (ctb_shim_loop): the shim's cost
// without a Go call per forward.
func shimFromCpp(b *testing.B, rt backend.Runtime, model string, x tensor.Tensor) benchpair.Op {
	f := openCppFloor(b, rt.Version)
	m, cs := oneInputCall(b, rt, model, x)
	s := m.shim
	return func(n int) error {
		if cs.Call(f.shimLoop, s.fn.forward, m.handle, uintptr(unsafe.Pointer(&cs.ins[0])), uintptr(unsafe.Pointer(&cs.dims[0])),
			uintptr(unsafe.Pointer(&cs.call)), uintptr(x.Pointer()), uintptr(n)) != 0 {
			return s.check(&cs.Caller, 1, &cs.call.err)
		}
		return nil
	}
}

// cppFloor is the C++ floor library for one libtorch version, loaded into
// this process (it links the libtorch the shim does).
type cppFloor struct {
	load, forward, forwardTuned, free, shimLoop uintptr
}

func openCppFloor(b *testing.B, version string) *cppFloor {
	shim, ok := ShimPath(version)
	if !ok {
		b.Skip("no shim")
	}
	lib, err := dlopen.Open(filepath.Join(filepath.Dir(shim), "libcarton_torch_bench.so"))
	if err != nil {
		b.Skipf("no in-process C++ floor (build it with make shims): %v", err)
	}
	f := &cppFloor{}
	if err := lib.Bind(map[string]*uintptr{"ctb_load": &f.load, "ctb_forward": &f.forward, "ctb_forward_tuned": &f.forwardTuned, "ctb_free": &f.free,
		"ctb_shim_loop": &f.shimLoop}); err != nil {
		b.Fatal(err)
	}
	return f
}

// CppLoad returns an op that loads model from C++ (torch::jit::load and
// eval, as the shim does) and frees it, n times.
func CppLoad(b *testing.B, version, model string) benchpair.Op {
	f := openCppFloor(b, version)
	out := dlopen.New[[2]uintptr]() // module, error
	p := dlopen.CString(model)
	var c dlopen.Caller
	return func(n int) error {
		for range n {
			if c.Call(f.load, uintptr(unsafe.Pointer(&p[0])), uintptr(unsafe.Pointer(&out[0])), uintptr(unsafe.Pointer(&out[1]))) != 0 {
				return fmt.Errorf("ctb_load: %s", dlopen.GoString(out[1]))
			}
			c.Call(f.free, out[0])
		}
		return nil
	}
}

// CppForward loads model into the C++ floor; the returned op runs its
// forward n times on x inside one native call (dict: x goes in as the
// "x" of a Dict[str, Tensor]; tuned: through ctb_forward_tuned).
func CppForward(b *testing.B, version, model string, dict, tuned bool, x tensor.Tensor) benchpair.Op {
	f := openCppFloor(b, version)
	forward := f.forward
	if tuned {
		forward = f.forwardTuned
	}
	out := dlopen.New[[2]uintptr]() // module, error
	var c dlopen.Caller
	p := dlopen.CString(model)
	if c.Call(f.load, uintptr(unsafe.Pointer(&p[0])), uintptr(unsafe.Pointer(&out[0])), uintptr(unsafe.Pointer(&out[1]))) != 0 {
		b.Fatalf("ctb_load: %s", dlopen.GoString(out[1]))
	}
	h := out[0]
	b.Cleanup(func() { dlopen.Call(f.free, h) })
	shape := append(tensor.Shape(nil), x.Shape()...)
	var pin runtime.Pinner
	pin.Pin(&shape[0])
	pin.Pin(x.Pointer())
	b.Cleanup(pin.Unpin)
	asDict := uintptr(0)
	if dict {
		asDict = 1
	}
	return func(n int) error {
		if c.Call(forward, h, uintptr(x.Pointer()), uintptr(unsafe.Pointer(&shape[0])), uintptr(len(shape)), asDict, uintptr(n),
			uintptr(unsafe.Pointer(&out[1]))) != 0 {
			return fmt.Errorf("ctb_forward: %s", dlopen.GoString(out[1]))
		}
		return nil
	}
}

// leastMode is what leastGoLoop's loop allocates per call.
type leastMode int

const (
	leastInto      leastMode = iota // one output map for every call, a new block per call (InferInto)
	leastFreshMap                   // a new map and a new block per call (Infer)
	leastKeptBlock                  // one map and one block for every call (Infer with ReleaseOutputs)
)

// leastGoLoop returns an op that runs forward on inputs["x"] n times doing
// the least Go work carton's API implies: the input looked up in the map,
// the previous result handed back as done, one Go block carved into the
// outputs, their data copied, the entries of a map overwritten, and the
// outputs released; mode says whether the map and the block are new each
// call. No call state, pool, checks beyond the status, aliasing or error
// paths: what is left is what the API in mode cannot avoid.
func leastGoLoop(b *testing.B, rt backend.Runtime, model string, inputs map[string]tensor.Tensor, mode leastMode) benchpair.Op {
	m, cs := oneInputCall(b, rt, model, inputs["x"])
	var names []string // output names by position, made on the first call
	out := map[string]tensor.Tensor{}
	var kept []byte
	return func(n int) error {
		for range n {
			if mode == leastFreshMap {
				out = make(map[string]tensor.Tensor, len(names))
			}
			if err := cs.forwardOne(m, inputs["x"]); err != nil {
				return err
			}
			res := (*ctResult)(dlopen.Pointer(cs.call.result))
			outs := unsafe.Slice((*ctTensor)(dlopen.Pointer(res.tensors)), res.n)
			size := 0
			for i := range outs {
				k, err := tensor.BlockSize(tensor.DType(outs[i].dtype), outputShape(&outs[i]))
				if err != nil {
					return err
				}
				size += k
			}
			var block []byte
			if mode == leastKeptBlock && cap(kept) >= size {
				block = kept[:size]
			} else {
				block = make([]byte, size)
				kept = block
			}
			for i := range outs {
				o := &outs[i]
				t, rest, err := tensor.Carve(block, tensor.DType(o.dtype), outputShape(o))
				if err != nil {
					return err
				}
				block = rest
				copy(unsafe.Slice((*byte)(t.Pointer()), o.nbytes), unsafe.Slice((*byte)(dlopen.Pointer(o.data)), o.nbytes))
				if i == len(names) {
					names = append(names, dlopen.GoString(o.name))
				}
				out[names[i]] = t
			}
			cs.call.done[0], cs.call.nDone = cs.call.result, 1
			for _, t := range out {
				t.Release()
			}
		}
		return nil
	}
}
