package backend_test

import (
	"errors"
	"fmt"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/tensor"
)

// callerTensor is a foreign tensor that records its release in released.
func callerTensor(t *testing.T, released map[string]int, name string) tensor.Tensor {
	v := []int64{1}
	ct, err := tensor.Foreign(tensor.Int64, tensor.Shape{1}, unsafe.Pointer(&v[0]), 8, func() { released[name]++ })
	require.NoError(t, err)
	return ct
}

// KeepOnly deletes what a call did not store and releases nothing.
func TestKeepOnly(t *testing.T) {
	released := map[string]int{}
	a, b := callerTensor(t, released, "a"), callerTensor(t, released, "b")
	out := map[string]tensor.Tensor{"a": a, "b": b}
	backend.KeepOnly(out, []string{"a", "b"})
	assert.Len(t, out, 2, "nothing stale")

	out["stale1"], out["stale2"] = callerTensor(t, released, "stale1"), callerTensor(t, released, "stale2")
	backend.KeepOnly(out, []string{"a", "b"})
	assert.Equal(t, map[string]tensor.Tensor{"a": a, "b": b}, out)
	backend.KeepOnly(out, []string{"b"})
	assert.Equal(t, map[string]tensor.Tensor{"b": b}, out)
	backend.KeepOnly(out, nil)
	assert.Empty(t, out)
	assert.Empty(t, released)
}

// ReleaseStored releases and deletes what the call stored, and leaves the
// caller's other entries alone.
func TestReleaseStored(t *testing.T) {
	released := map[string]int{}
	out := map[string]tensor.Tensor{
		"a": callerTensor(t, released, "a"), "b": callerTensor(t, released, "b"), "stale": callerTensor(t, released, "stale"),
	}
	backend.ReleaseStored(out, []string{"a", "b"})
	assert.Equal(t, map[string]int{"a": 1, "b": 1}, released)
	assert.Len(t, out, 1)
	assert.Contains(t, out, "stale")
	backend.ReleaseStored(out, nil)
	assert.Len(t, out, 1)
}

func TestThreadCount(t *testing.T) {
	for _, ok := range []int64{0, 1, 64, backend.MaxThreads} {
		n, err := backend.ThreadCount("threads", ok)
		require.NoError(t, err)
		assert.Equal(t, ok, n)
	}
	// 1<<32+1 would reach a framework's C int as 1
	for _, bad := range []any{int64(-1), int64(backend.MaxThreads + 1), int64(1<<32 + 1), "4", 2.0, nil} {
		_, err := backend.ThreadCount("threads", bad)
		assert.ErrorIs(t, err, backend.ErrInvalidOption, "%v", bad)
	}
}

func TestFrameworkSentinel(t *testing.T) {
	torch, ort := backend.FrameworkSentinel("libtorch"), backend.FrameworkSentinel("onnxruntime")
	err := fmt.Errorf("loading: %w", fmt.Errorf("%w: bad shape", torch))
	assert.ErrorIs(t, err, torch)
	assert.ErrorIs(t, err, backend.ErrFramework)
	assert.NotErrorIs(t, err, ort)
	assert.NotErrorIs(t, fmt.Errorf("%w: x", backend.ErrModel), backend.ErrFramework)
	assert.Equal(t, "libtorch: bad shape", errors.Unwrap(err).Error())
}
