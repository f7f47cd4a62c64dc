package python

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/carton-run/carton/dlopen"
	"github.com/carton-run/carton/tensor"
)

// numpy's C API, as far as the direct infer path needs it: PyArray_Type,
// PyArray_New, and the public layout of an array and of its dtype (the
// fields numpy's own PyArray_DATA, PyArray_NDIM, ... macros read). The
// slot numbers and the layout are numpy's ABI, unchanged from 1.x to 2.x;
// the layout is checked on a real array before it is trusted, and where
// the check fails every call takes the bridge's slower, layout-free path.
const (
	apiArrayType = 2  // PyArray_Type
	apiNew       = 93 // PyArray_New

	offData   = 16 // PyArrayObject_fields.data (after PyObject_HEAD)
	offNDim   = 24 // .nd
	offDims   = 32 // .dimensions
	offDescr  = 56 // .descr
	offFlags  = 64 // .flags
	offOrder  = 26 // PyArray_Descr.byteorder
	offTypeNo = 28 // PyArray_Descr.type_num
	offType   = 8  // PyObject.ob_type

	npyCContiguous = 0x0001
	npyAligned     = 0x0100
	npyWriteable   = 0x0400
	npyCArray      = npyCContiguous | npyAligned | npyWriteable
)

// numpyState: 0 untried (numpy not importable yet), 1 usable, 2 the layout
// check failed (the bridge's path only).
type numpyState struct {
	state          atomic.Int32
	mu             sync.Mutex // taken under the GIL, for the race detector's sake: it cannot see the GIL
	arrayType, new uintptr
}

// npyType maps carton's numeric dtypes onto numpy's type numbers; -1
// where numpy has no type (BFloat16) or for String. Int64 is NPY_LONG,
// numpy's int64 where C's long has 64 bits (Linux, macOS: the platforms
// this runner loads libpython on).
var npyType = [...]int{
	tensor.Bool: 0, tensor.Int8: 1, tensor.Uint8: 2, tensor.Int16: 3, tensor.Uint16: 4,
	tensor.Int32: 5, tensor.Uint32: 6, tensor.Int64: 7, tensor.Uint64: 8,
	tensor.Float32: 11, tensor.Float64: 12, tensor.Float16: 23,
	tensor.String: -1, tensor.BFloat16: -1, tensor.Invalid: -1,
}

// dtypeByNpy is npyType's inverse (Invalid where carton has none), with
// NPY_LONGLONG (9) and NPY_ULONGLONG (10) also 64-bit, as NPY_LONG and
// NPY_ULONG are where C's long is (Linux, macOS).
var dtypeByNpy = func() (inv [24]tensor.DType) {
	for dt, num := range npyType {
		if num >= 0 {
			inv[num] = tensor.DType(dt)
		}
	}
	inv[9], inv[10] = tensor.Int64, tensor.Uint64
	return inv
}()

func dtypeOfNpy(n int32) (tensor.DType, bool) {
	if n < 0 || int(n) >= len(dtypeByNpy) {
		return tensor.Invalid, false
	}
	return dtypeByNpy[n], dtypeByNpy[n] != tensor.Invalid
}

func peek[T any](p uintptr, off uintptr) T { return *(*T)(dlopen.Pointer(p + off)) }

// numpyAPI is numpy's API once numpy imports, checked; false sends the
// call through the bridge. The GIL is held.
func (it *interp) numpyAPI(c *pyCall) bool {
	switch it.numpy.state.Load() {
	case 1:
		return true
	case 2:
		return false
	}
	it.numpy.mu.Lock()
	defer it.numpy.mu.Unlock()
	if st := it.numpy.state.Load(); st != 0 {
		return st == 1
	}
	capsule := it.invoke(c, it.bridge["array_api"])
	if capsule == 0 {
		c.Call(it.fn.errClear)
		return false
	}
	defer c.Call(it.fn.decRef, capsule)
	name := c.Call(it.fn.capsuleGetName, capsule)
	table := c.Call(it.fn.capsuleGetPointer, capsule, name)
	if table == 0 { // None, or no capsule
		c.Call(it.fn.errClear)
		return false
	}
	api := dlopen.Table(table)
	it.numpy.arrayType, it.numpy.new = api.Fn(apiArrayType), api.Fn(apiNew)
	if it.layoutHolds(c) {
		it.numpy.state.Store(1)
		return true
	}
	it.numpy.state.Store(2)
	return false
}

// layoutHolds makes a 2×3 float32 array over Go memory and reads it back
// through the offsets above.
func (it *interp) layoutHolds(c *pyCall) bool {
	buf, dims := dlopen.New[[6]float32](), dlopen.New[[2]int64]() // on the heap: C gets their addresses
	dims[0], dims[1] = 2, 3
	a := c.Call(it.numpy.new, it.numpy.arrayType, 2, uintptr(unsafe.Pointer(&dims[0])), 11, 0,
		uintptr(unsafe.Pointer(&buf[0])), 0, npyCArray, 0)
	if a == 0 {
		c.Call(it.fn.errClear)
		return false
	}
	defer c.Call(it.fn.decRef, a)
	defer runtime.KeepAlive(buf)
	var info arrayInfo
	ok := it.arrayOf(a, &info)
	shape := info.shape()
	return ok && info.dtype == tensor.Float32 && info.data == uintptr(unsafe.Pointer(&buf[0])) &&
		len(shape) == 2 && shape[0] == 2 && shape[1] == 3
}

// arrayInfo is an ndarray as Go takes it; a shape of up to 8 dimensions
// is held inline (no allocation per output).
type arrayInfo struct {
	data  uintptr
	dtype tensor.DType
	nd    int
	dims  [8]int64
	big   tensor.Shape // more than 8 dimensions
}

func (a *arrayInfo) shape() tensor.Shape {
	if a.big != nil {
		return a.big
	}
	return a.dims[:a.nd:a.nd]
}

// arrayOf reads a into info, if it is exactly an ndarray (no subclass)
// that is C-contiguous, aligned, in native byte order and of a carton
// dtype.
func (it *interp) arrayOf(a uintptr, info *arrayInfo) bool {
	if peek[uintptr](a, offType) != it.numpy.arrayType {
		return false
	}
	const need = npyCContiguous | npyAligned
	if peek[int32](a, offFlags)&need != need {
		return false
	}
	descr := peek[uintptr](a, offDescr)
	if peek[byte](descr, offOrder) == '>' {
		return false
	}
	dt, ok := dtypeOfNpy(peek[int32](descr, offTypeNo))
	if !ok {
		return false
	}
	nd := peek[int32](a, offNDim)
	if nd < 0 || nd > 64 {
		return false
	}
	info.data, info.dtype, info.nd, info.big = peek[uintptr](a, offData), dt, int(nd), nil
	if nd > 0 {
		dims := unsafe.Slice((*int64)(dlopen.Pointer(peek[uintptr](a, offDims))), nd)
		if nd <= int32(len(info.dims)) {
			copy(info.dims[:], dims)
		} else {
			info.big = append(tensor.Shape(nil), dims...)
		}
	}
	return true
}
