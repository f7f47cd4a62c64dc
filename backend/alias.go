package backend

import "github.com/carton-run/carton/tensor"

// AliasedInput finds the input whose Go memory holds [data, data+nbytes):
// the framework handed back (part of) an input buffer, as an identity or a
// view does. Foreign and string inputs are not Go buffers and never match.
func AliasedInput(inputs []tensor.Tensor, data uintptr, nbytes int) (in tensor.Tensor, offset int, ok bool) {
	if data == 0 {
		return tensor.Tensor{}, 0, false
	}
	for _, in := range inputs {
		p := uintptr(in.Pointer())
		if p != 0 && !in.IsForeign() && data >= p && data+uintptr(nbytes) <= p+uintptr(in.ByteLen()) {
			return in, int(data - p), true
		}
	}
	return tensor.Tensor{}, 0, false
}

// AliasOfInput returns such an output as a view of the input's Go memory,
// which stays valid after the call without the framework or a pin holding it.
func AliasOfInput(inputs []tensor.Tensor, dtype tensor.DType, shape tensor.Shape, data uintptr, nbytes int) (tensor.Tensor, bool) {
	in, off, ok := AliasedInput(inputs, data, nbytes)
	if !ok {
		return tensor.Tensor{}, false
	}
	t, err := tensor.FromBytes(dtype, shape, in.Bytes()[off:off+nbytes])
	return t, err == nil
}
