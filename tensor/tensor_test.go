package tensor_test

import (
	"errors"
	"math"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/tensor"
)

func TestFromIsZeroCopy(t *testing.T) {
	data := []float32{1, 2, 3, 4, 5, 6}
	tt, err := tensor.From(tensor.Shape{2, 3}, data)
	require.NoError(t, err)
	assert.Equal(t, tensor.Float32, tt.DType())
	assert.Equal(t, tensor.Shape{2, 3}, tt.Shape())
	assert.Equal(t, unsafe.Pointer(&data[0]), tt.Pointer())

	view := tensor.MustView[float32](tt)
	data[4] = 42
	assert.Equal(t, float32(42), view[4], "view must alias the caller's slice")
	assert.Equal(t, 24, tt.ByteLen())
}

func TestFromLengthMismatch(t *testing.T) {
	_, err := tensor.From(tensor.Shape{2, 3}, []int64{1, 2, 3})
	require.ErrorIs(t, err, tensor.ErrInvalid)
	assert.Contains(t, err.Error(), "3 int64 elements do not fill shape [2 3] (6 elements)")

	_, err = tensor.From(tensor.Shape{-1}, []int64{})
	require.ErrorIs(t, err, tensor.ErrInvalid)

	_, err = tensor.From(tensor.Shape{math.MaxInt64, 4}, []int64{})
	require.ErrorIs(t, err, tensor.ErrInvalid)

	_, err = tensor.FromStrings(tensor.Shape{2}, []string{"a"})
	require.ErrorIs(t, err, tensor.ErrInvalid)
}

func TestScalarAndZeroSize(t *testing.T) {
	s := tensor.Scalar(int32(7))
	assert.Equal(t, tensor.Shape{}, s.Shape())
	assert.Equal(t, 1, s.Len())
	assert.Equal(t, []int32{7}, tensor.MustView[int32](s))

	z, err := tensor.From(tensor.Shape{3, 0, 2}, []float64{})
	require.NoError(t, err)
	assert.Equal(t, 0, z.Len())
	assert.Nil(t, z.Pointer())
	v, err := tensor.View[float64](z)
	require.NoError(t, err)
	assert.Empty(t, v)

	n, err := tensor.New(tensor.Uint16, tensor.Shape{0})
	require.NoError(t, err)
	assert.Equal(t, 0, n.Len())
}

func TestViewDTypeMismatch(t *testing.T) {
	tt := tensor.Scalar(float64(1))
	_, err := tensor.View[float32](tt)
	require.ErrorIs(t, err, tensor.ErrInvalid)
	_, err = tt.Strings()
	require.ErrorIs(t, err, tensor.ErrInvalid)
}

func TestNewIsAlignedAndZeroed(t *testing.T) {
	for _, d := range tensor.DTypes() {
		for _, n := range []int64{1, 3, 17, 1000} {
			tt, err := tensor.New(d, tensor.Shape{n})
			require.NoError(t, err)
			assert.True(t, tt.IsAligned(tensor.Alignment), "%s[%d]", d, n)
			assert.Equal(t, int(n), tt.Len())
			for _, b := range tt.Bytes() {
				require.Zero(t, b)
			}
		}
	}
	buf := tensor.Aligned[float32](5)
	assert.Len(t, buf, 5)
	assert.Zero(t, uintptr(unsafe.Pointer(&buf[0]))%tensor.Alignment)
	_, err := tensor.New(tensor.Invalid, tensor.Shape{1})
	require.ErrorIs(t, err, tensor.ErrInvalid)
}

func TestStrings(t *testing.T) {
	tt, err := tensor.FromStrings(tensor.Shape{2, 1}, []string{"a", "βγ"})
	require.NoError(t, err)
	s, err := tt.Strings()
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "βγ"}, s)
	assert.Nil(t, tt.Bytes())
	_, err = tensor.View[uint8](tt)
	require.ErrorIs(t, err, tensor.ErrInvalid)
}

func TestForeignReleaseRunsOnce(t *testing.T) {
	backing := make([]byte, 8)
	calls := 0
	tt, err := tensor.Foreign(tensor.Int32, tensor.Shape{2}, unsafe.Pointer(&backing[0]), 8, func() { calls++ })
	require.NoError(t, err)
	assert.True(t, tt.IsForeign())
	cp := tt
	tt.Release()
	cp.Release()
	assert.Equal(t, 1, calls)
	assert.False(t, cp.Valid())
	_, err = tensor.View[int32](cp)
	require.ErrorIs(t, err, tensor.ErrInvalid)

	_, err = tensor.Foreign(tensor.Int32, tensor.Shape{3}, unsafe.Pointer(&backing[0]), 8, nil)
	require.ErrorIs(t, err, tensor.ErrInvalid)
}

