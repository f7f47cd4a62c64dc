package libtorch_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// BenchmarkLoad compares loading a model: torch::jit::load + eval from C++
// in this process (impl=cpp), against carton.Load of the packed carton +
// Close (impl=carton): dict_io (tiny, loaded from the zip's bytes, which
// are verified), and TorchScript modules holding 46 MB and 256 MiB of
// float32 weights, made by Debian's torch (/usr/bin/python3), which Load
// reads from the copy the first Load extracted into the cache (its stamp
// proves it, and the carton, unchanged: nothing is hashed).
func BenchmarkLoad(b *testing.B) {
	rt := benchRuntime(b)
	ctx := context.Background()
	dir := b.TempDir()
	cases := []struct{ name, model string }{{"tiny", filepath.Join(models, "dict_io.pt")}}
	for _, l := range []struct {
		name   string
		floats int
	}{{"46MB", 46e6 / 4}, {"256MB", 64 << 20}} {
		p := filepath.Join(dir, l.name+".pt")
		script := "import sys, torch\n" +
			"class M(torch.nn.Module):\n" +
			"    def __init__(self, n):\n" +
			"        super().__init__()\n" +
			"        self.w = torch.nn.Parameter(torch.randn(n), requires_grad=False)\n" +
			"    def forward(self, x):\n" +
			"        return x + self.w[:1]\n" +
			"torch.jit.trace(M(int(sys.argv[2])), torch.zeros(1)).save(sys.argv[1])\n"
		if out, err := exec.Command("/usr/bin/python3", "-c", script, p, strconv.Itoa(l.floats)).CombinedOutput(); err != nil {
			b.Skipf("making the %s model needs Debian's python3-torch: %v: %s", l.name, err, out)
		}
		cases = append(cases, struct{ name, model string }{l.name, p})
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name+".carton")
		if _, err := carton.Pack(ctx, c.model, path, carton.PackOptions{Config: format.Config{
			Runner: format.Runner{RunnerName: "torchscript", RequiredFrameworkVersion: "*"},
		}}); err != nil {
			b.Fatal(err)
		}
		cache := filepath.Join(dir, c.name+"-cache")
		load := func(b *testing.B) {
			m, err := carton.Load(ctx, path, carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(cache))
			if err != nil {
				b.Fatal(err)
			}
			m.Close()
		}
		load(b) // the first load also opens the library and extracts: not what is timed
		b.Run("model="+c.name+"/impl=carton", func(b *testing.B) {
			for b.Loop() {
				load(b)
			}
		})
		b.Run("model="+c.name+"/impl=cpp", func(b *testing.B) {
			benchpair.Time(b, libtorch.CppLoad(b, rt.Version, c.model))
		})
	}
}
