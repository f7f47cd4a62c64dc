package npy

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/tensor"
)

func roundTrip(t *testing.T, in tensor.Tensor) tensor.Tensor {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, in), in.String())
	out, err := Read(&buf)
	require.NoError(t, err, in.String())
	return out
}

func TestRoundTrip(t *testing.T) {
	cases := []tensor.Tensor{}
	add := func(x tensor.Tensor, err error) {
		require.NoError(t, err)
		cases = append(cases, x)
	}
	add(tensor.From(tensor.Shape{2, 3}, []float32{1, 2, 3, 4, 5, 6}))
	add(tensor.From(tensor.Shape{3}, []float64{1.5, -2, 1e300}))
	add(tensor.From(tensor.Shape{2, 1, 2}, []int8{-1, 2, -3, 4}))
	add(tensor.From(tensor.Shape{1}, []int16{-300}))
	add(tensor.From(tensor.Shape{2}, []int32{1 << 30, -5}))
	add(tensor.From(tensor.Shape{2}, []int64{1 << 62, -5}))
	add(tensor.From(tensor.Shape{2}, []uint8{255, 0}))
	add(tensor.From(tensor.Shape{2}, []uint16{65535, 1}))
	add(tensor.From(tensor.Shape{2}, []uint32{1 << 31, 1}))
	add(tensor.From(tensor.Shape{2}, []uint64{1 << 63, 1}))
	add(tensor.From(tensor.Shape{2, 2}, []bool{true, false, false, true}))
	add(tensor.From(tensor.Shape{2}, []tensor.F16{tensor.NewF16(1.5), tensor.NewF16(-2)}))
	add(tensor.FromStrings(tensor.Shape{2, 2}, []string{"a", "bcd", "", "é"}))
	add(tensor.FromStrings(tensor.Shape{}, []string{"a scalar string"}))
	cases = append(cases, tensor.Scalar(float32(3.25)), tensor.Scalar(int64(-9)))
	add(tensor.From(tensor.Shape{2, 0}, []float32{}))
	add(tensor.FromStrings(tensor.Shape{0}, nil))
	add(tensor.FromStrings(tensor.Shape{}, []string{""}))
	add(tensor.FromStrings(tensor.Shape{2}, []string{"", ""}))
	add(tensor.FromStrings(tensor.Shape{3, 0, 2}, nil))
	// Not UTF-8: written as numpy bytes ('|S'), not unicode.
	add(tensor.FromStrings(tensor.Shape{2, 2}, []string{"\xac", "ok", "", "\xff\xfe\x00x"}))
	add(tensor.FromStrings(tensor.Shape{}, []string{"\xac"}))
	for _, in := range cases {
		out := roundTrip(t, in)
		assert.Nil(t, tensor.Compare(out, in, tensor.Tolerance{}), "%s -> %s", in, out)
	}
}

func TestUnsupported(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, tensor.Scalar(tensor.BF16(0x3f80)))
	require.ErrorIs(t, err, ErrUnsupported)
	_, err = Read(bytes.NewReader([]byte("not numpy at all")))
	require.ErrorIs(t, err, ErrMalformed)
	hdr := "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
	for len(hdr)%16 != 5 {
		hdr += " "
	}
	raw := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)+1), 0)
	raw = append(append(raw, hdr...), '\n', 0x80, 0x02)
	_, err = Read(bytes.NewReader(raw))
	require.ErrorIs(t, err, ErrUnsupported)
}

// numpy saves a transposed array (x.T) in Fortran order; it reads back in
// C order, as numpy.load gives it. The files are numpy's own (testdata/).
func TestReadFortranOrder(t *testing.T) {
	f4, err := ReadFile(filepath.Join("testdata", "fortran_f4.npy")) // asfortranarray(arange(24).reshape(2, 3, 4))
	require.NoError(t, err)
	assert.Equal(t, tensor.Shape{2, 3, 4}, f4.Shape())
	want := make([]float32, 24)
	for i := range want {
		want[i] = float32(i)
	}
	assert.Equal(t, want, tensor.MustView[float32](f4))

	i8, err := ReadFile(filepath.Join("testdata", "transposed_i8.npy")) // arange(6).reshape(2, 3).T
	require.NoError(t, err)
	assert.Equal(t, tensor.Shape{3, 2}, i8.Shape())
	assert.Equal(t, []int64{0, 3, 1, 4, 2, 5}, tensor.MustView[int64](i8))

	u, err := ReadFile(filepath.Join("testdata", "fortran_u.npy")) // the same as strings
	require.NoError(t, err)
	strs, _ := u.Strings()
	assert.Equal(t, []string{"0", "3", "1", "4", "2", "5"}, strs)
}