func TestParseDType(t *testing.T) {
	for _, d := range tensor.DTypes() {
		got, err := tensor.ParseDType(d.String())
		require.NoError(t, err)
		assert.Equal(t, d, got)
	}
	_, err := tensor.ParseDType("complex64")
	require.ErrorIs(t, err, tensor.ErrInvalid)
	assert.Equal(t, 2, tensor.Float16.Size())
	assert.Equal(t, 0, tensor.String.Size())
}

func TestHalfConversions(t *testing.T) {
	cases := []struct {
		f    float32
		bits uint16
	}{
		{0, 0}, {1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {float32(math.Inf(1)), 0x7c00},
		{5.960464477539063e-08, 0x0001}, {6.103515625e-05, 0x0400}, {0.333251953125, 0x3555},
	}
	for _, c := range cases {
		assert.Equal(t, tensor.F16(c.bits), tensor.NewF16(c.f), "%g", c.f)
		assert.Equal(t, c.f, tensor.F16(c.bits).Float32(), "%#04x", c.bits)
	}
	assert.True(t, math.IsNaN(float64(tensor.NewF16(float32(math.NaN())).Float32())))
	assert.Equal(t, tensor.F16(0x7c00), tensor.NewF16(1e6), "overflow rounds to +inf")
	// every finite half round-trips through float32
	for b := 0; b < 0x10000; b++ {
		h := tensor.F16(b)
		f := h.Float32()
		if math.IsNaN(float64(f)) {
			continue
		}
		require.Equal(t, h, tensor.NewF16(f), "%#04x", b)
	}
	assert.Equal(t, float32(1), tensor.NewBF16(1).Float32())
	assert.Equal(t, tensor.BF16(0x3f80), tensor.NewBF16(1.00390625), "ties round to even")
	assert.Equal(t, float32(-3.140625), tensor.NewBF16(-3.14159).Float32())
}

func TestCompare(t *testing.T) {
	a, _ := tensor.From(tensor.Shape{3}, []float32{1, 2, float32(math.NaN())})
	b, _ := tensor.From(tensor.Shape{3}, []float32{1, 2.00001, float32(math.NaN())})
	assert.Nil(t, tensor.Compare(a, b, tensor.DefaultTolerance))
	c, _ := tensor.From(tensor.Shape{3}, []float32{1, 2.1, float32(math.NaN())})
	m := tensor.Compare(a, c, tensor.DefaultTolerance)
	require.NotNil(t, m)
	assert.Equal(t, 1, m.Index)

	i1, _ := tensor.From(tensor.Shape{2}, []int64{1, 2})
	i2, _ := tensor.From(tensor.Shape{1, 2}, []int64{1, 2})
	assert.NotNil(t, tensor.Compare(i1, i2, tensor.DefaultTolerance), "shape differs")
	i3, _ := tensor.From(tensor.Shape{2}, []int64{1, 3})
	assert.Equal(t, 1, tensor.Compare(i1, i3, tensor.DefaultTolerance).Index)
	assert.NotNil(t, tensor.Compare(i1, a, tensor.DefaultTolerance), "dtype differs")

	s1, _ := tensor.FromStrings(tensor.Shape{1}, []string{"x"})
	s2, _ := tensor.FromStrings(tensor.Shape{1}, []string{"y"})
	assert.NotNil(t, tensor.Compare(s1, s2, tensor.DefaultTolerance))
	assert.Nil(t, tensor.Compare(s1, s1, tensor.DefaultTolerance))
}

func TestClone(t *testing.T) {
	src := []uint8{1, 2, 3}
	a, _ := tensor.From(tensor.Shape{3}, src)
	c, err := a.Clone()
	require.NoError(t, err)
	src[0] = 9
	assert.Equal(t, []uint8{1, 2, 3}, tensor.MustView[uint8](c))
	assert.True(t, errors.Is(func() error { _, e := tensor.Tensor{}.Clone(); return e }(), tensor.ErrInvalid))
}

func TestCarveSeveralTensorsFromOneBlock(t *testing.T) {
	shapes := []tensor.Shape{{2, 3}, {}, {0, 4}, {5}}
	dtypes := []tensor.DType{tensor.Float32, tensor.Int64, tensor.Float64, tensor.Uint8}
	size := 0
	for i := range shapes {
		n, err := tensor.BlockSize(dtypes[i], shapes[i])
		require.NoError(t, err)
		size += n
	}
	block := make([]byte, size)
	var got []tensor.Tensor
	for i := range shapes {
		var x tensor.Tensor
		var err error
		x, block, err = tensor.Carve(block, dtypes[i], shapes[i])
		require.NoError(t, err)
		got = append(got, x)
	}
	assert.Empty(t, block, "tensor.BlockSize and tensor.Carve agree on sizes")
	for i, x := range got {
		assert.Equal(t, shapes[i], x.Shape())
		assert.Equal(t, dtypes[i], x.DType())
		assert.True(t, x.IsAligned(tensor.Alignment))
		n, _ := shapes[i].NumElements()
		assert.Equal(t, n*dtypes[i].Size(), x.ByteLen())
	}
	// Writing one tensor leaves the others (and their shapes) alone.
	a := tensor.MustView[float32](got[0])
	for i := range a {
		a[i] = -1
	}
	assert.Equal(t, []uint8{0, 0, 0, 0, 0}, tensor.MustView[uint8](got[3]))
	assert.Equal(t, tensor.Shape{5}, got[3].Shape())
	assert.Equal(t, int64(0), tensor.MustView[int64](got[1])[0])
}

func TestCarveRefusesWhatDoesNotFit(t *testing.T) {
	_, _, err := tensor.Carve(make([]byte, 8), tensor.Float32, tensor.Shape{4})
	assert.ErrorIs(t, err, tensor.ErrInvalid)
	_, err = tensor.BlockSize(tensor.String, tensor.Shape{1})
	assert.ErrorIs(t, err, tensor.ErrInvalid)
	_, err = tensor.BlockSize(tensor.Float32, tensor.Shape{-1})
	assert.Error(t, err)
	b := make([]byte, 64)
	_, _, err = tensor.Carve(b[1:], tensor.Int8, tensor.Shape{1})
	assert.ErrorIs(t, err, tensor.ErrInvalid, "a block that is not 8-aligned")
}

// Outputs travel in map[string]Tensor, whose groups hold eight slots: every
// byte of Tensor is eight bytes allocated per Infer.
func TestTensorStaysSmall(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(tensor.Tensor{}), uintptr(40))
}

