package backend

import "github.com/carton-run/carton/tensor"

// InputHolding finds the input whose memory holds [data, data+nbytes),
// Go's or another framework's: the framework handed back (part of) an
// input buffer, as an identity or a view does. String inputs hold no
// buffer and never match.
func InputHolding(inputs []tensor.Tensor, data uintptr, nbytes int) (in tensor.Tensor, offset int, ok bool) {
	if data == 0 {
		return tensor.Tensor{}, 0, false
	}
	for _, in := range inputs {
		p := uintptr(in.Pointer())
		if p != 0 && data >= p && data+uintptr(nbytes) <= p+uintptr(in.ByteLen()) {
			return in, int(data - p), true
		}
	}
	return tensor.Tensor{}, 0, false
}

// AliasedInput is InputHolding for inputs in Go memory only: an output
// there can be a view of the input. One in a foreign input's memory must
// be copied instead (KindOf), since that input's owner may free it first.
func AliasedInput(inputs []tensor.Tensor, data uintptr, nbytes int) (in tensor.Tensor, offset int, ok bool) {
	in, offset, ok = InputHolding(inputs, data, nbytes)
	if !ok || in.IsForeign() {
		return tensor.Tensor{}, 0, false
	}
	return in, offset, true
}

// AliasOfInput returns such an output as a view of the input's Go memory,
// which stays valid after the call without the framework or a pin holding it.
func AliasOfInput(inputs []tensor.Tensor, dtype tensor.DType, shape tensor.Shape, data uintptr, nbytes int) (tensor.Tensor, bool) {
	in, off, ok := AliasedInput(inputs, data, nbytes)
	if !ok {
		return tensor.Tensor{}, false
	}
	t, err := HeldOutput(in, off, dtype, shape, nbytes)
	return t, err == nil
}

// HeldOutput hands over an output held in input in, nbytes at offset (as
// InputHolding found it): a view when in is Go memory, which the view keeps
// alive; a copy when it is another framework's, whose owner may free it
// before the output.
func HeldOutput(in tensor.Tensor, offset int, dtype tensor.DType, shape tensor.Shape, nbytes int) (tensor.Tensor, error) {
	held := in.Bytes()[offset : offset+nbytes]
	if !in.IsForeign() {
		return tensor.FromBytes(dtype, shape, held)
	}
	t, err := tensor.New(dtype, shape)
	if err == nil {
		copy(t.Bytes(), held)
	}
	return t, err
}
