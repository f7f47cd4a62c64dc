package serve

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/carton-run/carton/tensor"
)

// Triton's binary tensor data extension: after a JSON header of
// Inference-Header-Content-Length bytes, the body holds the data of each
// tensor whose parameters give binary_data_size, in order. Numeric
// tensors are their elements' little-endian bytes; BOOL one byte each;
// BYTES each element as a 4-byte little-endian length and its bytes.

// headerLength is the HTTP header naming the JSON part's length.
const headerLength = "Inference-Header-Content-Length"

// fromBinary makes a tensor of dt and shape over data, without a copy when
// data is aligned for dt (else one copy into aligned memory).
func fromBinary(dt tensor.DType, shape tensor.Shape, data []byte) (tensor.Tensor, error) {
	n, err := shape.NumElements()
	if err != nil {
		return tensor.Tensor{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if dt == tensor.String {
		return bytesElements(shape, n, data)
	}
	if want := n * dt.Size(); len(data) != want {
		return tensor.Tensor{}, fmt.Errorf("%w: %d bytes of binary data for %d %s elements (%d bytes)", ErrBadRequest, len(data), n, Datatype(dt), want)
	}
	if dt == tensor.Bool {
		for i, b := range data {
			if b > 1 {
				return tensor.Tensor{}, fmt.Errorf("%w: BOOL element %d is %d, not 0 or 1", ErrBadRequest, i, b)
			}
		}
	}
	if len(data) > 0 && uintptr(unsafe.Pointer(&data[0]))%uintptr(dt.Size()) != 0 {
		t, err := tensor.New(dt, shape)
		if err != nil {
			return tensor.Tensor{}, err
		}
		copy(t.Bytes(), data)
		return t, nil
	}
	return tensor.FromBytes(dt, shape, data)
}

// bytesElements reads n length-prefixed BYTES elements.
func bytesElements(shape tensor.Shape, n int, data []byte) (tensor.Tensor, error) {
	strs := make([]string, 0, min(n, len(data)/4))
	for len(data) > 0 {
		if len(data) < 4 {
			return tensor.Tensor{}, fmt.Errorf("%w: BYTES element %d: %d bytes left, want a 4-byte length", ErrBadRequest, len(strs), len(data))
		}
		l := binary.LittleEndian.Uint32(data)
		if uint64(l) > uint64(len(data)-4) {
			return tensor.Tensor{}, fmt.Errorf("%w: BYTES element %d claims %d bytes, %d are left", ErrBadRequest, len(strs), l, len(data)-4)
		}
		strs = append(strs, string(data[4:4+l]))
		data = data[4+l:]
	}
	if len(strs) != n {
		return tensor.Tensor{}, fmt.Errorf("%w: %d BYTES elements for shape %v (%d elements)", ErrBadRequest, len(strs), shape, n)
	}
	return tensor.FromStrings(shape, strs)
}

// binarySize is how many bytes appendBinary writes for t.
func binarySize(t tensor.Tensor) int {
	if strs, err := t.Strings(); err == nil {
		n := 0
		for _, s := range strs {
			n += 4 + len(s)
		}
		return n
	}
	return t.ByteLen()
}

// appendBinary appends t's binary data to b.
func appendBinary(b []byte, t tensor.Tensor) []byte {
	if strs, err := t.Strings(); err == nil {
		for _, s := range strs {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
			b = append(b, s...)
		}
		return b
	}
	return append(b, t.Bytes()...)
}
