package python_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/backend/python"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/npy"
	"github.com/carton-run/carton/internal/schedtick"
	"github.com/carton-run/carton/internal/testneed"
	"github.com/carton-run/carton/tensor"
)

// index serves the wheels in dir as a package index (PEP 691's JSON
// simple API) on loopback, as a mirror of the real index would.
func index(t *testing.T, dir string) string {
	files, err := filepath.Glob(filepath.Join(dir, "*.whl"))
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("/simple/{project}/", func(w http.ResponseWriter, r *http.Request) {
		var out []map[string]any
		for _, f := range files {
			name := filepath.Base(f)
			if !strings.EqualFold(strings.SplitN(name, "-", 2)[0], r.PathValue("project")) {
				continue
			}
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			sum := sha256.Sum256(b)
			out = append(out, map[string]any{"filename": name, "url": "/files/" + name, "hashes": map[string]string{"sha256": hex.EncodeToString(sum[:])}})
		}
		if out == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.pypi.simple.v1+json")
		_ = json.NewEncoder(w).Encode(map[string]any{"meta": map[string]string{"api-version": "1.0"}, "files": out})
	})
	mux.Handle("/files/", http.StripPrefix("/files/", http.FileServer(http.Dir(dir))))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/simple"
}

// isolated points the cache and the package index at the test's own.
func isolated(t *testing.T) {
	t.Setenv("CARTON_CACHE_DIR", t.TempDir())
	wheels := os.Getenv("CARTON_TEST_PY_WHEELS")
	if wheels == "" {
		testneed.Need(t, "the python runner's tests need $CARTON_TEST_PY_WHEELS (make setup downloads numpy's wheel there)", errors.New("unset"))
	}
	t.Setenv("CARTON_PYPI_INDEX", index(t, wheels))
}

// The upstream carton (runner python, =3.11): its locked numpy wheel is
// fetched from the (loopback) package index by file name, verified and
// unpacked into the cache, and its model returns the interpreter's version.
// In a process of its own, as the first to import numpy (1.25.0).
func TestUpstreamCarton(t *testing.T) {
	if !inSubprocess(t, "TestUpstreamCarton") {
		return
	}
	isolated(t)
	ctx := context.Background()
	m, err := carton.Load(ctx, "../../testdata/upstream/test.carton")
	testneed.Runtime(t, err)
	require.NoError(t, err)
	defer m.Close()
	rt := m.Info().Runtime
	assert.Equal(t, "python", rt.Framework)
	assert.True(t, strings.HasPrefix(rt.Version, "3.11."), rt.Version)
	in := map[string]tensor.Tensor{}
	mk := func(name string, dt tensor.DType, shape ...int64) {
		t0, err := tensor.New(dt, shape)
		require.NoError(t, err)
		in[name] = t0
	}
	mk("a", tensor.Float32, 2)
	mk("b", tensor.Float64, 3)
	c, err := tensor.FromStrings(tensor.Shape{2}, []string{"x", "y"})
	require.NoError(t, err)
	in["c"] = c
	mk("d", tensor.Int8, 3)
	mk("e", tensor.Int16)
	mk("f", tensor.Int32, 1, 3, 512, 512)
	mk("g", tensor.Int64, 1, 1, 1)
	out, err := m.Infer(ctx, in)
	require.NoError(t, err)
	got, err := tensor.View[int64](out["out"])
	require.NoError(t, err)
	assert.Equal(t, []int64{3, 11}, got)
	m.ReleaseOutputs(out)
	cache := os.Getenv("CARTON_CACHE_DIR")
	wheels, _ := filepath.Glob(filepath.Join(cache, "python", "wheels", "*", ".complete"))
	assert.Len(t, wheels, 1, "the numpy wheel, unpacked once into the cache")

	// Bytecode goes to <cache>/python/pycache, not beside the sources (a
	// second load of the model compiles nothing); the model's own package
	// directory's goes with the model.
	pycache := filepath.Join(cache, "python", "pycache")
	var beside, mirrored []string
	require.NoError(t, filepath.WalkDir(filepath.Join(cache, "python"), func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.Name() == "__pycache__":
			beside = append(beside, p)
		case strings.HasSuffix(p, filepath.Join("numpy", "__init__.cpython-311.pyc")) && strings.HasPrefix(p, pycache):
			mirrored = append(mirrored, p)
		}
		return nil
	}))
	assert.Empty(t, beside, "bytecode beside the unpacked wheels")
	assert.NotEmpty(t, mirrored, "numpy's bytecode under the cache's pycache")
	models, _ := filepath.Glob(filepath.Join(pycache, "*", "*", "carton-python-*"))
	models2, _ := filepath.Glob(filepath.Join(pycache, "*", "carton-python-*"))
	assert.NotEmpty(t, append(models, models2...), "the loaded model's bytecode")
	require.NoError(t, m.Close())
	models, _ = filepath.Glob(filepath.Join(pycache, "*", "*", "carton-python-*"))
	models2, _ = filepath.Glob(filepath.Join(pycache, "*", "carton-python-*"))
	assert.Empty(t, append(models, models2...), "a closed model's bytecode stays")
}

