//go:build cgo

package main

/*
#include "capi.h"
*/
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"runtime/cgo"
	"sort"
	"unsafe"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/tensor"
)

// outputs is the Go side of a carton_outputs: the model to give them back
// to, the tensors in name order, and the pins on their Go memory.
type outputs struct {
	model   *carton.Model
	out     map[string]tensor.Tensor
	tensors []tensor.Tensor
	pins    runtime.Pinner
}

//export capi_infer
func capi_infer(cm *C.carton_model, n C.size_t, names **C.char, inputs **C.carton_tensor, out **C.carton_outputs, errOut **C.char) (status C.int) {
	defer guard(&status, errOut)
	if out == nil {
		return fail(errOut, fmt.Errorf("%w: out is NULL", errInvalidArgument))
	}
	*out = nil
	m, err := modelOf(cm)
	if err != nil {
		return fail(errOut, err)
	}
	if n > 0 && (names == nil || inputs == nil) {
		return fail(errOut, fmt.Errorf("%w: %d inputs but names or inputs is NULL", errInvalidArgument, n))
	}
	in := make(map[string]tensor.Tensor, int(n))
	if n > 0 {
		for i, p := range unsafe.Slice(names, int(n)) {
			if p == nil {
				return fail(errOut, fmt.Errorf("%w: input name %d is NULL", errInvalidArgument, i))
			}
			t, err := tensorOf(unsafe.Slice(inputs, int(n))[i])
			if err != nil {
				return fail(errOut, fmt.Errorf("input %q: %w", C.GoString(p), err))
			}
			name := C.GoString(p)
			if _, dup := in[name]; dup {
				return fail(errOut, fmt.Errorf("%w: input %q is given twice", errInvalidArgument, name))
			}
			in[name] = t
		}
	}
	res, err := m.Infer(context.Background(), in)
	if err != nil {
		return fail(errOut, err)
	}
	*out = newCOutputs(m, res)
	return ok(errOut)
}

// newCOutputs is the C handle of res: names and tensors in name order,
// each tensor's Go memory pinned so that C may read it after this call.
func newCOutputs(m *carton.Model, res map[string]tensor.Tensor) *C.carton_outputs {
	o := &outputs{model: m, out: res}
	names := make([]string, 0, len(res))
	for name := range res {
		names = append(names, name)
	}
	sort.Strings(names)
	co := (*C.carton_outputs)(C.calloc(1, C.sizeof_carton_outputs))
	co.n = C.size_t(len(names))
	if len(names) > 0 {
		co.names = (**C.char)(C.calloc(C.size_t(len(names)), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
		co.tensors = (*C.carton_tensor)(C.calloc(C.size_t(len(names)), C.sizeof_carton_tensor))
	}
	cnames, cts := unsafe.Slice(co.names, len(names)), unsafe.Slice(co.tensors, len(names))
	for i, name := range names {
		t := res[name]
		o.tensors = append(o.tensors, t)
		if p := t.Pointer(); p != nil && t.DType() != tensor.String {
			o.pins.Pin(p) // a no-op for the framework's memory
		}
		cnames[i] = cString(name)
		fillCTensor(&cts[i], t)
	}
	co.handle = C.uintptr_t(cgo.NewHandle(o))
	for i := range cts {
		cts[i].owner, cts[i].index = co.handle, C.size_t(i)
	}
	return co
}

// outputTensor is the Go tensor of an output's carton_tensor, found by
// its place in its outputs' array.
func outputTensor(ct *C.carton_tensor) (tensor.Tensor, error) {
	if ct.owner == 0 {
		return tensor.Tensor{}, fmt.Errorf("%w: the tensor was freed", errInvalidArgument)
	}
	o := cgo.Handle(ct.owner).Value().(*outputs)
	if int(ct.index) >= len(o.tensors) {
		return tensor.Tensor{}, fmt.Errorf("%w: not a tensor of carton's", errInvalidArgument)
	}
	return o.tensors[ct.index], nil
}

//export capi_outputs_free
func capi_outputs_free(co *C.carton_outputs) {
	defer func() { _ = recover() }() // carton_outputs_free returns void
	h := cgo.Handle(co.handle)
	o := h.Value().(*outputs)
	o.pins.Unpin()
	o.model.ReleaseOutputs(o.out)
	h.Delete()
	names, cts := unsafe.Slice(co.names, int(co.n)), unsafe.Slice(co.tensors, int(co.n))
	for i := range cts {
		C.free(unsafe.Pointer(names[i]))
		clearCTensor(&cts[i])
	}
	C.free(unsafe.Pointer(co.names))
	C.free(unsafe.Pointer(co.tensors))
	C.free(unsafe.Pointer(co))
}
