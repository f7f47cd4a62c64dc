package backend_test

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/tensor"
)

func TestReuseBlock(t *testing.T) {
	spare := make([]byte, 256)
	base := unsafe.Pointer(&spare[0])
	other, err := tensor.From(tensor.Shape{2}, []float32{1, 2})
	require.NoError(t, err)

	assert.Nil(t, backend.ReuseBlock(spare, 0, nil), "no Go outputs, no block")
	got := backend.ReuseBlock(spare, 100, []tensor.Tensor{other})
	assert.Equal(t, base, unsafe.Pointer(&got[0]), "spare holds them")
	assert.Len(t, got, 100)
	assert.Len(t, backend.ReuseBlock(nil, 8, nil), 8, "no spare: a new block")
	got = backend.ReuseBlock(spare, 300, nil)
	assert.NotEqual(t, base, unsafe.Pointer(&got[0]), "too small: a new block")
	assert.Len(t, got, 300)

	// Inputs carved from spare: an earlier output fed back in.
	inData, _, err := tensor.Carve(spare[64:], tensor.Float32, tensor.Shape{2})
	require.NoError(t, err)
	got = backend.ReuseBlock(spare, 100, []tensor.Tensor{other, inData})
	assert.NotEqual(t, base, unsafe.Pointer(&got[0]), "an input's data lies in spare")
	empty, _, err := tensor.Carve(spare[128:], tensor.Float32, tensor.Shape{0}) // its shape in spare, no data
	require.NoError(t, err)
	require.Nil(t, empty.Pointer())
	got = backend.ReuseBlock(spare, 100, []tensor.Tensor{empty})
	assert.NotEqual(t, base, unsafe.Pointer(&got[0]), "an input's shape lies in spare")
	foreign, err := tensor.Foreign(tensor.Float32, tensor.Shape{2}, unsafe.Pointer(&spare[192]), 8, func() {})
	require.NoError(t, err)
	got = backend.ReuseBlock(spare, 100, []tensor.Tensor{foreign})
	assert.NotEqual(t, base, unsafe.Pointer(&got[0]), "whoever owns the memory the input claims")
}
