package tensor

import (
	"math"
	"unsafe"
)

// Alignment is the byte alignment of buffers from New and Aligned.
const Alignment = 64

const maxBytes = math.MaxInt - Alignment

// alignedBytes returns n zeroed bytes whose first byte is Alignment-aligned.
// The slice points into a larger allocation; the garbage collector keeps the
// whole allocation alive through the interior pointer.
func alignedBytes(n int) []byte {
	raw := make([]byte, n+Alignment-1)
	off := int((Alignment - uintptr(unsafe.Pointer(unsafe.SliceData(raw)))%Alignment) % Alignment)
	return raw[off : off+n : off+n]
}

// Aligned returns a zeroed []T of length n aligned to Alignment bytes, for
// callers that fill a buffer and then wrap it with From.
func Aligned[T Elem](n int) []T {
	if n <= 0 {
		return []T{}
	}
	var z T
	b := alignedBytes(n * int(unsafe.Sizeof(z)))
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// IsAligned reports whether the numeric buffer of t starts on an align-byte
// boundary. Empty and string tensors report true.
func (t Tensor) IsAligned(align uintptr) bool {
	return t.data == nil || t.dtype == String || uintptr(t.data)%align == 0
}