func TestStringTensorsHaveNoNumericBuffer(t *testing.T) {
	s, err := tensor.FromStrings(tensor.Shape{3}, []string{"a", "", "ccc"})
	require.NoError(t, err)
	assert.Nil(t, s.Pointer())
	assert.Zero(t, s.ByteLen())
	assert.Nil(t, s.Bytes())
	assert.True(t, s.IsAligned(tensor.Alignment))
	assert.Equal(t, 3, s.Len())
	c, err := s.Clone()
	require.NoError(t, err)
	got, err := c.Strings()
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "", "ccc"}, got)
	assert.Nil(t, tensor.Compare(c, s, tensor.Tolerance{}))

	empty, err := tensor.New(tensor.String, tensor.Shape{0, 2})
	require.NoError(t, err)
	strs, err := empty.Strings()
	require.NoError(t, err)
	assert.Empty(t, strs)
	assert.Equal(t, 0, empty.Len())
}

func TestFromFloat64s(t *testing.T) {
	x, err := tensor.FromFloat64s(tensor.Int32, tensor.Shape{2}, []float64{7.9, -3.9})
	require.NoError(t, err)
	assert.Equal(t, []int32{7, -3}, tensor.MustView[int32](x), "integers round toward zero")
	b, err := tensor.FromFloat64s(tensor.Bool, tensor.Shape{3}, []float64{0, 2, -0.5})
	require.NoError(t, err)
	assert.Equal(t, []bool{false, true, true}, tensor.MustView[bool](b))
	h, err := tensor.FromFloat64s(tensor.Float16, tensor.Shape{}, []float64{1.5})
	require.NoError(t, err)
	assert.Equal(t, tensor.NewF16(1.5), tensor.MustView[tensor.F16](h)[0])

	for name, c := range map[string]struct {
		dtype tensor.DType
		shape tensor.Shape
		vals  []float64
	}{
		// a request may claim 2^42 elements and carry none: refuse before allocating
		"claims more than it carries": {tensor.Int32, tensor.Shape{1 << 40, 4}, nil},
		"overflowing shape":           {tensor.Float64, tensor.Shape{1 << 62, 1 << 62}, nil},
		"negative dimension":          {tensor.Float32, tensor.Shape{-1, 2}, []float64{1, 2}},
		"too many values":             {tensor.Float32, tensor.Shape{1}, []float64{1, 2}},
		"string":                      {tensor.String, tensor.Shape{1}, []float64{1}},
	} {
		_, err := tensor.FromFloat64s(c.dtype, c.shape, c.vals)
		assert.ErrorIs(t, err, tensor.ErrInvalid, name)
	}
}
