package tensor

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Tensor is an n-dimensional array. The zero value is invalid; make one with
// From, FromStrings, New or Foreign. Tensor is a small value that is cheap to
// copy; copies share the buffer (see the package documentation).
type Tensor struct {
	dtype   DType
	shape   Shape
	data    unsafe.Pointer // first element; nil when empty or String
	nbytes  int
	strs    []string
	foreign *foreignMemory // nil for Go memory
}

// foreignMemory is the release hook of memory that Go does not own: either
// release, or releaseHandle(handle), which lets a backend share one func
// across all its outputs instead of allocating a closure per tensor.
type foreignMemory struct {
	once          sync.Once
	released      atomic.Bool
	release       func()
	releaseHandle func(uintptr)
	handle        uintptr
	owner         Releaser
}

// Releaser is memory shared by several foreign tensors (one framework
// result holding many outputs); each tensor's Release calls its Release
// once, so an owner counts references.
type Releaser interface{ Release() }

func (f *foreignMemory) run() {
	f.once.Do(func() {
		f.released.Store(true)
		switch {
		case f.releaseHandle != nil:
			f.releaseHandle(f.handle)
		case f.owner != nil:
			f.owner.Release()
		case f.release != nil:
			f.release()
		}
	})
}

// Elem is the set of Go element types that map onto a numeric dtype.
type Elem interface {
	float32 | float64 | int8 | int16 | int32 | int64 |
		uint8 | uint16 | uint32 | uint64 | bool | F16 | BF16
}

// DTypeOf returns the dtype for the element type T.
func DTypeOf[T Elem]() DType {
	var z T
	switch any(z).(type) {
	case float32:
		return Float32
	case float64:
		return Float64
	case int8:
		return Int8
	case int16:
		return Int16
	case int32:
		return Int32
	case int64:
		return Int64
	case uint8:
		return Uint8
	case uint16:
		return Uint16
	case uint32:
		return Uint32
	case uint64:
		return Uint64
	case bool:
		return Bool
	case F16:
		return Float16
	case BF16:
		return BFloat16
	}
	panic("unreachable: Elem constraint covers every case")
}

// From wraps data as a tensor of the given shape without copying it.
// len(data) must equal the shape's element count.
func From[T Elem](shape Shape, data []T) (Tensor, error) {
	n, err := shape.NumElements()
	if err != nil {
		return Tensor{}, err
	}
	if n != len(data) {
		return Tensor{}, fmt.Errorf("%w: %d %s elements do not fill shape %v (%d elements)", ErrInvalid, len(data), DTypeOf[T](), shape, n)
	}
	t := Tensor{dtype: DTypeOf[T](), shape: shape.Clone()}
	if n > 0 {
		t.data = unsafe.Pointer(unsafe.SliceData(data))
		t.nbytes = n * t.dtype.Size()
	}
	return t, nil
}

// Scalar returns a 0-dimensional tensor holding v.
func Scalar[T Elem](v T) Tensor {
	t, _ := From(Shape{}, []T{v}) // a scalar always has one element
	return t
}

// FromStrings wraps data as a string tensor of the given shape without copying the slice.
func FromStrings(shape Shape, data []string) (Tensor, error) {
	n, err := shape.NumElements()
	if err != nil {
		return Tensor{}, err
	}
	if n != len(data) {
		return Tensor{}, fmt.Errorf("%w: %d strings do not fill shape %v (%d elements)", ErrInvalid, len(data), shape, n)
	}
	return Tensor{dtype: String, shape: shape.Clone(), strs: data}, nil
}

