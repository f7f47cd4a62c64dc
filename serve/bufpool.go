package serve

import (
	"math/bits"
	"sync"
)

// Large request buffers are recycled: a fresh one per request is cleared
// by the allocator first (as long as the copy into it) and, at hundreds
// of megabytes a second, keeps the garbage collector running.

const (
	minPooledClass = 16 // buffers over 32 KiB, in 64 KiB ones: smaller ones are cheap to make
	maxPooledClass = 30 // 1 GiB
)

// bufferClasses holds *[]byte of capacity 1<<class, by class.
var bufferClasses [maxPooledClass + 1]sync.Pool

// getBuffer is a buffer of length n, from the pool when n is large; its
// bytes are not cleared. Give it back with putBuffer once nothing reads it.
func getBuffer(n int) *[]byte {
	class := bits.Len(uint(n - 1))
	if n <= 0 || class < minPooledClass || class > maxPooledClass {
		b := make([]byte, n)
		return &b
	}
	if b, ok := bufferClasses[class].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<class)
	return &b
}

// putBuffer gives b, from getBuffer, back to the pool.
func putBuffer(b *[]byte) {
	c := cap(*b)
	class := bits.Len(uint(c - 1))
	if c == 0 || c != 1<<class || class < minPooledClass || class > maxPooledClass {
		return
	}
	*b = (*b)[:0]
	bufferClasses[class].Put(b)
}