// pythonConfig is a python model's carton.toml: main.get_model on 3.11.
func pythonConfig() format.Config {
	return format.Config{Runner: format.Runner{RunnerName: "python", RequiredFrameworkVersion: "=3.11",
		Opts: map[string]any{"entrypoint_package": "main", "entrypoint_fn": "get_model"}}}
}

// packPython packs a python model directory holding main.py.
func packPython(t *testing.T, main string, opts map[string]any) string {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.py"), []byte(main), 0o644))
	runnerOpts := map[string]any{"entrypoint_package": "main", "entrypoint_fn": "get_model"}
	for k, v := range opts {
		runnerOpts[k] = v
	}
	out := filepath.Join(t.TempDir(), "m.carton")
	cfg := pythonConfig()
	cfg.Runner.Opts = runnerOpts
	_, err := carton.Pack(context.Background(), dir, out, carton.PackOptions{Config: cfg})
	require.NoError(t, err)
	return out
}

const echoModel = `
import numpy as np

class Model:
    def __init__(self, scale=1):
        self.scale = scale

    def infer_with_tensors(self, tensors):
        x = tensors["x"]
        return {"y": x * self.scale, "t": x.T, "words": np.array([w.upper() for w in tensors["w"].ravel()])}

def get_model(scale=1):
    return Model(scale)
`

// Numbers and strings both ways, model.* options as keyword arguments, and
// a strided output copied once.
func TestModelRunsInProcess(t *testing.T) {
	isolated(t)
	ctx := context.Background()
	m := loadPython(t, echoModel, map[string]any{"model.scale": int64(3)})
	x, err := tensor.From(tensor.Shape{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	require.NoError(t, err)
	w, err := tensor.FromStrings(tensor.Shape{2}, []string{"ab", "cé"})
	require.NoError(t, err)
	for range 3 {
		out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x, "w": w})
		require.NoError(t, err)
		assert.Equal(t, []float32{3, 6, 9, 12, 15, 18}, tensor.MustView[float32](out["y"]))
		assert.Equal(t, tensor.Shape{3, 2}, out["t"].Shape())
		assert.Equal(t, []float32{1, 4, 2, 5, 3, 6}, tensor.MustView[float32](out["t"]))
		words, err := out["words"].Strings()
		require.NoError(t, err)
		assert.Equal(t, []string{"AB", "CÉ"}, words)
		m.ReleaseOutputs(out)
	}
}

func TestPythonErrors(t *testing.T) {
	isolated(t)
	ctx := context.Background()
	raising := packPython(t, `
class Model:
    def infer_with_tensors(self, tensors):
        raise ValueError("no good: " + str(sorted(tensors)))

def get_model():
    return Model()
`, nil)
	m, err := carton.Load(ctx, raising)
	testneed.Runtime(t, err)
	require.NoError(t, err)
	defer m.Close()
	x, _ := tensor.From(tensor.Shape{1}, []float32{1})
	_, err = m.Infer(ctx, map[string]tensor.Tensor{"x": x})
	require.Error(t, err)
	assert.ErrorIs(t, err, carton.ErrFramework)
	assert.ErrorIs(t, err, python.ErrPython)
	assert.Contains(t, err.Error(), "ValueError: no good: ['x']")
	assert.Contains(t, err.Error(), "Traceback", "the traceback comes along")

	_, err = carton.Load(ctx, packPython(t, "import no_such_module_anywhere\n", nil))
	assert.ErrorIs(t, err, carton.ErrModel)
	assert.Contains(t, err.Error(), "ModuleNotFoundError")

	_, err = carton.Load(ctx, packPython(t, "def get_model():\n    return 3\n", nil))
	assert.ErrorIs(t, err, carton.ErrModel)
	assert.Contains(t, err.Error(), "no infer_with_tensors")

	_, err = carton.Load(ctx, packPython(t, echoModel, map[string]any{"bogus": "x"}))
	assert.ErrorIs(t, err, carton.ErrInvalidOption)
}

