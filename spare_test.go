package carton_test

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/tensor"
)

// echoInputs are inputs for the noop carton whose x is foreign memory
// counting its releases in released (the noop runner returns its inputs).
func echoInputs(t *testing.T, released *atomic.Int32, first float32) map[string]tensor.Tensor {
	t.Helper()
	buf := []float32{first, 2, 3, 4, 5, 6}
	x, err := tensor.Foreign(tensor.Float32, tensor.Shape{2, 3}, unsafe.Pointer(&buf[0]), 24, func() { released.Add(1) })
	require.NoError(t, err)
	ids, err := tensor.From(tensor.Shape{2}, []int64{7, 8})
	require.NoError(t, err)
	return map[string]tensor.Tensor{"x": x, "ids": ids}
}

func mapID(m map[string]tensor.Tensor) unsafe.Pointer { return reflect.ValueOf(m).UnsafePointer() }

func TestReleaseOutputsReleasesAndReusesTheMap(t *testing.T) {
	ctx := context.Background()
	m := loadNoop(t)
	defer m.Close()
	var released atomic.Int32

	out, err := m.Infer(ctx, echoInputs(t, &released, 1))
	require.NoError(t, err)
	x := out["x"]
	m.ReleaseOutputs(out)
	assert.EqualValues(t, 1, released.Load(), "the foreign output is released")
	assert.False(t, x.Valid(), "a copy of a released output is invalid")
	assert.False(t, out["x"].Valid(), "the map's own copy is released too")

	again, err := m.Infer(ctx, echoInputs(t, &released, 10))
	require.NoError(t, err)
	assert.Equal(t, mapID(out), mapID(again), "the next Infer refills the map given back")
	require.Len(t, again, 2)
	v, err := tensor.View[float32](again["x"])
	require.NoError(t, err)
	assert.Equal(t, float32(10), v[0])

	m.ReleaseOutputs(again)
	m.ReleaseOutputs(again) // twice: released once, kept once
	assert.EqualValues(t, 2, released.Load())
	a, err := m.Infer(ctx, echoInputs(t, &released, 1))
	require.NoError(t, err)
	b, err := m.Infer(ctx, echoInputs(t, &released, 1))
	require.NoError(t, err)
	assert.NotEqual(t, mapID(a), mapID(b), "a map given back twice goes to one call only")

	m.ReleaseOutputs(b)
	_, err = m.Infer(ctx, map[string]tensor.Tensor{"x": tensor.Scalar(float32(1))})
	require.ErrorIs(t, err, carton.ErrInvalidInput)
	c, err := m.Infer(ctx, echoInputs(t, &released, 1))
	require.NoError(t, err)
	assert.Equal(t, mapID(b), mapID(c), "a failed Infer gives the map back")
	assert.Len(t, c, 2)

	m.ReleaseOutputs(nil) // nothing to do
}

// A spare map keeps no large Go buffer alive: the noop runner's outputs are
// its inputs, so a large input would otherwise stay reachable from the
// model until its next Infer.
func TestReleaseOutputsDropsLargeGoMemory(t *testing.T) {
	ctx := context.Background()
	m, cleanup := loadEcho(ctx) // declares no inputs
	defer cleanup()
	big, err := tensor.New(tensor.Float32, tensor.Shape{1 << 15, 3}) // 384 KiB
	require.NoError(t, err)
	small, err := tensor.From(tensor.Shape{2}, []int64{7, 8})
	require.NoError(t, err)
	words, err := tensor.FromStrings(tensor.Shape{1}, []string{"kept?"})
	require.NoError(t, err)
	out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": big, "ids": small, "s": words})
	require.NoError(t, err)
	m.ReleaseOutputs(out)
	assert.Equal(t, tensor.Tensor{}, out["x"], "the large Go output is dropped from the spare map")
	assert.Equal(t, tensor.Tensor{}, out["s"], "strings are dropped whatever their size")
	assert.True(t, out["ids"].Valid(), "a small Go output stays until the next Infer overwrites it")
}

// Under -race: maps handed between goroutines through ReleaseOutputs never
// reach two calls at once, and each call sees its own outputs.
func TestReleaseOutputsConcurrent(t *testing.T) {
	ctx := context.Background()
	m := loadNoop(t)
	defer m.Close()
	var released atomic.Int32
	var wg sync.WaitGroup
	const goroutines, calls = 8, 300
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				want := float32(g*calls + i)
				out, err := m.Infer(ctx, echoInputs(t, &released, want))
				if !assert.NoError(t, err) {
					return
				}
				v, err := tensor.View[float32](out["x"])
				if !assert.NoError(t, err) || !assert.Equal(t, want, v[0]) || !assert.Len(t, out, 2) {
					return
				}
				m.ReleaseOutputs(out)
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, goroutines*calls, released.Load())
}
