package refdata

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/internal/npy"
	"github.com/carton-run/carton/tensor"
)

// ReadNpy reads one .npy file, failing the test on error.
func ReadNpy(t testing.TB, path string) tensor.Tensor {
	t.Helper()
	x, err := npy.ReadFile(path)
	require.NoError(t, err)
	return x
}

// Load returns the inputs and reference outputs of model name in dir.
func Load(t testing.TB, dir, name string) (in, out map[string]tensor.Tensor) {
	t.Helper()
	in, out = map[string]tensor.Tensor{}, map[string]tensor.Tensor{}
	files, _ := filepath.Glob(filepath.Join(dir, name+".*.npy"))
	require.NotEmpty(t, files, "no reference tensors for %s in %s", name, dir)
	for _, f := range files {
		parts := strings.Split(strings.TrimSuffix(filepath.Base(f), ".npy"), ".")
		switch parts[1] {
		case "in":
			in[parts[2]] = ReadNpy(t, f)
		case "out":
			out[parts[2]] = ReadNpy(t, f)
		}
	}
	return in, out
}

// Tolerance is how closely Check wants outputs to match: float32 round-off
// between frameworks and releases.
var Tolerance = tensor.Tolerance{Rtol: 1e-5, Atol: 1e-6}

// Check asserts that every reference output in want matches the output of
// the same name in got within Tolerance, and releases those outputs.
func Check(t testing.TB, got, want map[string]tensor.Tensor) {
	t.Helper()
	for name, w := range want {
		assert.Nil(t, tensor.Compare(got[name], w, Tolerance), "%s: got %v", name, got[name])
		got[name].Release()
	}
}

// ModelDir lays out a model directory holding data as file.
func ModelDir(t testing.TB, file string, data []byte) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, file), data, 0o644))
	return dir
}

// OwnedElsewhere returns a copy of x as a foreign tensor, as another
// framework's output fed in as an input would be: memory carton does not
// own, which its owner frees on Release. Here Release overwrites it with
// 0xff bytes instead, so that an output still reading it shows NaNs or -1s
// rather than a crash now and then.
func OwnedElsewhere(t testing.TB, x tensor.Tensor) tensor.Tensor {
	t.Helper()
	c, err := x.Clone()
	require.NoError(t, err)
	data := c.Bytes()
	f, err := tensor.Foreign(c.DType(), c.Shape(), c.Pointer(), len(data), func() {
		for i := range data {
			data[i] = 0xff
		}
	})
	require.NoError(t, err)
	return f
}