func TestMalformedPreamble(t *testing.T) {
	for name, c := range map[string]struct {
		raw  string
		want error
	}{
		"empty":     {"", ErrMalformed},
		"truncated": {"\x93NUMPY\x01", ErrMalformed},
		// six bytes claiming a 2 GiB header: npyio alone allocates it
		"huge v2 header": {"\x93NUMPY\x02<\x00\x00\x00{", ErrMalformed},
		"huge v1 header": {"\x93NUMPY\x01\x00\xff\xff{", ErrMalformed},
		"v2 truncated":   {"\x93NUMPY\x02\x00\x10\x00", ErrMalformed},
		"version 3":      {"\x93NUMPY\x03\x00\x10\x00\x00\x00", ErrUnsupported},
		"no header":      {"\x93NUMPY\x01\x00\x10\x00", ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Read(bytes.NewReader([]byte(c.raw)))
			require.ErrorIs(t, err, c.want)
		})
	}
}

func TestZeroLengthStrings(t *testing.T) {
	header := func(shape string) []byte {
		hdr := "{'descr': '<U0', 'fortran_order': False, 'shape': " + shape + ", }"
		raw := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)+1), 0)
		return append(append(raw, hdr...), '\n')
	}
	x, err := Read(bytes.NewReader(header("(2, 0)")))
	require.NoError(t, err)
	assert.Equal(t, tensor.String, x.DType())
	assert.Equal(t, tensor.Shape{2, 0}, x.Shape())
	_, err = Read(bytes.NewReader(header("(2,)")))
	assert.ErrorIs(t, err, ErrUnsupported)
}

// Strings that are not UTF-8 go out as numpy bytes, in a header numpy
// itself reads: 64-byte aligned, items padded with NULs.
func TestBytesStrings(t *testing.T) {
	x, err := tensor.FromStrings(tensor.Shape{3}, []string{"\xac", "abc", ""})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, x))
	b := buf.Bytes()
	hlen := int(b[8]) | int(b[9])<<8
	require.Equal(t, 0, (10+hlen)%64)
	assert.Equal(t, "{'descr': '|S3', 'fortran_order': False, 'shape': (3,), }", strings.TrimRight(string(b[10:10+hlen]), " \n"))
	assert.Equal(t, "\xac\x00\x00abc\x00\x00\x00", string(b[10+hlen:]))
}

// numpy reads the data its header describes and ignores what follows it
// (a second array np.save appended to the same file); so does Read. A
// header or data cut short is an error, not a panic.
func TestReadStopsWhereTheHeaderSays(t *testing.T) {
	var file bytes.Buffer
	first, _ := tensor.From(tensor.Shape{2, 2}, []float32{1, 2, 3, 4})
	words, _ := tensor.FromStrings(tensor.Shape{2}, []string{"héllo", "go"})
	second, _ := tensor.From(tensor.Shape{3}, []int64{7, 8, 9})
	for _, x := range []tensor.Tensor{first, words, second} {
		require.NoError(t, Write(&file, x))
	}
	r := bytes.NewReader(file.Bytes())
	for _, want := range []tensor.Tensor{first, words, second} {
		var one bytes.Buffer
		require.NoError(t, Write(&one, want))
		got, err := Read(bytes.NewReader(file.Bytes()[int(r.Size())-r.Len():]))
		require.NoError(t, err)
		assert.Nil(t, tensor.Compare(got, want, tensor.Tolerance{}))
		_, err = r.Seek(int64(one.Len()), io.SeekCurrent)
		require.NoError(t, err)
	}

	var one bytes.Buffer
	require.NoError(t, Write(&one, first))
	whole := one.Bytes()
	_, err := Read(bytes.NewReader(whole[:40]))
	require.ErrorIs(t, err, ErrMalformed)
	assert.Contains(t, err.Error(), "the header claims")
	_, err = Read(bytes.NewReader(whole[:len(whole)-4]))
	require.Error(t, err, "one element short")
}
