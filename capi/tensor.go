//go:build cgo

package main

/*
#include "capi.h"
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"unsafe"

	"github.com/carton-run/carton/tensor"
)

// numericDType is dt as a numeric tensor.DType.
func numericDType(dt C.int) (tensor.DType, error) {
	d := tensor.DType(dt)
	if dt < 0 || dt > 255 || !d.Valid() || d == tensor.String {
		return tensor.Invalid, fmt.Errorf("%w: dtype %d is not a numeric carton_dtype", errInvalidArgument, dt)
	}
	return d, nil
}

// numericArgs reads the arguments every numeric tensor constructor takes,
// and clears *out.
func numericArgs(dt C.int, shape *C.int64_t, ndim C.size_t, out **C.carton_tensor) (tensor.DType, []int64, error) {
	if out == nil {
		return tensor.Invalid, nil, fmt.Errorf("%w: out is NULL", errInvalidArgument)
	}
	*out = nil
	d, err := numericDType(dt)
	if err != nil {
		return tensor.Invalid, nil, err
	}
	s, err := goShape(shape, ndim)
	return d, s, err
}

// newCTensor is a caller's tensor: the C struct, holding a handle to t.
func newCTensor(t tensor.Tensor) *C.carton_tensor {
	ct := (*C.carton_tensor)(C.calloc(1, C.sizeof_carton_tensor))
	fillCTensor(ct, t)
	ct.handle = C.uintptr_t(cgo.NewHandle(t))
	return ct
}

// fillCTensor stores what carton.h's getters return: dtype, shape, data
// (numeric), and C copies of a string tensor's elements.
func fillCTensor(ct *C.carton_tensor, t tensor.Tensor) {
	ct.dtype = C.carton_dtype(t.DType())
	shape := t.Shape()
	ct.ndim = C.size_t(len(shape))
	ct.shape = &ct.inline_shape[0]
	if len(shape) > C.CARTON_INLINE_DIMS {
		ct.shape = (*C.int64_t)(C.malloc(C.size_t(8 * len(shape))))
	}
	for i, d := range shape {
		unsafe.Slice(ct.shape, len(shape))[i] = C.int64_t(d)
	}
	ct.num_elements = C.size_t(t.Len())
	if t.DType() != tensor.String {
		ct.data = t.Pointer()
		ct.nbytes = C.size_t(t.ByteLen())
		return
	}
	strs, _ := t.Strings()
	n := max(len(strs), 1)
	ct.strs = (**C.char)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	ct.lens = (*C.size_t)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.size_t(0)))))
	ptrs, lens := unsafe.Slice(ct.strs, n), unsafe.Slice(ct.lens, n)
	for i, s := range strs {
		ptrs[i] = (*C.char)(C.CBytes(append([]byte(s), 0)))
		lens[i] = C.size_t(len(s))
	}
}

// clearCTensor frees what fillCTensor allocated.
func clearCTensor(ct *C.carton_tensor) {
	if ct.shape != &ct.inline_shape[0] {
		C.free(unsafe.Pointer(ct.shape))
	}
	if ct.strs != nil {
		for _, p := range unsafe.Slice(ct.strs, int(max(ct.num_elements, 1))) {
			C.free(unsafe.Pointer(p))
		}
		C.free(unsafe.Pointer(ct.strs))
		C.free(unsafe.Pointer(ct.lens))
	}
}

//export capi_tensor_wrap
func capi_tensor_wrap(dt C.int, shape *C.int64_t, ndim C.size_t, data unsafe.Pointer, nbytes C.size_t,
	release C.carton_release_fn, ctx unsafe.Pointer, out **C.carton_tensor, errOut **C.char) (status C.int) {
	defer guard(&status, errOut)
	d, s, err := numericArgs(dt, shape, ndim, out)
	if err != nil {
		return fail(errOut, err)
	}
	t, err := tensor.Foreign(d, s, data, int(nbytes), func() { C.capi_call_release(release, ctx) })
	if err != nil {
		return fail(errOut, err)
	}
	*out = newCTensor(t)
	return ok(errOut)
}

//export capi_tensor_new
func capi_tensor_new(dt C.int, shape *C.int64_t, ndim C.size_t, out **C.carton_tensor, errOut **C.char) (status C.int) {
	defer guard(&status, errOut)
	d, s, err := numericArgs(dt, shape, ndim, out)
	if err != nil {
		return fail(errOut, err)
	}
	elems, err := tensor.Shape(s).NumElements()
	if err != nil {
		return fail(errOut, err)
	}
	if elems > (1<<47)/d.Size() {
		return fail(errOut, fmt.Errorf("%w: shape %v of %s is too large", errInvalidArgument, s, d))
	}
	n := elems * d.Size()
	// C memory, so that the caller may fill it after this call returns.
	p := C.calloc(C.size_t(max(n, 1)), 1)
	if p == nil {
		return fail(errOut, fmt.Errorf("%w: cannot allocate %d bytes", errInvalidArgument, n))
	}
	t, err := tensor.Foreign(d, s, p, n, func() { C.free(p) })
	if err != nil {
		C.free(p)
		return fail(errOut, err)
	}
	*out = newCTensor(t)
	return ok(errOut)
}

//export capi_tensor_new_strings
func capi_tensor_new_strings(shape *C.int64_t, ndim C.size_t, strs **C.char, lens *C.size_t, out **C.carton_tensor, errOut **C.char) (status C.int) {
	defer guard(&status, errOut)
	if out == nil {
		return fail(errOut, fmt.Errorf("%w: out is NULL", errInvalidArgument))
	}
	*out = nil
	s, err := goShape(shape, ndim)
	if err != nil {
		return fail(errOut, err)
	}
	n, err := tensor.Shape(s).NumElements()
	if err != nil {
		return fail(errOut, fmt.Errorf("%w: %w", errInvalidArgument, err))
	}
	t, err := stringsTensor(s, strs, lens, n)
	if err != nil {
		return fail(errOut, err)
	}
	*out = newCTensor(t)
	return ok(errOut)
}

// stringsTensor copies n C strings (lens NULL: NUL-terminated) into a
// string tensor of shape.
func stringsTensor(shape []int64, strs **C.char, lens *C.size_t, n int) (tensor.Tensor, error) {
	if n > 0 && strs == nil {
		return tensor.Tensor{}, fmt.Errorf("%w: %d strings at NULL", errInvalidArgument, n)
	}
	vals := make([]string, n)
	if n > 0 {
		ptrs := unsafe.Slice(strs, n)
		var ls []C.size_t
		if lens != nil {
			ls = unsafe.Slice(lens, n)
		}
		for i, p := range ptrs {
			switch {
			case p == nil && (ls == nil || ls[i] > 0):
				return tensor.Tensor{}, fmt.Errorf("%w: string %d is NULL", errInvalidArgument, i)
			case ls == nil:
				vals[i] = C.GoString(p)
			default:
				vals[i] = C.GoStringN(p, C.int(ls[i]))
			}
		}
	}
	return tensor.FromStrings(shape, vals)
}

// tensorOf is the Go tensor of a caller's tensor or of an output.
func tensorOf(ct *C.carton_tensor) (tensor.Tensor, error) {
	if ct == nil {
		return tensor.Tensor{}, fmt.Errorf("%w: a tensor is NULL", errInvalidArgument)
	}
	if ct.handle != 0 {
		return cgo.Handle(ct.handle).Value().(tensor.Tensor), nil
	}
	return outputTensor(ct)
}

//export capi_tensor_free
func capi_tensor_free(ct *C.carton_tensor) {
	defer func() { _ = recover() }() // nothing to report to: carton_tensor_free returns void
	h := cgo.Handle(ct.handle)
	h.Value().(tensor.Tensor).Release()
	h.Delete()
	clearCTensor(ct)
	C.free(unsafe.Pointer(ct))
}
