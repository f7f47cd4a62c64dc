package libtorch_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/backend/libtorch"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/racebuild"
	"github.com/carton-run/carton/internal/refdata"
	"github.com/carton-run/carton/internal/semver"
	"github.com/carton-run/carton/tensor"
)

const models = "../../testdata/torch"

// runtimes returns the libtorch installations with a shim. Under CI=true
// both a 1.x and a 2.x must be there (make setup installs them).
func runtimes(t testing.TB) []backend.Runtime {
	t.Helper()
	found, err := libtorch.Runner{}.Runtimes(context.Background(), backend.Hints{})
	var usable []backend.Runtime
	majors := map[uint64]bool{}
	for _, rt := range found {
		if _, ok := libtorch.ShimPath(rt.Version); ok {
			usable = append(usable, rt)
			if v, err := semver.Parse(rt.Version); err == nil {
				majors[v.Major] = true
			}
		}
	}
	if os.Getenv("CI") == "true" {
		require.NoError(t, err)
		require.True(t, majors[1] && majors[2], "CI needs libtorch 1.x and 2.x with shims (make setup); found %v, usable %v", found, usable)
	} else if len(usable) == 0 {
		t.Skipf("no libtorch with a shim found (run make setup): %v %v", found, err)
	}
	return usable
}

// The version this test process runs on: libtorch releases cannot share a
// process, so TestEveryLibtorch runs the tests below once per release, each
// in a child process given CARTON_TEST_LIBTORCH_VERSION.
const versionEnv = "CARTON_TEST_LIBTORCH_VERSION"

func thisVersion(t *testing.T) backend.Runtime {
	t.Helper()
	v := os.Getenv(versionEnv)
	if v == "" {
		t.Skip("runs in a child process of TestEveryLibtorch")
	}
	for _, rt := range runtimes(t) {
		if rt.Version == v {
			return rt
		}
	}
	t.Fatalf("libtorch %s not found", v)
	return backend.Runtime{}
}

func TestEveryLibtorch(t *testing.T) {
	if os.Getenv(versionEnv) != "" {
		return
	}
	for _, rt := range runtimes(t) {
		t.Run(rt.Version, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run", "^TestOn", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), versionEnv+"="+rt.Version)
			out, err := cmd.CombinedOutput()
			t.Logf("libtorch %s (%s %s):\n%s", rt.Version, rt.Source, rt.Path, out)
			require.NoError(t, err, "tests on libtorch %s failed", rt.Version)
			assert.Contains(t, string(out), "--- PASS: TestOnModels")
		})
	}
}

func TestOnSecondLibtorchRefused(t *testing.T) {
	rt := thisVersion(t)
	ctx := context.Background()
	m, err := carton.Load(ctx, pack(t, "dict_io", "*", nil, nil), carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	m.Close()
	for _, other := range runtimes(t) {
		if other.Version == rt.Version {
			continue
		}
		_, err := carton.Load(ctx, pack(t, "dict_io", "*", nil, nil), carton.WithFrameworkVersion(other.Version), carton.WithCacheDir(t.TempDir()))
		require.ErrorIs(t, err, libtorch.ErrOtherLibtorch)
		assert.Contains(t, err.Error(), rt.Version)
	}
}

func spec(name string, dt tensor.DType) format.TensorSpec {
	return format.TensorSpec{Name: name, DType: dt, Shape: format.AnyShape}
}

// The models and the specs their cartons declare (positional models need
// input order and output names).
type modelCase struct {
	name    string
	inputs  []format.TensorSpec
	outputs []format.TensorSpec
}

var cases = []modelCase{
	{name: "dict_io"},
	{name: "positional", inputs: []format.TensorSpec{spec("a", tensor.Float32), spec("b", tensor.Float32)},
		outputs: []format.TensorSpec{spec("sum", tensor.Float32), spec("product", tensor.Float32)}},
	{name: "mixed"},
	{name: "strings", inputs: []format.TensorSpec{spec("words", tensor.String)},
		outputs: []format.TensorSpec{spec("upper", tensor.String), spec("lengths", tensor.Int64)}},
	{name: "identity"},
	{name: "first"},
	// Twelve inputs: the shim reads the first ten's data from its call's
	// arguments and the rest from their descriptions (pinned). Declared in
	// reverse, a11 goes first and a00 last.
	{name: "many"},
	{name: "many", inputs: manySpecs()},
	// int, float, bool, List[int] and Optional[float] arguments from
	// one-element and 1-D tensors (scale a float64, shift a float32);
	// int, float, bool and list results as 0-d and 1-D tensors.
	{name: "scalars", inputs: []format.TensorSpec{spec("x", tensor.Float32), spec("n", tensor.Int64), spec("scale", tensor.Float64),
		spec("flag", tensor.Bool), spec("sizes", tensor.Int64), spec("shift", tensor.Float32)}},
	// Two of forward's three arguments: the last keeps its default.
	{name: "optional_args", inputs: []format.TensorSpec{spec("x", tensor.Float32), spec("mask", tensor.Float32)}},
	{name: "dict_mutates"},
	{name: "dict_keeps"},
}

func manySpecs() []format.TensorSpec {
	var specs []format.TensorSpec
	for i := 11; i >= 0; i-- {
		specs = append(specs, spec(fmt.Sprintf("a%02d", i), tensor.Float32))
	}
	return specs
}

func pack(t *testing.T, name, req string, inputs, outputs []format.TensorSpec) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".carton")
	_, err := carton.Pack(context.Background(), filepath.Join(models, name+".pt"), out, carton.PackOptions{Config: format.Config{
		ModelName: name, Inputs: inputs, Outputs: outputs,
		Runner: format.Runner{RunnerName: "torchscript", RequiredFrameworkVersion: req},
	}})
	require.NoError(t, err)
	return out
}

