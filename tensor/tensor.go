package tensor

import (
	"fmt"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Tensor is an n-dimensional array. The zero value is invalid; make one with
// From, FromStrings, New or Foreign. Tensor is a small value that is cheap to
// copy; copies share the buffer (see the package documentation).
//
// The struct is kept small (40 bytes) because outputs travel in maps, whose
// groups hold eight slots of key and value each: every byte here is eight
// bytes allocated per Infer. So the shape is a pointer and a length, and
// strings share the data fields.
type Tensor struct {
	dtype DType
	ndim  int32
	dims  *int64 // the shape's first dimension; nil for a scalar
	// data is the first element: of the numeric buffer, or of the []string
	// backing array for String; nil when empty.
	data unsafe.Pointer
	// nbytes is the buffer's size in bytes; for String, the element count.
	nbytes  int
	foreign *foreignMemory // nil for Go memory
}

// setShape points t's shape at s, which t then owns.
func (t *Tensor) setShape(s Shape) {
	t.ndim, t.dims = int32(len(s)), nil
	if len(s) > 0 {
		t.dims = unsafe.SliceData(s)
	}
}

// withStrings sets a String tensor's elements.
func (t *Tensor) withStrings(strs []string) {
	t.data, t.nbytes = nil, len(strs)
	if len(strs) > 0 {
		t.data = unsafe.Pointer(unsafe.SliceData(strs))
	}
}

// strs returns a String tensor's elements (nil when empty).
func (t Tensor) strs() []string {
	if t.data == nil {
		return nil
	}
	return unsafe.Slice((*string)(t.data), t.nbytes)
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
	t := Tensor{dtype: DTypeOf[T]()}
	t.setShape(shape.Clone())
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
	t := Tensor{dtype: String}
	t.setShape(shape.Clone())
	t.withStrings(data)
	return t, nil
}

// New allocates a zeroed tensor in Go memory, aligned to Alignment bytes.
// The shape and the data share one allocation.
func New(dtype DType, shape Shape) (Tensor, error) {
	if dtype == String {
		n, err := shape.NumElements()
		if err != nil {
			return Tensor{}, err
		}
		if uint64(n) > uint64(maxBytes)/uint64(unsafe.Sizeof("")) {
			return Tensor{}, fmt.Errorf("%w: shape %v of string is too large to allocate", ErrInvalid, shape)
		}
		t := Tensor{dtype: String}
		t.setShape(shape.Clone())
		t.withStrings(make([]string, n))
		return t, nil
	}
	size, err := BlockSize(dtype, shape)
	if err != nil {
		return Tensor{}, err
	}
	t, _, err := Carve(make([]byte, size), dtype, shape)
	return t, err
}

// BlockSize returns how many bytes of a block Carve takes for a numeric
// tensor of dtype and shape: its shape, then its data at an aligned offset.
// A backend that copies several outputs sums their sizes, makes one []byte
// and carves them all from it: one allocation per call, not one per output.
func BlockSize(dtype DType, shape Shape) (int, error) {
	size, _, err := blockLayout(dtype, shape)
	return size, err
}

// blockLayout is BlockSize and the element count.
func blockLayout(dtype DType, shape Shape) (size, n int, err error) {
	if !dtype.Valid() || dtype == String {
		return 0, 0, fmt.Errorf("%w: needs a numeric dtype, not %s", ErrInvalid, dtype)
	}
	if n, err = shape.NumElements(); err != nil {
		return 0, 0, err
	}
	if hi, lo := bits.Mul64(uint64(n), uint64(dtype.Size())); hi != 0 || lo > uint64(maxBytes-8*len(shape)) {
		return 0, 0, fmt.Errorf("%w: shape %v of %s is too large to allocate", ErrInvalid, shape, dtype)
	}
	size = 8 * len(shape)
	if n > 0 {
		size += Alignment - 1 + n*dtype.Size()
	}
	return (size + 7) &^ 7, n, nil // the next tensor's shape starts 8-aligned
}

// Carve makes a tensor of dtype and shape at the start of block, which
// must come from make (8-byte aligned) or from an earlier Carve, and
// returns the rest of block. The tensor's data is Alignment-aligned and
// holds what block held there (zeros, for a fresh make): the caller fills
// it. The tensors carved from one block keep all of it alive while any of
// them is reachable.
func Carve(block []byte, dtype DType, shape Shape) (Tensor, []byte, error) {
	size, n, err := blockLayout(dtype, shape)
	if err != nil {
		return Tensor{}, block, err
	}
	if len(block) < size {
		return Tensor{}, block, fmt.Errorf("%w: %d bytes left in the block, %s %v needs %d", ErrInvalid, len(block), dtype, shape, size)
	}
	base := unsafe.Pointer(unsafe.SliceData(block))
	if uintptr(base)%8 != 0 {
		return Tensor{}, block, fmt.Errorf("%w: block is not 8-byte aligned", ErrInvalid)
	}
	head := 8 * len(shape)
	t := Tensor{dtype: dtype}
	if len(shape) > 0 {
		dims := unsafe.Slice((*int64)(base), len(shape))
		copy(dims, shape)
		t.setShape(dims)
	}
	if n > 0 {
		start := uintptr(base) + uintptr(head)
		off := int((Alignment-start%Alignment)%Alignment) + head
		t.nbytes = n * dtype.Size()
		t.data = unsafe.Pointer(&block[off])
	}
	return t, block[size:], nil
}

// FromBytes builds a tensor of a numeric dtype over raw little-endian bytes,
// without copying them.
func FromBytes(dtype DType, shape Shape, data []byte) (Tensor, error) {
	if err := checkBytes(dtype, shape, len(data)); err != nil {
		return Tensor{}, err
	}
	n := len(data) / max(dtype.Size(), 1)
	t := Tensor{dtype: dtype}
	t.setShape(shape.Clone())
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
	t, err := foreign(dtype, shape, ptr, nbytes, nil, 0, nil)
	if err != nil {
		return Tensor{}, err
	}
	t.foreign.release = release // before anyone can release it
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
	if err := checkForeign(ptr, nbytes); err != nil {
		return Tensor{}, err
	}
	if err := checkBytes(dtype, shape, nbytes); err != nil {
		return Tensor{}, err
	}
	block := &foreignBlock{}
	block.releaseHandle, block.handle, block.owner = release, handle, owner
	t := Tensor{dtype: dtype, foreign: &block.foreignMemory}
	if len(shape) <= len(block.dims) {
		copy(block.dims[:], shape)
		t.setShape(block.dims[:len(shape):len(shape)])
	} else {
		t.setShape(shape.Clone())
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

// checkForeign refuses memory that cannot hold nbytes: a nil pointer
// with a size (a framework would read whatever lies at address 0 and
// beyond), a negative size, or a range that wraps the address space.
func checkForeign(ptr unsafe.Pointer, nbytes int) error {
	switch {
	case nbytes < 0:
		return fmt.Errorf("%w: foreign memory of %d bytes", ErrInvalid, nbytes)
	case ptr == nil && nbytes > 0:
		return fmt.Errorf("%w: foreign memory of %d bytes at a nil pointer", ErrInvalid, nbytes)
	case uintptr(ptr)+uintptr(nbytes) < uintptr(ptr):
		return fmt.Errorf("%w: foreign memory of %d bytes at %p runs past the end of the address space", ErrInvalid, nbytes, ptr)
	}
	return nil
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
func (t Tensor) Shape() Shape {
	if t.dims == nil {
		if t.dtype == 0 {
			return nil // the zero Tensor
		}
		return Shape{} // a scalar; a zero-length slice allocates nothing
	}
	return unsafe.Slice(t.dims, t.ndim)
}

// Len returns the number of elements.
func (t Tensor) Len() int {
	if t.dtype == String {
		return t.nbytes
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
func (t Tensor) Pointer() unsafe.Pointer {
	if t.dtype == String {
		return nil
	}
	return t.data
}

// ByteLen returns the size of the numeric buffer in bytes (0 for strings).
func (t Tensor) ByteLen() int {
	if t.dtype == String {
		return 0
	}
	return t.nbytes
}

// Bytes returns the raw little-endian buffer of a numeric tensor without
// copying it, or nil for a string tensor.
func (t Tensor) Bytes() []byte {
	if t.data == nil || t.dtype == String {
		return nil
	}
	return unsafe.Slice((*byte)(t.data), t.nbytes)
}

// Strings returns the elements of a string tensor without copying, or an error.
func (t Tensor) Strings() ([]string, error) {
	if t.dtype != String {
		return nil, fmt.Errorf("%w: Strings on a %s tensor", ErrInvalid, t.dtype)
	}
	return t.strs(), nil
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
		return FromStrings(t.Shape(), append([]string(nil), t.strs()...))
	}
	c, err := New(t.dtype, t.Shape())
	if err != nil {
		return Tensor{}, err
	}
	copy(c.Bytes(), t.Bytes())
	return c, nil
}

// String summarises t (dtype and shape) for logs and errors.
func (t Tensor) String() string {
	return fmt.Sprintf("%s%v", t.dtype, t.Shape())
}
