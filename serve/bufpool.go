package serve

import (
	"math/bits"
	"sync"
)

// Large request buffers are recycled: a fresh one per request is cleared
// by the allocator first (as long as the copy into it) and, at hundreds
// of megabytes a second, keeps the garbage collector running. grpc-go's
// mem.DefaultBufferPool would clear them too, on every Get.

const (
	minPooledClass = 16 // buffers over 32 KiB, in 64 KiB ones: smaller ones are cheap to make
	maxPooledClass = 30 // 1 GiB
)

// bufferClasses holds *[]byte of capacity 1<<class, by class.
var bufferClasses [maxPooledClass + 1]sync.Pool

// getBuffer is a buffer of length n. A large one comes from the pool, its
// bytes not cleared, and pooled is what putBuffer gives back once nothing
// reads it; a small one is made, and pooled is nil.
func getBuffer(n int) (buf []byte, pooled *[]byte) {
	class := bits.Len(uint(n - 1))
	if n <= 0 || class < minPooledClass || class > maxPooledClass {
		return make([]byte, n), nil
	}
	b, ok := bufferClasses[class].Get().(*[]byte)
	if !ok {
		s := make([]byte, 0, 1<<class)
		b = &s
	}
	*b = (*b)[:n]
	return *b, b
}

// putBuffer gives pooled, from getBuffer, back to the pool (nil: nothing).
func putBuffer(pooled *[]byte) {
	if pooled == nil {
		return
	}
	c := cap(*pooled)
	class := bits.Len(uint(c - 1))
	if c == 0 || c != 1<<class || class < minPooledClass || class > maxPooledClass {
		return
	}
	*pooled = (*pooled)[:0]
	bufferClasses[class].Put(pooled)
}