func TestOnModels(t *testing.T) {
	rts := []backend.Runtime{thisVersion(t)}
	ctx := context.Background()
	for _, c := range cases {
		path := pack(t, c.name, "*", c.inputs, c.outputs)
		in, want := refdata.Load(t, models, c.name)
		for _, rt := range rts {
			t.Run(c.name+"/"+rt.Version, func(t *testing.T) {
				m, err := carton.Load(ctx, path, carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(t.TempDir()),
					carton.WithDevice(testDevice()))
				require.NoError(t, err)
				defer m.Close()
				assert.Equal(t, rt.Version, m.Info().Runtime.Version)
				got, err := m.Infer(ctx, in)
				require.NoError(t, err)
				require.Len(t, got, len(want), "%v", got)
				for name, w := range want {
					assert.Nil(t, tensor.Compare(got[name], w, tensor.Tolerance{Rtol: 1e-5, Atol: 1e-6}), "%s: %v", name, got[name])
				}
				if c.name == "identity" && testDevice() == "cpu" { // from a GPU, outputs come back as copies
					// The output is the input's own Go memory, valid after the call.
					assert.Equal(t, in["x"].Pointer(), got["output_0"].Pointer())
					assert.False(t, got["output_0"].IsForeign())
				}
				for _, o := range got {
					o.Release()
				}
			})
		}
	}
}

// A carton requiring =1.13 runs on the 1.13 libtorch, one requiring ^2 on
// the 2.x, chosen by Load among every libtorch found.
func TestOnVersionSelection(t *testing.T) {
	this := thisVersion(t)
	ctx := context.Background()
	for _, c := range []struct{ req, major string }{{"=1.13", "1."}, {"^2", "2."}} {
		if !strings.HasPrefix(this.Version, c.major) {
			continue // that requirement is checked in the other child process
		}
		path := pack(t, "dict_io", c.req, nil, nil)
		m, err := carton.Load(ctx, path, carton.WithCacheDir(t.TempDir()))
		require.NoError(t, err, c.req)
		rt := m.Info().Runtime
		assert.True(t, strings.HasPrefix(rt.Version, c.major), "%s ran on %s", c.req, rt.Version)
		assert.NotEmpty(t, rt.Source)
		assert.NotEmpty(t, rt.Path)
		in, want := refdata.Load(t, models, "dict_io")
		got, err := m.Infer(ctx, in)
		require.NoError(t, err)
		assert.Nil(t, tensor.Compare(got["y"], want["y"], tensor.Tolerance{Rtol: 1e-5, Atol: 1e-6}))
		m.Close()
	}
	_, err := carton.Load(ctx, pack(t, "dict_io", "=0.4", nil, nil), carton.WithCacheDir(t.TempDir()))
	require.ErrorIs(t, err, carton.ErrNoRuntime)
	assert.Contains(t, err.Error(), "libtorch =0.4")
}

