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
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/backend/python"
	"github.com/carton-run/carton/format"
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
func TestUpstreamCarton(t *testing.T) {
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
	wheels, _ := filepath.Glob(filepath.Join(os.Getenv("CARTON_CACHE_DIR"), "python", "wheels", "*", ".complete"))
	assert.Len(t, wheels, 1, "the numpy wheel, unpacked once into the cache")
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
	m, err := carton.Load(ctx, packPython(t, echoModel, map[string]any{"model.scale": int64(3)}))
	testneed.Runtime(t, err)
	require.NoError(t, err)
	defer m.Close()
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
