package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/internal/refdata"
	"github.com/carton-run/carton/tensor"
)

// On a machine where nothing is configured (no index named to carton or
// pip, pip on its defaults, an empty cache, no runtime installed anywhere
// carton looks), `carton infer` downloads each framework's runtime from
// the index pip itself would use, verifies it by the index's sha256,
// caches it and runs the model; a second run makes no request
// (CARTON_OFFLINE=1). It reaches the package index, so it runs in CI
// (where it must pass) and where CARTON_TEST_DOWNLOADS=1.
func TestOutOfTheBox(t *testing.T) {
	if os.Getenv("CI") != "true" && os.Getenv("CARTON_TEST_DOWNLOADS") != "1" {
		t.Skip("downloads runtimes from the package index: set CARTON_TEST_DOWNLOADS=1")
	}
	self, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	// An interpreter with pip and none of the frameworks, for carton to ask.
	py := filepath.Join(dir, "py")
	out, err := exec.Command("python3", "-m", "venv", py).CombinedOutput()
	require.NoError(t, err, "%s", out)
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.Mkdir(empty, 0o755))
	env := []string{"CARTON_CACHE_DIR=" + filepath.Join(dir, "cache"), "CARTON_PYTHON=" + filepath.Join(py, "bin", "python"),
		"CARTON_NODE_MODULES=" + empty, "npm_config_prefix=" + empty, "TF_CPP_MIN_LOG_LEVEL=3"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "CARTON_PYPI_INDEX", "PIP_INDEX_URL", "PIP_NO_INDEX", "CARTON_ONNXRUNTIME_LIB", "CARTON_LIBTORCH_DIR",
			"CARTON_TENSORFLOW_DIR", "CARTON_OFFLINE", "CARTON_CACHE_DIR", "CARTON_PYTHON", "CARTON_NODE_MODULES":
			continue
		}
		env = append(env, kv)
	}
	run := func(extra []string, args ...string) string {
		cmd := exec.Command(self, args...)
		cmd.Env = append(append([]string{}, env...), extra...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "carton %s:\n%s", strings.Join(args, " "), out)
		return string(out)
	}
	ctx := context.Background()
	for _, c := range []struct{ dir, model, name string }{
		{"onnx", "matmul_add.onnx", "matmul_add"},
		{"torch", "dict_io.pt", "dict_io"},
		{"tensorflow", "dense", "dense"},
	} {
		t.Run(c.name, func(t *testing.T) {
			models := filepath.Join("..", "..", "testdata", c.dir)
			path := filepath.Join(dir, c.name+".carton")
			// Packed here, with this process's runtimes (ONNX specs are read from the model).
			_, err := carton.Pack(ctx, filepath.Join(models, c.model), path, carton.PackOptions{})
			require.NoError(t, err)
			input := "x=" + filepath.Join(models, c.name+".in.x.npy")

			first := run(nil, "infer", path, "--input", input, "--output-dir", filepath.Join(dir, c.name+"-1"))
			assert.Contains(t, first, "(download ", "the runtime was downloaded:\n%s", first)
			assert.Contains(t, first, "from the package index", "and says from which:\n%s", first)
			assert.Contains(t, first, "pip's default", "the one pip uses when none is configured:\n%s", first)

			second := run([]string{"CARTON_OFFLINE=1"}, "infer", path, "--input", input, "--output-dir", filepath.Join(dir, c.name+"-2"))
			assert.Contains(t, second, "(cache ", "the second run uses the cache, offline:\n%s", second)

			_, want := refdata.Load(t, models, c.name)
			for name, w := range want {
				got := refdata.ReadNpy(t, filepath.Join(dir, c.name+"-2", outputFileName(name)))
				assert.Nil(t, tensor.Compare(got, w, tensor.Tolerance{Rtol: 1e-4, Atol: 1e-5}), "%s %s", c.name, name)
			}
		})
	}
	listed := run([]string{"CARTON_OFFLINE=1"}, "runtimes", "--json")
	for _, fw := range []string{"onnxruntime", "libtorch", "tensorflow"} {
		assert.Contains(t, listed, `"framework": "`+fw+`"`)
	}
	assert.Contains(t, listed, `"index": "`, "carton runtimes says which index each came from")
	assert.Contains(t, listed, `"verified": true`)
}