func TestOnConcurrentInfer(t *testing.T) {
	rt := thisVersion(t)
	ctx := context.Background()
	m, err := carton.Load(ctx, pack(t, "mixed", "*", nil, nil), carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(t.TempDir()),
		carton.WithRunnerOpt("num_threads", 1), carton.WithDevice(testDevice()))
	require.NoError(t, err)
	defer m.Close()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				ids, _ := tensor.From(tensor.Shape{2}, []int64{int64(g), int64(i)})
				mask, _ := tensor.From(tensor.Shape{2}, []bool{g%2 == 0, i%2 == 0})
				x, _ := tensor.From(tensor.Shape{2}, []float64{float64(g), float64(i)})
				out, err := m.Infer(ctx, map[string]tensor.Tensor{"ids": ids, "mask": mask, "x": x})
				if !assert.NoError(t, err) {
					return
				}
				assert.Equal(t, []int64{int64(g + 1), int64(i + 1)}, tensor.MustView[int64](out["next_ids"]))
				assert.Equal(t, []bool{g%2 != 0, i%2 != 0}, tensor.MustView[bool](out["inverted"]))
				assert.Equal(t, []float64{float64(g) / 2, float64(i) / 2}, tensor.MustView[float64](out["halved"]))
				if g%2 == 0 { // half give their maps back for any goroutine's next Infer
					m.ReleaseOutputs(out)
					continue
				}
				for _, o := range out {
					o.Release()
				}
			}
		}(g)
	}
	wg.Wait()
}

// Outputs of a map given back are copied into the Go memory the last
// call's outputs occupied; an output fed back as an input (which
// ReleaseOutputs forbids) gets new memory, so the forward never reads
// memory being overwritten.
func TestOnReleaseOutputsReusesOutputMemory(t *testing.T) {
	rt := thisVersion(t)
	ctx := context.Background()
	m, err := carton.Load(ctx, pack(t, "mixed", "*", nil, nil), carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(t.TempDir()),
		carton.WithDevice(testDevice()))
	require.NoError(t, err)
	defer m.Close()
	inputs := func(start int64) map[string]tensor.Tensor {
		ids, _ := tensor.From(tensor.Shape{2}, []int64{start, start + 1})
		mask, _ := tensor.From(tensor.Shape{2}, []bool{true, false})
		x, _ := tensor.From(tensor.Shape{2}, []float64{1, 2})
		return map[string]tensor.Tensor{"ids": ids, "mask": mask, "x": x}
	}
	out := refdata.CheckOutputMemoryReuse(t, m, inputs, "next_ids", func(out map[string]tensor.Tensor) {
		assert.Equal(t, []int64{21, 22}, tensor.MustView[int64](out["next_ids"]))
		assert.Equal(t, []bool{false, true}, tensor.MustView[bool](out["inverted"]))
		assert.Equal(t, []float64{0.5, 1}, tensor.MustView[float64](out["halved"]))
	}, map[string]string{"ids": "next_ids", "mask": "inverted", "x": "halved"})
	if !racebuild.Enabled { // which poisons what ReleaseOutputs took back
		assert.Equal(t, []int64{22, 23}, tensor.MustView[int64](out["next_ids"]))
		assert.Equal(t, []bool{true, false}, tensor.MustView[bool](out["inverted"]))
		assert.Equal(t, []float64{0.25, 0.5}, tensor.MustView[float64](out["halved"]))
	}
}

