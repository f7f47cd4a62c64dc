package libtorch_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/backend/libtorch"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/benchpair"
	"github.com/carton-run/carton/internal/semver"
	"github.com/carton-run/carton/tensor"
)

// BenchmarkOverhead compares carton.Infer with the same forward called
// from C++ (csrc/bench_direct.cpp, built beside each shim by `make shims`
// and loaded into this process) on one libtorch: dict_io with a 2x4 input
// (tiny) and first, whose work is O(1), with a 64 MiB input.
// BenchmarkOverheadPaired measures the difference more finely.
//
// libtorch releases cannot share a process: set
// CARTON_TEST_LIBTORCH_VERSION to pick one (default: the newest found).
func BenchmarkOverhead(b *testing.B) {
	rt := benchRuntime(b)
	b.Logf("libtorch %s (%s %s)", rt.Version, rt.Source, rt.Path)
	ctx := context.Background()
	tiny, _ := tensor.From(tensor.Shape{2, 4}, []float32{1, 2, 3, 4, 5, 6, 7, 8})
	big, _ := tensor.New(tensor.Float32, tensor.Shape{16 << 20})
	for _, c := range []struct {
		name, model string
		dict        bool
		x           tensor.Tensor
	}{{"tiny", "dict_io", true, tiny}, {"64MiB", "first", false, big}} {
		path := packBench(b, c.model)
		m, err := carton.Load(ctx, path, carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(b.TempDir()),
			carton.WithRunnerOpt("num_threads", 1))
		if err != nil {
			b.Fatal(err)
		}
		benchpair.TimeAPIs(b, "input="+c.name, ctx, m, map[string]tensor.Tensor{"x": c.x})
		b.Run("input="+c.name+"/impl=cpp", func(b *testing.B) {
			benchpair.Time(b, libtorch.CppForward(b, rt.Version, filepath.Join(models, c.model+".pt"), c.dict, false, c.x))
		})
		m.Close()
	}
}

func benchRuntime(b *testing.B) backend.Runtime {
	rts := runtimes(b)
	best := rts[0]
	for _, rt := range rts {
		if v := os.Getenv(versionEnv); v != "" && rt.Version == v {
			return rt
		}
		if semverLess(best.Version, rt.Version) {
			best = rt
		}
	}
	return best
}

func packBench(b *testing.B, name string) string {
	out := filepath.Join(b.TempDir(), name+".carton")
	if _, err := carton.Pack(context.Background(), filepath.Join(models, name+".pt"), out, carton.PackOptions{Config: format.Config{
		Runner: format.Runner{RunnerName: "torchscript", RequiredFrameworkVersion: "*"},
	}}); err != nil {
		b.Fatal(err)
	}
	return out
}

func semverLess(a, b string) bool { return semver.MustParse(a).Compare(semver.MustParse(b)) < 0 }

// BenchmarkLoad compares loading dict_io: torch::jit::load + eval from C++
// in this process, against carton.Load of the packed carton (open the zip,
// hash every file, select the runtime, load from the zip's bytes) + Close.
func BenchmarkLoad(b *testing.B) {
	rt := benchRuntime(b)
	ctx := context.Background()
	path := packBench(b, "dict_io")
	dir := b.TempDir()
	m, err := carton.Load(ctx, path, carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(dir))
	if err != nil {
		b.Fatal(err)
	}
	m.Close() // the first load also opens the library: not what is timed
	b.Run("impl=carton", func(b *testing.B) {
		for b.Loop() {
			m, err := carton.Load(ctx, path, carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(dir))
			if err != nil {
				b.Fatal(err)
			}
			m.Close()
		}
	})
	b.Run("impl=cpp", func(b *testing.B) {
		benchpair.Time(b, libtorch.CppLoad(b, rt.Version, filepath.Join(models, "dict_io.pt")))
	})
}
