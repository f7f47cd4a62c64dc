package backend_test

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/tensor"
)

func TestKindOf(t *testing.T) {
	const small = backend.SmallOutputBytes
	goInput, err := tensor.New(tensor.Float32, tensor.Shape{small}) // 4 × small bytes
	require.NoError(t, err)
	backing := make([]byte, 4*small)
	foreign, err := tensor.Foreign(tensor.Float32, tensor.Shape{small}, unsafe.Pointer(&backing[0]), len(backing), func() {})
	require.NoError(t, err)
	framework := make([]byte, 2*small) // stands for memory the framework allocated
	inputs := []tensor.Tensor{goInput, foreign}
	at := func(p unsafe.Pointer, offset int) uintptr { return uintptr(p) + uintptr(offset) }
	for _, c := range []struct {
		name   string
		dtype  tensor.DType
		data   uintptr
		nbytes int
		want   backend.OutputKind
	}{
		{"strings", tensor.String, 0, 3, backend.OutputStrings},
		{"in a Go input", tensor.Float32, at(goInput.Pointer(), 64), 2 * small, backend.OutputAlias},
		{"in a foreign input, large", tensor.Float32, at(foreign.Pointer(), 0), 4 * small, backend.OutputCopied},
		{"in a foreign input, small", tensor.Float32, at(foreign.Pointer(), 16), 16, backend.OutputCopied},
		{"past a Go input's end", tensor.Float32, at(goInput.Pointer(), 64), 4 * small, backend.OutputForeign},
		{"framework memory, small", tensor.Float32, at(unsafe.Pointer(&framework[0]), 0), small, backend.OutputCopied},
		{"framework memory, large", tensor.Float32, at(unsafe.Pointer(&framework[0]), 0), small + 1, backend.OutputForeign},
	} {
		assert.Equal(t, c.want, backend.KindOf(inputs, c.dtype, c.data, c.nbytes), c.name)
	}
	_, _, ok := backend.AliasedInput(inputs, at(foreign.Pointer(), 0), 16)
	assert.False(t, ok, "a foreign input is no Go memory to view")
	in, off, ok := backend.InputHolding(inputs, at(foreign.Pointer(), 8), 16)
	require.True(t, ok)
	assert.Equal(t, 8, off)
	assert.True(t, in.IsForeign())
}