func TestOnErrors(t *testing.T) {
	rt := thisVersion(t)
	ctx := context.Background()
	path := pack(t, "positional", "*", cases[1].inputs, cases[1].outputs)
	m, err := carton.Load(ctx, path, carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	defer m.Close()
	a, _ := tensor.From(tensor.Shape{2, 3}, make([]float32, 6))
	b, _ := tensor.From(tensor.Shape{3, 2}, make([]float32, 6))
	_, err = m.Infer(ctx, map[string]tensor.Tensor{"a": a, "b": b})
	require.Error(t, err, "libtorch's own shape error comes back as an error, not a crash")
	require.ErrorIs(t, err, libtorch.ErrTorch)
	require.ErrorIs(t, err, carton.ErrFramework)
	assert.Contains(t, err.Error(), "libtorch")

	_, err = carton.Load(ctx, path, carton.WithFrameworkVersion(rt.Version), carton.WithRunnerOpt("warp", 1))
	require.ErrorIs(t, err, carton.ErrInvalidOption)
	_, err = carton.Load(ctx, path, carton.WithFrameworkVersion(rt.Version), carton.WithRunnerOpt("num_threads", 1<<32+1))
	require.ErrorIs(t, err, carton.ErrInvalidOption, "the shim takes an int32: 1<<32+1 would be 1")

	// A zip laid out as TorchScript passes pack's look at the file; only
	// libtorch finds its pickles are garbage.
	bad := filepath.Join(t.TempDir(), "model.pt")
	var archive bytes.Buffer
	zw := zip.NewWriter(&archive)
	for _, name := range []string{"bad/data.pkl", "bad/constants.pkl", "bad/version"} {
		w, err := zw.Create(name)
		require.NoError(t, err)
		_, err = w.Write([]byte("not a pickle"))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(bad, archive.Bytes(), 0o644))
	out := filepath.Join(t.TempDir(), "bad.carton")
	_, err = carton.Pack(ctx, bad, out, carton.PackOptions{Config: format.Config{Runner: format.Runner{RunnerName: "torchscript", RequiredFrameworkVersion: "*"}}})
	require.NoError(t, err)
	_, err = carton.Load(ctx, out, carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(t.TempDir()))
	require.ErrorIs(t, err, carton.ErrModel)
	require.ErrorIs(t, err, carton.ErrFramework, "libtorch's own error, still wrapped")
}

// A libtorch outside carton's cache (here an installed Python torch) gets
// no shim built behind the user's back: the error names both remedies.
// (Cache and downloaded runtimes get one built: TestBuildShim.)
func TestMissingShimIsExplained(t *testing.T) {
	var rt backend.Runtime // never loads libtorch: safe in the parent process
	for _, r := range runtimes(t) {
		if r.Source == "python" {
			rt = r
		}
	}
	if rt.Path == "" {
		t.Skip("needs a libtorch from an installed Python torch")
	}
	t.Setenv("CARTON_LIBTORCH_SHIM_DIR", t.TempDir())
	t.Setenv("CARTON_CACHE_DIR", t.TempDir())
	t.Setenv("CXX", "carton-test-no-such-compiler") // else it would build one
	_, ok := libtorch.ShimPath(rt.Version)
	require.False(t, ok)
	_, err := libtorch.Runner{}.Load(context.Background(), backend.LoadRequest{Runtime: rt, ModelDir: models})
	require.ErrorIs(t, err, libtorch.ErrNoShim)
	assert.Contains(t, err.Error(), "no C++ compiler")
	assert.Contains(t, err.Error(), "make shims")
	assert.Contains(t, err.Error(), "CARTON_LIBTORCH_SHIM_DIR")
}

// A libtorch from an installed Python torch without a shim gets one built
// from the sources in the binary (torch/include beside torch/lib), which
// then runs the model.
func TestOnShimBuiltForPythonTorch(t *testing.T) {
	rt, cache := withoutShims(t)
	_, ok := libtorch.ShimPath(rt.Version)
	require.False(t, ok)
	ctx := context.Background()
	m, err := carton.Load(ctx, pack(t, "dict_io", "*", nil, nil), carton.WithFrameworkVersion(rt.Version))
	require.NoError(t, err)
	defer m.Close()
	built, ok := libtorch.ShimPath(rt.Version)
	require.True(t, ok)
	assert.True(t, strings.HasPrefix(built, cache), "built into carton's cache: %s", built)
	x, err := tensor.From(tensor.Shape{1, 4}, []float32{1, 2, 3, 4})
	require.NoError(t, err)
	out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x})
	require.NoError(t, err)
	assert.Equal(t, []float32{2, 4, 6, 8}, tensor.MustView[float32](out["doubled"]))
}

// testDevice is where the models run: $CARTON_TEST_DEVICE (cuda:0 on a
// machine with a GPU and a CUDA build of libtorch), else the CPU.
func testDevice() string {
	if d := os.Getenv("CARTON_TEST_DEVICE"); d != "" {
		return d
	}
	return "cpu"
}