// New allocates a zeroed tensor in Go memory, aligned to Alignment bytes.
func New(dtype DType, shape Shape) (Tensor, error) {
	if !dtype.Valid() {
		return Tensor{}, fmt.Errorf("%w: invalid dtype %d", ErrInvalid, uint8(dtype))
	}
	n, err := shape.NumElements()
	if err != nil {
		return Tensor{}, err
	}
	if dtype == String {
		return Tensor{dtype: String, shape: shape.Clone(), strs: make([]string, n)}, nil
	}
	if n > (maxBytes-8*len(shape))/dtype.Size() {
		return Tensor{}, fmt.Errorf("%w: shape %v of %s is too large to allocate", ErrInvalid, shape, dtype)
	}
	// One allocation holds the shape, then the data at an aligned offset:
	// an output costs one allocation, not two.
	head := 8 * len(shape)
	raw := make([]byte, head+Alignment-1+n*dtype.Size())
	base := unsafe.Pointer(unsafe.SliceData(raw))
	t := Tensor{dtype: dtype, shape: Shape{}}
	if len(shape) > 0 {
		t.shape = unsafe.Slice((*int64)(base), len(shape)) // make's memory is 8-aligned
		copy(t.shape, shape)
	}
	if n > 0 {
		start := uintptr(base) + uintptr(head)
		off := int((Alignment-start%Alignment)%Alignment) + head
		t.data = unsafe.Pointer(&raw[off])
		t.nbytes = n * dtype.Size()
	}
	return t, nil
}

// FromBytes builds a tensor of a numeric dtype over raw little-endian bytes,
// without copying them.
func FromBytes(dtype DType, shape Shape, data []byte) (Tensor, error) {
	if err := checkBytes(dtype, shape, len(data)); err != nil {
		return Tensor{}, err
	}
	n := len(data) / max(dtype.Size(), 1)
	t := Tensor{dtype: dtype, shape: shape.Clone()}
	if n > 0 {
		t.data = unsafe.Pointer(unsafe.SliceData(data))
		t.nbytes = len(data)
	}
	return t, nil
}

// checkBytes validates a numeric dtype, a shape and a byte length together.
func checkBytes(dtype DType, shape Shape, nbytes int) error {
	if !dtype.Valid() || dtype == String {
		return fmt.Errorf("%w: needs a numeric dtype, not %s", ErrInvalid, dtype)
	}
	n, err := shape.NumElements()
	if err != nil {
		return err
	}
	if n > nbytes || n*dtype.Size() != nbytes {
		return fmt.Errorf("%w: %d bytes do not fill shape %v of %s (%d elements)", ErrInvalid, nbytes, shape, dtype, n)
	}
	return nil
}

// Foreign builds a numeric tensor over nbytes at ptr, memory owned outside Go
// (a framework's buffer). release, if not nil, runs once on the first Release
// of any copy of the tensor, or from a finalizer if nobody calls Release.
// For strings, which frameworks hand back as Go strings after a copy, use
// ForeignStrings.
func Foreign(dtype DType, shape Shape, ptr unsafe.Pointer, nbytes int, release func()) (Tensor, error) {
	t, err := FromBytes(dtype, shape, unsafe.Slice((*byte)(ptr), nbytes))
	if err != nil {
		return Tensor{}, err
	}
	t.foreign = &foreignMemory{release: release}
	runtime.SetFinalizer(t.foreign, (*foreignMemory).run)
	return t, nil
}

// ForeignHandle is Foreign with the release expressed as release(handle),
// typically a framework's free function and the object it frees; one
// release func can then serve every tensor without a closure each.
//
// The shape is copied into the same allocation as the release hook, so a
// framework output costs one allocation (for ranks up to 8).
func ForeignHandle(dtype DType, shape Shape, ptr unsafe.Pointer, nbytes int, release func(uintptr), handle uintptr) (Tensor, error) {
	return foreign(dtype, shape, ptr, nbytes, release, handle, nil)
}

// ForeignShared is Foreign for memory owned by owner, which several tensors
// may share: each tensor's first Release calls owner.Release once. The
// tensors set no finalizer of their own: the owner's creator gives the owner
// one, which runs once no tensor over it is reachable.
func ForeignShared(dtype DType, shape Shape, ptr unsafe.Pointer, nbytes int, owner Releaser) (Tensor, error) {
	return foreign(dtype, shape, ptr, nbytes, nil, 0, owner)
}

func foreign(dtype DType, shape Shape, ptr unsafe.Pointer, nbytes int, release func(uintptr), handle uintptr, owner Releaser) (Tensor, error) {
	if err := checkBytes(dtype, shape, nbytes); err != nil {
		return Tensor{}, err
	}
	block := &foreignBlock{}
	block.releaseHandle, block.handle, block.owner = release, handle, owner
	t := Tensor{dtype: dtype, foreign: &block.foreignMemory}
	if len(shape) <= len(block.dims) {
		t.shape = block.dims[:len(shape):len(shape)]
		copy(t.shape, shape)
	} else {
		t.shape = shape.Clone()
	}
	if nbytes > 0 {
		t.data, t.nbytes = ptr, nbytes
	}
	if owner == nil {
		// A shared owner is its own safety net: it outlives every tensor
		// over it, so one finalizer on it (set by its creator) covers them all.
		runtime.SetFinalizer(block, func(b *foreignBlock) { b.run() })
	}
	return t, nil
}