// inSubprocess runs test in a process of its own (the embedded
// interpreter's modules are the process's) and reports whether this is
// that process; the parent passes or fails with it.
func inSubprocess(t *testing.T, test string) bool {
	if os.Getenv("CARTON_TEST_IN_SUBPROCESS") == test {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), "CARTON_TEST_IN_SUBPROCESS="+test)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	require.NoError(t, err)
	return false
}

func needSklearn(t *testing.T) {
	if os.Getenv("CARTON_TEST_SKLEARN_PYTHON") == "" {
		testneed.Need(t, "needs $CARTON_TEST_SKLEARN_PYTHON, a Python with scikit-learn 1.9.1 (make setup)", errors.New("unset"))
	}
}

// copyDir copies the files of src (flat) into a new directory.
func copyDir(t *testing.T, src string) string {
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644))
	}
	return dst
}

// packSklearn packs testdata/sklearn: Pack has pip lock its
// requirements.txt against the configured package index.
func packSklearn(t *testing.T) string {
	out := filepath.Join(t.TempDir(), "sklearn.carton")
	cfg := pythonConfig()
	cfg.Runner.Opts["model.c"] = 0.5
	_, err := carton.Pack(context.Background(), copyDir(t, "testdata/sklearn"), out, carton.PackOptions{Config: cfg})
	testneed.Runtime(t, err)
	require.NoError(t, err)
	c, err := format.Open(out, format.OpenOptions{})
	require.NoError(t, err)
	defer c.Close()
	lock, err := c.ReadFile("model/.carton/carton.lock")
	require.NoError(t, err, "Pack writes the lock")
	assert.Contains(t, string(lock), "scikit_learn-1.9.1-")
	assert.Contains(t, string(lock), "python_version = '3.11'")
	return out
}

// A scikit-learn pipeline packed with its requirements.txt: Pack locks
// them through pip, Load fetches the locked wheels from the package index
// into the cache, and the outputs are sklearn's own (the same model run
// by a plain Python with scikit-learn installed). In a process of its own:
// the interpreter's modules are the process's.
func TestSklearnPipeline(t *testing.T) {
	needSklearn(t)
	if !inSubprocess(t, "TestSklearnPipeline") {
		return
	}
	ctx := context.Background()
	path := packSklearn(t)
	m, err := carton.Load(ctx, path)
	require.NoError(t, err)
	defer m.Close()
	xs := []float64{5.1, 3.5, 1.4, 0.2, 6.2, 2.9, 4.3, 1.3, 7.7, 3.0, 6.1, 2.3, 5.0, 2.0, 3.5, 1.0, 6.0, 3.4, 4.5, 1.6, 4.9, 3.1, 1.5, 0.1}
	x, err := tensor.From(tensor.Shape{6, 4}, xs)
	require.NoError(t, err)
	out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x})
	require.NoError(t, err)

	dir := t.TempDir()
	xFile := filepath.Join(dir, "x.npy")
	require.NoError(t, writeNpy(xFile, x))
	run := exec.Command(os.Getenv("CARTON_TEST_SKLEARN_PYTHON"), "testdata/sklearn_expected.py", "testdata/sklearn", xFile, "0.5", dir)
	res, err := run.CombinedOutput()
	require.NoError(t, err, "%s", res)
	want := refdata(t, dir)
	assert.Equal(t, tensor.MustView[int64](want["label"]), tensor.MustView[int64](out["label"]))
	assert.InDeltaSlice(t, tensor.MustView[float64](want["proba"]), tensor.MustView[float64](out["proba"]), 1e-12)
	t.Logf("labels %v", tensor.MustView[int64](out["label"]))
}