// A cuda device loads libtorch's CUDA libraries; a libtorch without them
// (Debian's CPU-only build, the wheel unpacked without them) fails Load
// clearly instead of failing inside the first CUDA call.
func TestOnCUDAWithoutCUDALibraries(t *testing.T) {
	rt := thisVersion(t)
	lib := rt.Path
	if m, _ := filepath.Glob(filepath.Join(lib, "lib", "libtorch_cpu*")); len(m) > 0 {
		lib = filepath.Join(lib, "lib")
	}
	if m, _ := filepath.Glob(filepath.Join(lib, "libc10_cuda.so*")); len(m) > 0 {
		t.Skipf("libtorch %s has its CUDA libraries: CARTON_TEST_DEVICE=cuda:0 runs the models there", rt.Version)
	}
	_, err := carton.Load(context.Background(), pack(t, "dict_io", "*", nil, nil), carton.WithFrameworkVersion(rt.Version),
		carton.WithCacheDir(t.TempDir()), carton.WithDevice("cuda:0"))
	require.ErrorIs(t, err, backend.ErrNoRuntime)
	assert.Contains(t, err.Error(), "libc10_cuda")
}

// A model dropped without Close must not bring the process down when the
// collector finds it (its module pins names for its life).
func TestOnDroppedModel(t *testing.T) {
	rt := thisVersion(t)
	path := pack(t, "dict_io", "*", nil, nil)
	x, err := tensor.From(tensor.Shape{1, 4}, []float32{1, 2, 3, 4})
	require.NoError(t, err)
	for range 3 {
		m, err := carton.Load(context.Background(), path, carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(t.TempDir()))
		require.NoError(t, err)
		out, err := m.Infer(context.Background(), map[string]tensor.Tensor{"x": x}) // pins the name "x"
		require.NoError(t, err)
		assert.Len(t, out, 2)
	}
	for range 5 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// A carton that declares no inputs leaves their checks to the runner: an
// invalid or released tensor must be refused, not read (a released foreign
// tensor's memory may be gone).
func TestOnInvalidInputTensors(t *testing.T) {
	rt := thisVersion(t)
	ctx := context.Background()
	v := []float32{1, 2, 3, 4}
	released, err := tensor.Foreign(tensor.Float32, tensor.Shape{1, 4}, unsafe.Pointer(&v[0]), 16, func() {})
	require.NoError(t, err)
	released.Release()
	for _, model := range []string{"dict_io", "first"} {
		m, err := carton.Load(ctx, pack(t, model, "*", nil, nil), carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(t.TempDir()))
		require.NoError(t, err)
		for name, x := range map[string]tensor.Tensor{"zero value": {}, "released": released} {
			_, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x})
			require.ErrorIs(t, err, carton.ErrInvalidInput, "%s, %s", model, name)
			assert.Contains(t, err.Error(), `input "x"`)
		}
		require.NoError(t, m.Close())
	}
}

// A carton held in memory (as with //go:embed) loads its model.pt from the
// reader's bytes: nothing is extracted into the cache.
func TestOnLoadReader(t *testing.T) {
	rt := thisVersion(t)
	ctx := context.Background()
	raw, err := os.ReadFile(pack(t, "dict_io", "*", nil, nil))
	require.NoError(t, err)
	cache := t.TempDir()
	m, err := carton.LoadReader(ctx, bytes.NewReader(raw), int64(len(raw)), carton.WithFrameworkVersion(rt.Version),
		carton.WithCacheDir(cache), carton.WithDevice(testDevice()))
	require.NoError(t, err)
	defer m.Close()
	in, want := refdata.Load(t, models, "dict_io")
	got, err := m.Infer(ctx, in)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	refdata.Check(t, got, want)
	extracted, _ := os.ReadDir(filepath.Join(cache, "models"))
	assert.Empty(t, extracted, "model.pt is read from memory")
}

