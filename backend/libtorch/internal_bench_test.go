package libtorch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/dlopen"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

// BenchmarkGoOverhead separates the Go side: two callers at once
// (b.RunParallel, which keeps this VM's timing steady), each calling either
// the shim's ct_forward straight through the binding (binding: fill one
// ct_tensor, forward, free the result) or carton.Infer, on one module.
func BenchmarkGoOverhead(b *testing.B) {
	rts, err := Runner{}.Runtimes(context.Background(), backend.Hints{})
	if err != nil || len(rts) == 0 {
		b.Skip("no libtorch")
	}
	rt := rts[0]
	if v := os.Getenv("CARTON_TEST_LIBTORCH_VERSION"); v != "" {
		for _, r := range rts {
			if r.Version == v {
				rt = r
			}
		}
	}
	if _, ok := ShimPath(rt.Version); !ok {
		b.Skip("no shim")
	}
	s, err := loadShim(rt)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.setThreads(1, 0); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	x, _ := tensor.From(tensor.Shape{16}, make([]float32, 16))
	model := filepath.Join("..", "..", "testdata", "torch", "first.pt")
	m, err := newModule(s, model, nil, "cpu", &format.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.Run("impl=binding", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			cs := &callState{}
			name := m.cName("x")
			shape := x.Shape()
			cs.ins = []ctTensor{{name: name, dtype: int32(tensor.Float32), ndim: 1, shape: uintptr(unsafe.Pointer(&shape[0])),
				data: uintptr(x.Pointer()), nbytes: int64(x.ByteLen())}}
			for pb.Next() {
				st := cs.Call(s.fn.forward, m.handle, uintptr(unsafe.Pointer(&cs.ins[0])), 1, 0, 0,
					uintptr(unsafe.Pointer(&cs.result)), uintptr(unsafe.Pointer(&cs.err)))
				if err := s.check(&cs.Caller, st, &cs.err); err != nil {
					b.Error(err)
					return
				}
				res := (*ctResult)(dlopen.Pointer(cs.result))
				if res.n != 1 {
					b.Error("one output expected")
				}
				cs.Call(s.fn.resultFree, cs.result)
			}
		})
	})
	dir := b.TempDir()
	path := filepath.Join(dir, "m.carton")
	if _, err := carton.Pack(ctx, model, path, carton.PackOptions{Config: format.Config{
		Runner: format.Runner{RunnerName: "torchscript", RequiredFrameworkVersion: "*"}}}); err != nil {
		b.Fatal(err)
	}
	cm, err := carton.Load(ctx, path, carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(dir), carton.WithRunnerOpt("num_threads", 1))
	if err != nil {
		b.Fatal(err)
	}
	defer cm.Close()
	in := map[string]tensor.Tensor{"x": x}
	b.Run("impl=carton", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				out, err := cm.Infer(ctx, in)
				if err != nil {
					b.Error(err)
					return
				}
				for _, t := range out {
					t.Release()
				}
			}
		})
	})
}