// Two models of one process locking different versions of a package: the
// second is refused, naming the package and where the first came from.
func TestConflictingLocksAreRefused(t *testing.T) {
	needSklearn(t)
	if !inSubprocess(t, "TestConflictingLocksAreRefused") {
		return
	}
	sklearn := packSklearn(t) // locks today's numpy, fetched from the real index
	isolated(t)               // upstream's carton locks numpy 1.25.0, from the loopback index
	ctx := context.Background()
	up, err := carton.Load(ctx, "../../testdata/upstream/test.carton")
	require.NoError(t, err)
	defer up.Close()
	os.Unsetenv("CARTON_PYPI_INDEX")
	_, err = carton.Load(ctx, sklearn)
	require.Error(t, err)
	assert.ErrorIs(t, err, carton.ErrModel)
	assert.Contains(t, err.Error(), "numpy of numpy-")
	assert.Contains(t, err.Error(), "one version of a package")
}

func writeNpy(path string, t tensor.Tensor) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := npy.Write(f, t); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// refdata reads dir's NAME.npy files.
func refdata(t *testing.T, dir string) map[string]tensor.Tensor {
	files, err := filepath.Glob(filepath.Join(dir, "*.npy"))
	require.NoError(t, err)
	out := map[string]tensor.Tensor{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".npy")
		if name == "x" {
			continue
		}
		out[name], err = npy.ReadFile(f)
		require.NoError(t, err)
	}
	return out
}

// Requirements pip cannot meet fail Pack, with pip's reason; a lock left
// from other requirements is not silently replaced.
func TestRequirementsThatCannotBeMet(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.py"), []byte(tinyModel), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte("numpy==0.0.1\n"), 0o644))
	_, err := carton.Pack(context.Background(), dir, filepath.Join(t.TempDir(), "m.carton"), carton.PackOptions{Config: pythonConfig()})
	testneed.Runtime(t, err)
	require.Error(t, err)
	assert.ErrorIs(t, err, carton.ErrModel)
	assert.Contains(t, err.Error(), "pip cannot resolve")
	assert.Contains(t, err.Error(), "numpy==0.0.1")

	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".carton"), 0o755))
	stale := "orig_deps_hash = '" + strings.Repeat("0", 64) + "'\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".carton", "carton.lock"), []byte(stale), 0o644))
	_, err = carton.Pack(context.Background(), dir, filepath.Join(t.TempDir(), "m.carton"), carton.PackOptions{Config: pythonConfig()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is for another requirements.txt")
	b, _ := os.ReadFile(filepath.Join(dir, ".carton", "carton.lock"))
	assert.Equal(t, stale, string(b), "the user's lock is left alone")
}

const streamingModel = `
import asyncio
import numpy as np

closed = []

class Model:
    def __init__(self, asynchronous):
        self.asynchronous = asynchronous

    def infer_with_tensors(self, tensors):
        if tensors["x"][0] < 0:
            return {"closed": np.array(len(closed), dtype=np.int64)}
        return self.agen(tensors) if self.asynchronous else self.gen(tensors)

    def gen(self, tensors):
        try:
            for i in range(3):
                yield {"step": np.array([i], dtype=np.int64), "x": tensors["x"] * (i + 1)}
        finally:
            closed.append(1)

    async def agen(self, tensors):
        try:
            for i in range(3):
                await asyncio.sleep(0)
                yield {"step": np.array([i], dtype=np.int64), "x": tensors["x"] * (i + 1)}
        finally:
            closed.append(1)

def get_model(asynchronous=False):
    return Model(asynchronous)
`

// A model that yields several output dicts (a generator, or an async
// generator): InferStream gives each step, leaving the loop early closes
// the model's iterator, and Infer gives the last step.
func TestStreamingModel(t *testing.T) {
	isolated(t)
	ctx := context.Background()
	for _, async := range []bool{false, true} {
		m, err := carton.Load(ctx, packPython(t, streamingModel, map[string]any{"model.asynchronous": async}))
		testneed.Runtime(t, err)
		require.NoError(t, err)
		x, _ := tensor.From(tensor.Shape{2}, []float32{1, 2})
		var steps [][]float32
		for out, err := range m.InferStream(ctx, map[string]tensor.Tensor{"x": x}) {
			require.NoError(t, err)
			assert.Equal(t, []int64{int64(len(steps))}, tensor.MustView[int64](out["step"]))
			steps = append(steps, append([]float32(nil), tensor.MustView[float32](out["x"])...))
			m.ReleaseOutputs(out)
		}
		assert.Equal(t, [][]float32{{1, 2}, {2, 4}, {3, 6}}, steps, "async=%v", async)

		for out, err := range m.InferStream(ctx, map[string]tensor.Tensor{"x": x}) {
			require.NoError(t, err)
			m.ReleaseOutputs(out)
			break // closes the model's generator
		}
		neg, _ := tensor.From(tensor.Shape{1}, []float32{-1})
		closed, err := m.Infer(ctx, map[string]tensor.Tensor{"x": neg})
		require.NoError(t, err)
		assert.Equal(t, []int64{2}, tensor.MustView[int64](closed["closed"]), "both generators closed")

		last, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x})
		require.NoError(t, err)
		assert.Equal(t, []float32{3, 6}, tensor.MustView[float32](last["x"]), "Infer gives the last step")

		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		n := 0
		var lastErr error
		for out, err := range m.InferStream(cctx, map[string]tensor.Tensor{"x": x}) {
			if err != nil {
				lastErr = err
				break
			}
			n++
			m.ReleaseOutputs(out)
			cancel()
		}
		assert.Equal(t, 1, n)
		assert.ErrorIs(t, lastErr, context.Canceled)
		assert.Zero(t, schedtick.InProgress(), "a step's native call still counted as in progress")
		require.NoError(t, m.Close())
	}
}