// A carton packed elsewhere may hold a torch.save pickle (carton pack
// refuses one): libtorch's own error, which names only a missing
// constants.pkl, comes back with the reason, from memory and from a file.
func TestOnTorchSavePickleIsExplained(t *testing.T) {
	rt := thisVersion(t)
	ctx := context.Background()
	dir := t.TempDir()
	pickle, err := os.ReadFile(filepath.Join(models, "state_dict.pt"))
	require.NoError(t, err)
	cfg := &format.Config{SpecVersion: format.SpecVersion, Runner: format.Runner{RunnerName: "torchscript", RequiredFrameworkVersion: "*", RunnerCompatVersion: 1}}
	path := filepath.Join(dir, "pickle.carton")
	f, err := os.Create(path)
	require.NoError(t, err)
	_, err = format.Write(f, cfg, []format.Entry{{Name: "model/model.pt", Data: pickle}}, nil)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = carton.Load(ctx, path, carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(t.TempDir()))
	require.ErrorIs(t, err, carton.ErrModel)
	require.ErrorIs(t, err, carton.ErrFramework, "libtorch's error stays in the chain")
	assert.Contains(t, err.Error(), "written by torch.save")

	unpacked := filepath.Join(dir, "unpacked") // the same carton unzipped: libtorch opens the file
	c, err := format.Open(path, format.OpenOptions{})
	require.NoError(t, err)
	defer c.Close()
	for _, name := range c.Files("") {
		b, err := c.ReadFile(name)
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Join(unpacked, filepath.Dir(name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(unpacked, name), b, 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(unpacked, "MANIFEST"), c.Manifest.Bytes(), 0o644))
	_, err = carton.LoadUnpacked(ctx, unpacked, carton.WithFrameworkVersion(rt.Version))
	require.ErrorIs(t, err, carton.ErrFramework)
	assert.Contains(t, err.Error(), "written by torch.save")
}

// An output in an input's memory outlives that input: a view when the
// input is Go memory (TestOnModels), a copy when another framework owns it
// (an output fed back), which its owner may free first.
func TestOnOutputsOutliveForeignInputsTheyAlias(t *testing.T) {
	rt := thisVersion(t)
	ctx := context.Background()
	m, err := carton.Load(ctx, pack(t, "identity", "*", nil, nil), carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	defer m.Close()
	for _, rows := range []int{2, 1 << 15} { // copied anyway, and large enough to stay in libtorch's memory
		values := make([]float32, 4*rows)
		for i := range values {
			values[i] = float32(i % 1000)
		}
		x, _ := tensor.From(tensor.Shape{int64(rows), 4}, values)
		in := refdata.OwnedElsewhere(t, x)
		out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": in})
		require.NoError(t, err)
		in.Release()
		assert.Nil(t, tensor.Compare(out["output_0"], x, tensor.Tolerance{}), "%d rows", rows)
		m.ReleaseOutputs(out)
	}
}

// The shim refills the input dict of a module's last call instead of
// building one per call. Each call must still get a dict of its own inputs
// alone, whatever forward did to the last one, and a dict forward kept
// must not change under it.
func TestOnInputDictsAreEachCallsOwn(t *testing.T) {
	rt := thisVersion(t)
	ctx := context.Background()
	load := func(name string) *carton.Model {
		m, err := carton.Load(ctx, pack(t, name, "*", nil, nil), carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(t.TempDir()))
		require.NoError(t, err)
		t.Cleanup(func() { m.Close() })
		return m
	}
	vec := func(v ...float32) tensor.Tensor {
		x, err := tensor.From(tensor.Shape{int64(len(v))}, v)
		require.NoError(t, err)
		return x
	}

	// dict_mutates: x[0] > 0 renames x, < 0 adds a key, 0 leaves the dict as
	// it was. Extra inputs change the keys from one call to the next.
	m := load("dict_mutates")
	for i, c := range []struct {
		first float32
		extra []string
	}{{0, nil}, {0, nil}, {1, nil}, {0, nil}, {-1, nil}, {0, nil}, {0, []string{"w"}}, {0, nil}, {0, []string{"a", "w"}},
		{0, []string{"w"}}, {2, []string{"w"}}, {0, []string{"w"}}, {-2, nil}, {-3, nil}, {4, nil}, {0, nil}} {
		x := vec(c.first, 5)
		in := map[string]tensor.Tensor{"x": x}
		for _, name := range c.extra {
			in[name] = vec(7)
		}
		out, err := m.Infer(ctx, in)
		require.NoError(t, err, "call %d", i)
		keys, err := tensor.View[int64](out["keys"])
		require.NoError(t, err)
		assert.Equal(t, []int64{int64(1 + len(c.extra))}, keys, "call %d: the keys forward saw", i)
		doubled, err := tensor.View[float32](out["doubled"])
		require.NoError(t, err)
		assert.Equal(t, []float32{2 * c.first, 10}, doubled, "call %d", i)
		m.ReleaseOutputs(out)
	}

	// dict_keeps: each call returns the x of the dict the call before kept.
	m = load("dict_keeps")
	prev := vec(0, 0)
	var kept []tensor.Tensor // forward reads the last input after its call
	for i := range 6 {
		x := vec(float32(i), float32(10*i))
		kept = append(kept, x)
		out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x})
		require.NoError(t, err, "call %d", i)
		assert.Nil(t, tensor.Compare(out["prev"], prev, tensor.Tolerance{}), "call %d", i)
		m.ReleaseOutputs(out)
		prev = x
	}
	runtime.KeepAlive(kept)
}

