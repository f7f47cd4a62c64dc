package tensorflow

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/carton-run/carton/dlopen"
)

// TF_TString (tensorflow/core/platform/ctstring_internal.h) is a 24-byte
// union whose low two bits of the first byte say which member is live. Its
// accessors are inline C, not exported symbols, so this file reads and
// writes the layout directly (little-endian, which every platform carton
// builds for is).
const (
	tstringSize   = 24
	tstringSmall  = 0 // uint8 size<<2, then up to 22 bytes inline
	tstringLarge  = 1 // size_t size<<2|1, size_t cap, char *ptr
	tstringOffset = 2 // uint32 size<<2|2, uint32 offset from the struct, uint32 count
	tstringView   = 3 // size_t size<<2|3, const char *ptr: borrowed bytes
)

// encodeViews fills dst (len(strs)*24 bytes) with VIEW TF_TStrings over
// buf, which holds the strings back to back and must stay alive and pinned
// while TensorFlow may read them. TensorFlow never frees a view's bytes.
func encodeViews(dst []byte, buf []byte, strs []string) {
	off := 0
	base := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	for i, s := range strs {
		e := dst[i*tstringSize : (i+1)*tstringSize]
		binary.LittleEndian.PutUint64(e[0:], uint64(len(s))<<2|tstringView)
		binary.LittleEndian.PutUint64(e[8:], uint64(base)+uint64(off))
		binary.LittleEndian.PutUint64(e[16:], 0)
		off += copy(buf[off:], s)
	}
}

// decodeTStrings copies n TF_TStrings starting at p (TensorFlow memory)
// into Go strings.
func decodeTStrings(p uintptr, n int) ([]string, error) {
	out := make([]string, n)
	if n == 0 {
		return out, nil
	}
	raw := unsafe.Slice((*byte)(dlopen.Pointer(p)), n*tstringSize)
	for i := range out {
		e := raw[i*tstringSize : (i+1)*tstringSize]
		var size uint64
		var data uintptr
		switch e[0] & 3 {
		case tstringSmall:
			size = uint64(e[0] >> 2)
			if size > tstringSize-2 {
				return nil, fmt.Errorf("%w: string %d: inline size %d is out of range", ErrTensorFlow, i, size)
			}
			out[i] = string(e[1 : 1+size])
			continue
		case tstringLarge, tstringView:
			size = binary.LittleEndian.Uint64(e[0:]) >> 2
			if tag := e[0] & 3; tag == tstringLarge {
				data = uintptr(binary.LittleEndian.Uint64(e[16:]))
			} else {
				data = uintptr(binary.LittleEndian.Uint64(e[8:]))
			}
		case tstringOffset:
			size = uint64(binary.LittleEndian.Uint32(e[0:]) >> 2)
			data = p + uintptr(i*tstringSize) + uintptr(binary.LittleEndian.Uint32(e[4:]))
		}
		if size == 0 {
			continue
		}
		if data == 0 {
			return nil, fmt.Errorf("%w: string %d: NULL data for %d bytes", ErrTensorFlow, i, size)
		}
		out[i] = string(unsafe.Slice((*byte)(dlopen.Pointer(data)), size))
	}
	return out, nil
}