// Upstream's own Python package (cartonml) reads a python carton we pack,
// lock included: runner, framework version and entrypoint options as we
// wrote them. (Its runners come from its servers, which this machine
// cannot reach: it reads, it does not run.)
func TestUpstreamReadsOurPythonCarton(t *testing.T) {
	upstream := os.Getenv("CARTON_TEST_UPSTREAM_PYTHON")
	if upstream == "" {
		testneed.Need(t, "needs $CARTON_TEST_UPSTREAM_PYTHON, a Python with cartonml (make setup)", errors.New("unset"))
	}
	if !inSubprocess(t, "TestUpstreamReadsOurPythonCarton") { // it loads numpy 1.25.0
		return
	}
	isolated(t) // pip resolves numpy==1.25.0 on the loopback index
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.py"), []byte(tinyModel), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte("numpy==1.25.0\n"), 0o644))
	path := filepath.Join(t.TempDir(), "ours.carton")
	reader, err := filepath.Abs("../../testdata/upstream/read_carton.py")
	require.NoError(t, err)
	t.Chdir(filepath.Dir(dir)) // a relative model path, as a user types it
	_, err = carton.Pack(context.Background(), filepath.Base(dir), path, carton.PackOptions{Config: pythonConfig()})
	testneed.Runtime(t, err)
	require.NoError(t, err)
	c, err := format.Open(path, format.OpenOptions{})
	require.NoError(t, err)
	lock, err := c.ReadFile("model/.carton/carton.lock")
	c.Close()
	require.NoError(t, err)
	assert.Contains(t, string(lock), "e559c6afbca484072a98a51b6fa466aae785cfe89b69e8b856c3191bc8872a82", "the locked wheel's sha256")

	out, err := exec.Command(upstream, reader, path).Output()
	require.NoError(t, err)
	var got struct {
		Runner struct {
			RunnerName               string         `json:"runner_name"`
			RequiredFrameworkVersion string         `json:"required_framework_version"`
			Opts                     map[string]any `json:"opts"`
		} `json:"runner"`
	}
	require.NoError(t, json.Unmarshal(out, &got), "%s", out)
	assert.Equal(t, "python", got.Runner.RunnerName)
	assert.Equal(t, "=3.11", got.Runner.RequiredFrameworkVersion)
	assert.Equal(t, map[string]any{"entrypoint_package": "main", "entrypoint_fn": "get_model"}, got.Runner.Opts)

	// And we run what we packed: the locked numpy from the index.
	m, err := carton.Load(context.Background(), path)
	require.NoError(t, err)
	defer m.Close()
	x, _ := tensor.From(tensor.Shape{2}, []float32{1, 2})
	res, err := m.Infer(context.Background(), map[string]tensor.Tensor{"x": x})
	require.NoError(t, err)
	assert.Equal(t, []float32{2, 3}, tensor.MustView[float32](res["y"]))
}