// A shim built by an older carton (no ct_revision_<ShimRevision>) is
// rebuilt where carton builds shims itself, and used as it is when it
// cannot (no compiler).
func TestOnStaleShim(t *testing.T) {
	rt := pythonTorch(t)
	current, ok := libtorch.ShimPath(rt.Version)
	require.True(t, ok)
	b, err := os.ReadFile(current)
	require.NoError(t, err)
	mark := fmt.Sprintf("ct_revision_%d\x00", libtorch.ShimRevision)
	require.Contains(t, string(b), mark)
	b = bytes.ReplaceAll(b, []byte(mark), []byte(fmt.Sprintf("ct_revision_%d\x00", libtorch.ShimRevision-1)))
	staleDir := t.TempDir()
	stale := filepath.Join(staleDir, filepath.Base(filepath.Dir(current)), filepath.Base(current))
	require.NoError(t, os.MkdirAll(filepath.Dir(stale), 0o755))
	require.NoError(t, os.WriteFile(stale, b, 0o755))
	t.Setenv("CARTON_LIBTORCH_SHIM_DIR", staleDir)
	cache := t.TempDir()
	t.Setenv("CARTON_CACHE_DIR", cache)
	_, ok = libtorch.ShimPath(rt.Version)
	require.False(t, ok, "the stale shim is not current")

	ctx := context.Background()
	path := pack(t, "dict_io", "*", nil, nil)
	t.Setenv("CXX", filepath.Join(t.TempDir(), "no-compiler"))
	m, err := carton.Load(ctx, path, carton.WithFrameworkVersion(rt.Version))
	require.NoError(t, err, "no shim can be built without a compiler: the stale one serves")
	require.NoError(t, m.Close())
	_, ok = libtorch.ShimPath(rt.Version)
	require.False(t, ok, "and none was built")

	t.Setenv("CXX", "")
	m, err = carton.Load(ctx, path, carton.WithFrameworkVersion(rt.Version))
	require.NoError(t, err)
	defer m.Close()
	built, ok := libtorch.ShimPath(rt.Version)
	require.True(t, ok, "an installed Python torch's gets a current shim built")
	assert.True(t, strings.HasPrefix(built, cache), "built into carton's cache: %s", built)
}

