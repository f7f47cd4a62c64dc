package tensor

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Shape is a tensor's dimensions, outermost first. An empty Shape is a
// scalar (one element); a zero dimension makes an empty tensor.
type Shape []int64

// NumElements returns the product of the dimensions, or an error wrapping
// ErrInvalid for a negative dimension or a product that overflows int.
func (s Shape) NumElements() (int, error) {
	n := uint64(1)
	for i, d := range s {
		if d < 0 {
			return 0, fmt.Errorf("%w: dimension %d of shape %v is negative", ErrInvalid, i, s)
		}
		// A widening multiply, not a division, checks for overflow: this
		// runs for every output of every Infer.
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt {
			return 0, fmt.Errorf("%w: shape %v has too many elements", ErrInvalid, s)
		}
		n = lo
	}
	return int(n), nil
}

// Equal reports whether s and o have the same dimensions.
func (s Shape) Equal(o Shape) bool {
	if len(s) != len(o) {
		return false
	}
	for i := range s {
		if s[i] != o[i] {
			return false
		}
	}
	return true
}

// Clone returns a copy of s that shares no memory with it.
func (s Shape) Clone() Shape {
	if s == nil {
		return Shape{}
	}
	return append(Shape(make([]int64, 0, len(s))), s...)
}

// String formats s like [2 3 4]; a scalar is [].
func (s Shape) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatInt(d, 10))
	}
	b.WriteByte(']')
	return b.String()
}
