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
	return inferEach(cm, n, names, inputs != nil, func(i int) (tensor.Tensor, error) {
		return tensorOf(unsafe.Slice(inputs, int(n))[i])
	}, out, errOut)
}

//export capi_infer_views
func capi_infer_views(cm *C.carton_model, n C.size_t, names **C.char, views *C.carton_tensor_view, out **C.carton_outputs, errOut **C.char) (status C.int) {
	defer guard(&status, errOut)
	return inferEach(cm, n, names, views != nil, func(i int) (tensor.Tensor, error) {
		return viewTensor(&unsafe.Slice(views, int(n))[i])
	}, out, errOut)
}

// inferEach runs the model on n inputs, the i-th named names[i] and made
// by input(i), and stores the outputs' handle in *out.
func inferEach(cm *C.carton_model, n C.size_t, names **C.char, haveInputs bool, input func(int) (tensor.Tensor, error), out **C.carton_outputs, errOut **C.char) C.int {
	if out == nil {
		return fail(errOut, fmt.Errorf("%w: out is NULL", errInvalidArgument))
	}
	*out = nil
	m, err := modelOf(cm)
	if err != nil {
		return fail(errOut, err)
	}
	if n > 0 && (names == nil || !haveInputs) {
		return fail(errOut, fmt.Errorf("%w: %d inputs but names or inputs is NULL", errInvalidArgument, n))
	}
	in := make(map[string]tensor.Tensor, int(n))
	if n > 0 {
		for i, p := range unsafe.Slice(names, int(n)) {
			if p == nil {
				return fail(errOut, fmt.Errorf("%w: input name %d is NULL", errInvalidArgument, i))
			}
			name := C.GoString(p)
			t, err := input(i)
			if err != nil {
				return fail(errOut, fmt.Errorf("input %q: %w", name, err))
			}
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

// viewTensor is a tensor over a view's memory, for the call only.
func viewTensor(v *C.carton_tensor_view) (tensor.Tensor, error) {
	shape, err := goShape(v.shape, v.ndim)
	if err != nil {
		return tensor.Tensor{}, err
	}
	if v.dtype == C.CARTON_DTYPE_STRING {
		n, err := tensor.Shape(shape).NumElements()
		if err != nil {
			return tensor.Tensor{}, fmt.Errorf("%w: %w", errInvalidArgument, err)
		}
		return stringsTensor(shape, v.strings, v.string_lens, n)
	}
	d, err := numericDType(C.int(v.dtype))
	if err != nil {
		return tensor.Tensor{}, err
	}
	if v.data == nil && v.nbytes > 0 {
		return tensor.Tensor{}, fmt.Errorf("%w: data is NULL with %d bytes", errInvalidArgument, v.nbytes)
	}
	// A Go slice over the caller's memory, which the call only reads.
	return tensor.FromBytes(d, shape, unsafe.Slice((*byte)(v.data), int(v.nbytes)))
}

// newCOutputs is the C handle of res: names and tensors in name order,
// each tensor's Go memory pinned so that C may read it after this call.
// The struct, its arrays and the names are one malloc'd block.
func newCOutputs(m *carton.Model, res map[string]tensor.Tensor) *C.carton_outputs {
	o := &outputs{model: m, out: res, tensors: make([]tensor.Tensor, 0, len(res))}
	names := make([]string, 0, len(res))
	nameBytes := 0
	for name := range res {
		names = append(names, name)
		nameBytes += len(name) + 1
	}
	sort.Strings(names)
	n := len(names)
	ptrSize := C.size_t(unsafe.Sizeof((*C.char)(nil)))
	head := (C.sizeof_carton_outputs + ptrSize - 1) &^ (ptrSize - 1)
	tensorsAt := head + C.size_t(n)*ptrSize
	namesAt := tensorsAt + C.size_t(n)*C.sizeof_carton_tensor
	block := C.calloc(1, namesAt+C.size_t(nameBytes))
	co := (*C.carton_outputs)(block)
	co.n = C.size_t(n)
	if n > 0 {
		co.names = (**C.char)(unsafe.Add(block, head))
		co.tensors = (*C.carton_tensor)(unsafe.Add(block, tensorsAt))
	}
	cnames, cts := unsafe.Slice(co.names, n), unsafe.Slice(co.tensors, n)
	text := unsafe.Slice((*byte)(unsafe.Add(block, namesAt)), nameBytes)
	for i, name := range names {
		t := res[name]
		o.tensors = append(o.tensors, t)
		if p := t.Pointer(); p != nil && t.DType() != tensor.String {
			o.pins.Pin(p) // a no-op for the framework's memory
		}
		cnames[i] = (*C.char)(unsafe.Pointer(&text[0]))
		text = text[copy(text, name)+1:] // calloc'd: the NUL is there
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
	for i := range unsafe.Slice(co.tensors, int(co.n)) {
		clearCTensor(&unsafe.Slice(co.tensors, int(co.n))[i])
	}
	C.free(unsafe.Pointer(co)) // one block with its arrays and names
}
