package tensorflow

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ebitengine/purego"
)

// countingDeallocator is a TF_NewTensor deallocator that counts its calls
// in deallocations.
func countingDeallocator() uintptr {
	countingOnce.Do(func() {
		countingFn = purego.NewCallback(func(data, n, arg uintptr) { deallocations.Add(1) })
	})
	return countingFn
}

var (
	countingOnce  sync.Once
	countingFn    uintptr
	deallocations atomic.Uint64
)

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
func putU64(b []byte, v uint64)  { binary.LittleEndian.PutUint64(b, v) }
func putU32(b []byte, v uint32)  { binary.LittleEndian.PutUint32(b, v) }

func uintptrOfShape(s []int64) uintptr  { return uintptr(unsafe.Pointer(unsafe.SliceData(s))) }
func uintptrOfOps(o []tfOutput) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(o))) }
func uintptrOfVals(v []uintptr) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(v))) }
