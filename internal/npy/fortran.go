package npy

import (
	"github.com/carton-run/carton/tensor"
)

// fromFortran returns t, whose elements are in Fortran (column-major)
// order for its shape, with them in C (row-major) order, as tensors hold
// them. numpy saves a transposed array (x.T) that way.
func fromFortran(t tensor.Tensor) (tensor.Tensor, error) {
	shape := t.Shape()
	n, err := shape.NumElements()
	if err != nil || n < 2 || len(shape) < 2 {
		return t, err // one dimension or one element: both orders agree
	}
	if t.DType() == tensor.String {
		src, _ := t.Strings()
		dst := make([]string, n)
		forEachFortranIndex(shape, func(c, f int) { dst[c] = src[f] })
		return tensor.FromStrings(shape, dst)
	}
	out, err := tensor.New(t.DType(), shape)
	if err != nil {
		return tensor.Tensor{}, err
	}
	size := t.DType().Size()
	src, dst := t.Bytes(), out.Bytes()
	forEachFortranIndex(shape, func(c, f int) { copy(dst[c*size:(c+1)*size], src[f*size:(f+1)*size]) })
	return out, nil
}

// forEachFortranIndex calls fn with each element's index in C order and
// in Fortran order, walking C order.
func forEachFortranIndex(shape tensor.Shape, fn func(c, f int)) {
	rank := len(shape)
	stride := make([]int, rank) // Fortran strides: the first dim varies fastest
	s := 1
	for k := range rank {
		stride[k] = s
		s *= int(shape[k])
	}
	idx := make([]int, rank)
	f := 0
	for c := 0; c < s; c++ {
		fn(c, f)
		// Advance the C-order odometer: the last dim varies fastest.
		for k := rank - 1; k >= 0; k-- {
			idx[k]++
			f += stride[k]
			if idx[k] < int(shape[k]) {
				break
			}
			f -= idx[k] * stride[k]
			idx[k] = 0
		}
	}
}