// A tensor of the wrong kind for a scalar argument (a float for an int)
// reaches TorchScript as a tensor, whose error names the argument.
func TestOnScalarArgumentOfTheWrongKind(t *testing.T) {
	rt := thisVersion(t)
	ctx := context.Background()
	i := slices.IndexFunc(cases, func(c modelCase) bool { return c.name == "scalars" })
	c := cases[i]
	inputs := slices.Clone(c.inputs)
	inputs[1] = spec("n", tensor.Float32) // the carton lets a float through to forward's int
	m, err := carton.Load(ctx, pack(t, c.name, "*", inputs, c.outputs), carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	defer m.Close()
	in, _ := refdata.Load(t, models, c.name)
	in["n"], _ = tensor.From(tensor.Shape{}, []float32{2})
	_, err = m.Infer(ctx, in)
	require.ErrorIs(t, err, carton.ErrFramework)
	assert.Contains(t, err.Error(), "'n'")
}

// A carton may declare fewer inputs than forward takes: the rest keep
// their defaults, and one without a default is named by TorchScript.
// Declaring more is refused at Load.
func TestOnTrailingArgumentsWithDefaults(t *testing.T) {
	rt := thisVersion(t)
	ctx := context.Background()
	load := func(inputs ...format.TensorSpec) (*carton.Model, error) {
		return carton.Load(ctx, pack(t, "optional_args", "*", inputs, nil), carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(t.TempDir()))
	}
	x, _ := tensor.From(tensor.Shape{3}, []float32{1, 2, 3})
	m, err := load(spec("x", tensor.Float32))
	require.NoError(t, err)
	out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x})
	require.NoError(t, err)
	assert.Equal(t, []float32{2, 4, 6}, tensor.MustView[float32](out["output_0"]), "mask None, scale 2")
	require.NoError(t, m.Close())

	m, err = load(spec("x", tensor.Float32), spec("mask", tensor.Float32), spec("scale", tensor.Float64))
	require.NoError(t, err)
	mask, _ := tensor.From(tensor.Shape{3}, []float32{1, 0, 1})
	scale, _ := tensor.From(tensor.Shape{}, []float64{10})
	out, err = m.Infer(ctx, map[string]tensor.Tensor{"x": x, "mask": mask, "scale": scale})
	require.NoError(t, err)
	assert.Equal(t, []float32{10, 0, 30}, tensor.MustView[float32](out["output_0"]))
	require.NoError(t, m.Close())

	_, err = load(spec("x", tensor.Float32), spec("mask", tensor.Float32), spec("scale", tensor.Float64), spec("extra", tensor.Float32))
	require.ErrorIs(t, err, carton.ErrModel)
	assert.Contains(t, err.Error(), "forward takes 3 arguments but the carton declares 4 inputs")

	m, err = carton.Load(ctx, pack(t, "positional", "*", []format.TensorSpec{spec("a", tensor.Float32)}, nil),
		carton.WithFrameworkVersion(rt.Version), carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	defer m.Close()
	_, err = m.Infer(ctx, map[string]tensor.Tensor{"a": x})
	require.ErrorIs(t, err, carton.ErrFramework, "b has no default")
	assert.Contains(t, err.Error(), "'b'")
}

// An installed torch package's torch/lib, named by path, is a libtorch:
// its version comes from the headers beside it or its library's name.
func TestOnRuntimeNamedByPath(t *testing.T) {
	rt := thisVersion(t)
	ctx := context.Background()
	m, err := carton.Load(ctx, pack(t, "dict_io", "*", nil, nil), carton.WithRuntimePath(rt.Path), carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err, "%s (%s)", rt.Path, rt.Source)
	defer m.Close()
	got := m.Info().Runtime
	assert.Equal(t, "option", got.Source)
	assert.Equal(t, rt.Path, got.Path)
	assert.True(t, strings.HasPrefix(rt.Version, strings.SplitN(got.Version, "+", 2)[0]), "%s vs %s", got.Version, rt.Version)
}

// Load's context ends a shim build in progress (a build takes tens of
// seconds), and leaves no shim behind.
func TestOnShimBuildStopsWithLoadsContext(t *testing.T) {
	rt, cache := withoutShims(t)
	path := pack(t, "dict_io", "*", nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second) // past discovery, well inside the build
	defer cancel()
	start := time.Now()
	_, err := carton.Load(ctx, path, carton.WithFrameworkVersion(rt.Version))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	// The compiler's children are killed too: the Load does not wait for
	// the build (15-25 s here) to finish.
	assert.Less(t, time.Since(start), 10*time.Second)
	_, built := libtorch.ShimPath(rt.Version)
	assert.False(t, built)
	leftovers, _ := filepath.Glob(filepath.Join(cache, "shims", "libtorch", "*", ".shim-*"))
	assert.Empty(t, leftovers)
}

// pythonTorch is this process's libtorch when it comes from an installed
// Python torch, the kind Load builds shims for; the test is skipped on
// others.
func pythonTorch(t *testing.T) backend.Runtime {
	rt := thisVersion(t)
	if rt.Source != "python" {
		t.Skipf("libtorch %s comes from %s, not an installed Python torch", rt.Version, rt.Source)
	}
	return rt
}

// withoutShims is pythonTorch with no shim to be found: an empty shim
// directory and an empty cache, which it returns.
func withoutShims(t *testing.T) (backend.Runtime, string) {
	rt := pythonTorch(t)
	cache := t.TempDir()
	t.Setenv("CARTON_LIBTORCH_SHIM_DIR", t.TempDir())
	t.Setenv("CARTON_CACHE_DIR", cache)
	return rt, cache
}