// foreignBlock holds a foreign tensor's release hook and (small) shape in
// one allocation.
type foreignBlock struct {
	foreignMemory
	dims [8]int64
}

// DType returns the element type.
func (t Tensor) DType() DType { return t.dtype }

// Shape returns the dimensions. The caller must not modify the returned slice.
func (t Tensor) Shape() Shape { return t.shape }

// Len returns the number of elements.
func (t Tensor) Len() int {
	if t.dtype == String {
		return len(t.strs)
	}
	if s := t.dtype.Size(); s > 0 {
		return t.nbytes / s
	}
	return 0
}

// Valid reports whether t was made by a constructor (and not released).
func (t Tensor) Valid() bool {
	return t.dtype.Valid() && (t.foreign == nil || !t.foreign.released.Load())
}

// IsForeign reports whether the buffer is owned outside Go.
func (t Tensor) IsForeign() bool { return t.foreign != nil }

// Pointer returns the address of the first element, or nil for an empty or
// string tensor. It is for backends that hand the buffer to a framework; such
// a backend must keep t reachable (and pinned, for Go memory) while in use.
func (t Tensor) Pointer() unsafe.Pointer { return t.data }

// ByteLen returns the size of the numeric buffer in bytes (0 for strings).
func (t Tensor) ByteLen() int { return t.nbytes }

// Bytes returns the raw little-endian buffer of a numeric tensor without
// copying it, or nil for a string tensor.
func (t Tensor) Bytes() []byte {
	if t.data == nil {
		return nil
	}
	return unsafe.Slice((*byte)(t.data), t.nbytes)
}

// Strings returns the elements of a string tensor without copying, or an error.
func (t Tensor) Strings() ([]string, error) {
	if t.dtype != String {
		return nil, fmt.Errorf("%w: Strings on a %s tensor", ErrInvalid, t.dtype)
	}
	return t.strs, nil
}

// View returns the elements of t as a []T that aliases its buffer. T must
// match the tensor's dtype.
func View[T Elem](t Tensor) ([]T, error) {
	if want := DTypeOf[T](); t.dtype != want {
		return nil, fmt.Errorf("%w: view of a %s tensor as %s", ErrInvalid, t.dtype, want)
	}
	if t.foreign != nil && t.foreign.released.Load() {
		return nil, fmt.Errorf("%w: view of a released tensor", ErrInvalid)
	}
	if t.data == nil {
		return []T{}, nil
	}
	return unsafe.Slice((*T)(t.data), t.Len()), nil
}

// MustView is View for code that has already checked the dtype; it panics on
// a mismatch, so never use it on a tensor whose dtype came from user input.
func MustView[T Elem](t Tensor) []T {
	v, err := View[T](t)
	if err != nil {
		panic(err)
	}
	return v
}

// Release returns foreign memory to its owner. It is a no-op for Go memory
// and safe to call more than once, from any copy of the tensor.
func (t Tensor) Release() {
	if t.foreign != nil {
		t.foreign.run()
		runtime.SetFinalizer(t.foreign, nil)
	}
}

// Clone returns a deep copy of t in aligned Go memory.
func (t Tensor) Clone() (Tensor, error) {
	if !t.Valid() {
		return Tensor{}, fmt.Errorf("%w: clone of an invalid or released tensor", ErrInvalid)
	}
	if t.dtype == String {
		return FromStrings(t.shape, append([]string(nil), t.strs...))
	}
	c, err := New(t.dtype, t.shape)
	if err != nil {
		return Tensor{}, err
	}
	copy(c.Bytes(), t.Bytes())
	return c, nil
}

// String summarises t (dtype and shape) for logs and errors.
func (t Tensor) String() string {
	return fmt.Sprintf("%s%v", t.dtype, t.shape)
}
