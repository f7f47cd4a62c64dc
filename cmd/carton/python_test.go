package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/internal/npy"
	"github.com/carton-run/carton/internal/testneed"
	"github.com/carton-run/carton/tensor"
)

// carton pack --runner python, then carton infer of a model that answers
// in steps: each step printed and written as NAME.STEP.npy.
func TestInferPrintsEachStep(t *testing.T) {
	t.Setenv("CARTON_CACHE_DIR", t.TempDir())
	dir := t.TempDir()
	out := filepath.Join(dir, "stream.carton")
	code, stdout, stderr := cli(t, "pack", "testdata/streaming", "--runner", "python", "--framework-version", "=3.11",
		"--opt", "entrypoint_package=main", "--opt", "entrypoint_fn=get_model", "-o", out)
	require.Equal(t, 0, code, "%s%s", stdout, stderr)
	x, err := tensor.From(tensor.Shape{2}, []float32{1, 2})
	require.NoError(t, err)
	xf := filepath.Join(dir, "x.npy")
	f, err := os.Create(xf)
	require.NoError(t, err)
	require.NoError(t, npy.Write(f, x))
	require.NoError(t, f.Close())
	code, stdout, stderr = cli(t, "infer", out, "--input", "x="+xf, "--output-dir", filepath.Join(dir, "out"))
	if code != 0 {
		testneed.Need(t, "the python runner needs a Python 3.11 with a shared libpython and numpy", fmt.Errorf("%s%s", stdout, stderr))
	}
	for _, want := range []string{"ran on python 3.11", "step 1\n", "step 2\n", "step 3\n", "y.3.npy", `words: string[1] ["step 3"]`} {
		assert.Contains(t, stdout, want)
	}
	y3, err := npy.ReadFile(filepath.Join(dir, "out", "y.3.npy"))
	require.NoError(t, err)
	assert.Equal(t, []float32{3, 6}, tensor.MustView[float32](y3))
}
