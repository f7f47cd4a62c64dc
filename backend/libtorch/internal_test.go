package libtorch

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

// testShim loads the shim of the libtorch TestEveryLibtorch picked for this
// child process (CARTON_TEST_LIBTORCH_VERSION).
func testShim(t *testing.T) *shim {
	v := os.Getenv("CARTON_TEST_LIBTORCH_VERSION")
	if v == "" {
		t.Skip("runs in a child process of TestEveryLibtorch")
	}
	rts, err := Runner{}.Runtimes(context.Background(), backend.Hints{})
	require.NoError(t, err)
	for _, rt := range rts {
		if rt.Version == v {
			s, err := loadShim(rt)
			require.NoError(t, err)
			return s
		}
	}
	t.Fatalf("libtorch %s not found", v)
	return nil
}

// ramp is an n/4 x 4 float32 tensor holding 0, 1, 2, ...
func ramp(t *testing.T, n int) tensor.Tensor {
	xs := make([]float32, n)
	for i := range xs {
		xs[i] = float32(i)
	}
	x, err := tensor.From(tensor.Shape{int64(n / 4), 4}, xs)
	require.NoError(t, err)
	return x
}

// Small outputs are copied into Go memory and their result goes back to
// the shim with the next forward; larger ones stay in libtorch memory,
// zero-copy, until released, even after the module is closed.
func TestOnOutputMemory(t *testing.T) {
	s := testShim(t)
	m, err := newModule(s, filepath.Join("..", "..", "testdata", "torch", "dict_io.pt"), nil, "cpu", &format.Config{})
	require.NoError(t, err)
	ctx := context.Background()

	small := ramp(t, 12)
	out := map[string]tensor.Tensor{}
	for range 50 {
		clear(out) // one map for every call, as carton.InferInto does
		require.NoError(t, m.Infer(ctx, map[string]tensor.Tensor{"x": small}, out))
		assert.False(t, out["y"].IsForeign())
		assert.False(t, out["doubled"].IsForeign())
		assert.Equal(t, float32(22), tensor.MustView[float32](out["doubled"])[11])
	}
	m.retiredMu.Lock()
	assert.Len(t, m.retired, 1, "one caller: each forward frees the result of the one before")
	m.retiredMu.Unlock()

	// 2048x4 floats: doubled is 32 KiB (stays in libtorch), y is 2048x2,
	// exactly backend.SmallOutputBytes (copied).
	big := ramp(t, 8192)
	out = map[string]tensor.Tensor{}
	require.NoError(t, m.Infer(ctx, map[string]tensor.Tensor{"x": big}, out))
	assert.True(t, out["doubled"].IsForeign())
	assert.False(t, out["y"].IsForeign())
	assert.Equal(t, backend.SmallOutputBytes, out["y"].ByteLen())
	m.retiredMu.Lock()
	assert.Empty(t, m.retired, "a result an output still uses is not retired")
	m.retiredMu.Unlock()

	require.NoError(t, m.Close())
	assert.Nil(t, m.retired, "Close frees the retired results")
	d := tensor.MustView[float32](out["doubled"])
	assert.Equal(t, float32(2*8191), d[8191], "a libtorch output outlives its module")
	out["doubled"].Release()
	out["y"].Release()
}
