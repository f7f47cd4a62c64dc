package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"codeberg.org/sbinet/npyio/npy"
	"codeberg.org/sbinet/npyio/npy/float16"

	"github.com/carton-run/carton/tensor"
)

// ErrUnsupported: the .npy file holds something a tensor cannot (objects,
// records, complex numbers) or the tensor has no .npy dtype.
var ErrUnsupported = errors.New("unsupported .npy content")

// ErrMalformed: the file is not a well-formed .npy file.
var ErrMalformed = errors.New("malformed .npy file")

// maxHeaderBytes is numpy's own limit on the header it reads
// (numpy.lib.format's max_header_size). npyio allocates whatever length a
// header claims, up to 4 GiB from six bytes of input.
const maxHeaderBytes = 10000

// readHeader reads the preamble (magic, version, header length) and the
// header from br, without consuming them, and returns both.
func readHeader(br *bufio.Reader) ([]byte, error) {
	pre, err := br.Peek(12)
	if len(pre) < 10 || string(pre[:6]) != "\x93NUMPY" {
		return nil, fmt.Errorf("%w: no .npy magic (%v)", ErrMalformed, err)
	}
	var n, preamble int
	switch pre[6] {
	case 1:
		n, preamble = int(binary.LittleEndian.Uint16(pre[8:10])), 10
	case 2:
		if len(pre) < 12 {
			return nil, fmt.Errorf("%w: truncated preamble", ErrMalformed)
		}
		n, preamble = int(binary.LittleEndian.Uint32(pre[8:12])), 12
	default:
		return nil, fmt.Errorf("%w: format version %d.%d", ErrUnsupported, pre[6], pre[7])
	}
	if n > maxHeaderBytes {
		return nil, fmt.Errorf("%w: header of %d bytes (numpy reads at most %d)", ErrMalformed, n, maxHeaderBytes)
	}
	hdr, err := br.Peek(preamble + n)
	if len(hdr) < preamble+n {
		return nil, fmt.Errorf("%w: the header claims %d bytes, the file holds %d (%v)", ErrMalformed, n, len(hdr)-preamble, err)
	}
	return hdr, nil
}

// dataBytes is the size of the data a header describes, when its dtype
// has a fixed item size: what numpy reads, ignoring any bytes after it.
func dataBytes(descr string, shape []int) (int64, bool) {
	d := strings.TrimLeft(strings.Trim(descr, `'"`), "<>|=")
	if len(d) < 2 {
		return 0, false
	}
	size, err := strconv.ParseInt(d[1:], 10, 64)
	if err != nil || size < 0 {
		return 0, false
	}
	if d[0] == 'U' {
		size *= 4 // UCS-4
	}
	n, err := shapeOf(shape).NumElements()
	if err != nil || (n > 0 && size > math.MaxInt64/int64(n)) {
		return 0, false
	}
	return int64(n) * size, true
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ReadFile reads the .npy file at path; errors name the file. Only a
// regular file is read: a FIFO or a device (/dev/zero) would block or
// never end.
func ReadFile(path string) (tensor.Tensor, error) {
	st, err := os.Stat(path)
	if err != nil {
		return tensor.Tensor{}, err
	}
	if !st.Mode().IsRegular() {
		return tensor.Tensor{}, fmt.Errorf("%s: %w: not a regular file (%s)", path, ErrMalformed, st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return tensor.Tensor{}, err
	}
	defer f.Close()
	t, err := Read(f)
	if err != nil {
		return tensor.Tensor{}, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Read decodes one .npy array into a tensor.
func Read(r io.Reader) (t tensor.Tensor, err error) {
	defer func() {
		// npyio panics on some malformed headers; a bad file must be an error.
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrMalformed, p)
		}
	}()
	br := bufio.NewReaderSize(r, maxHeaderBytes+16)
	hdr, err := readHeader(br)
	if err != nil {
		return tensor.Tensor{}, err
	}
	rd, err := npy.NewReader(bytes.NewReader(hdr))
	if err != nil {
		return tensor.Tensor{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	// npyio reads everything after the header as data; numpy reads what the
	// header describes and ignores the rest (another array np.save appended
	// to the same file, say). Read as numpy does.
	data := io.Reader(br)
	want, sized := dataBytes(rd.Header.Descr.Type, rd.Header.Descr.Shape)
	counted := &countingReader{r: br}
	if sized {
		counted.r = io.LimitReader(br, want)
		data = counted
	}
	hdr = bytes.Clone(hdr)
	if _, err := br.Discard(len(hdr)); err != nil {
		return tensor.Tensor{}, err
	}
	if rd, err = npy.NewReader(io.MultiReader(bytes.NewReader(hdr), data)); err != nil {
		return tensor.Tensor{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	descr := rd.Header.Descr.Type
	if strings.ContainsAny(descr, "OV[{(") || strings.Contains(descr, "c") {
		return tensor.Tensor{}, fmt.Errorf("%w: dtype %s", ErrUnsupported, descr)
	}
	if d := strings.TrimLeft(strings.Trim(descr, `'"`), "<>|="); d == "U0" || d == "S0" {
		// zero-length strings: npyio divides by the item size
		if !slices.Contains(rd.Header.Descr.Shape, 0) {
			return tensor.Tensor{}, fmt.Errorf("%w: dtype %s with elements", ErrUnsupported, descr)
		}
		return tensor.FromStrings(shapeOf(rd.Header.Descr.Shape), nil)
	}
	t, err = readData(rd, descr)
	if sized && counted.n < want {
		return tensor.Tensor{}, fmt.Errorf("%w: the header declares %d bytes of data (%s, shape %v), but only %d follow it", ErrMalformed, want, descr, rd.Header.Descr.Shape, counted.n)
	}
	if err != nil || !rd.Header.Descr.Fortran {
		return t, err
	}
	return fromFortran(t)
}

// readData reads the array's elements, in the file's order, into a tensor
// of the header's shape.
func readData(rd *npy.Reader, descr string) (tensor.Tensor, error) {
	shape := shapeOf(rd.Header.Descr.Shape)
	var arr npy.Array
	if err := rd.Read(&arr); err != nil {
		return tensor.Tensor{}, fmt.Errorf("reading .npy data: %w", err)
	}
	switch data := arr.Data().(type) {
	case []float32:
		return tensor.From(shape, data)
	case []float64:
		return tensor.From(shape, data)
	case []int8:
		return tensor.From(shape, data)
	case []int16:
		return tensor.From(shape, data)
	case []int32:
		return tensor.From(shape, data)
	case []int64:
		return tensor.From(shape, data)
	case []uint8:
		return tensor.From(shape, data)
	case []uint16:
		return tensor.From(shape, data)
	case []uint32:
		return tensor.From(shape, data)
	case []uint64:
		return tensor.From(shape, data)
	case []bool:
		return tensor.From(shape, data)
	case []string:
		return tensor.FromStrings(shape, data)
	case string: // npyio hands a 0-d string array back as a scalar
		return tensor.FromStrings(shape, []string{data})
	case []float16.Num:
		bits := make([]tensor.F16, len(data))
		for i, v := range data {
			bits[i] = tensor.F16(v.Uint16())
		}
		return tensor.From(shape, bits)
	default:
		return tensor.Tensor{}, fmt.Errorf("%w: dtype %s (Go %T)", ErrUnsupported, descr, data)
	}
}

func shapeOf(dims []int) tensor.Shape {
	shape := make(tensor.Shape, len(dims))
	for i, d := range dims {
		shape[i] = int64(d)
	}
	return shape
}

// Write encodes t as a .npy array with its shape.
func Write(w io.Writer, t tensor.Tensor) error {
	if !t.Valid() {
		return fmt.Errorf("%w: invalid or released tensor", tensor.ErrInvalid)
	}
	if descr, ok := numericDescr[t.DType()]; ok && hostLittleEndian {
		return writeRaw(w, descr, t)
	}
	var elems any
	switch t.DType() {
	case tensor.String:
		s, _ := t.Strings()
		if len(s) > 0 && !slices.ContainsFunc(s, func(e string) bool { return e != "" }) {
			// npyio gives all-empty strings item size 0 ('<U0'), which it
			// cannot read back; a NUL is '<U1', and readers strip it, as numpy
			// does, so it reads back as "".
			s = slices.Repeat([]string{"\x00"}, len(s))
		}
		if !slices.ContainsFunc(s, func(e string) bool { return !utf8.ValidString(e) }) {
			elems = s
			break
		}
		return writeBytes(w, t.Shape(), s)
	case tensor.Float16:
		// npyio reads float16 but cannot write it: write the bits as uint16
		// and relabel the header's descr ('<u2' -> '<f2', same length).
		bits, _ := tensor.FromBytes(tensor.Uint16, t.Shape(), t.Bytes())
		var buf bytes.Buffer
		if err := Write(&buf, bits); err != nil {
			return err
		}
		b := buf.Bytes()
		i := bytes.Index(b, []byte("'<u2'"))
		if i < 0 {
			return fmt.Errorf("npy: unexpected header writing float16")
		}
		copy(b[i:], "'<f2'")
		_, err := w.Write(b)
		return err
	case tensor.BFloat16:
		return fmt.Errorf("%w: bfloat16 has no numpy dtype (convert to float32 first)", ErrUnsupported)
	default:
		elems = typedSlice(t)
	}
	shape := t.Shape()
	if len(shape) == 0 {
		return npy.Write(w, reflect.ValueOf(elems).Index(0).Interface())
	}
	// Build an array type [d0][d1]...T over the same memory so npyio writes
	// the full shape without copying the data.
	sv := reflect.ValueOf(elems)
	typ := sv.Type().Elem()
	for i := len(shape) - 1; i >= 0; i-- {
		typ = reflect.ArrayOf(int(shape[i]), typ)
	}
	if sv.Len() == 0 {
		return writeEmpty(w, elems, shape)
	}
	arr := reflect.NewAt(typ, unsafe.Pointer(sv.Pointer())).Elem()
	return npy.Write(w, arr.Interface())
}

func typedSlice(t tensor.Tensor) any {
	switch t.DType() {
	case tensor.Float32:
		return tensor.MustView[float32](t)
	case tensor.Float64:
		return tensor.MustView[float64](t)
	case tensor.Int8:
		return tensor.MustView[int8](t)
	case tensor.Int16:
		return tensor.MustView[int16](t)
	case tensor.Int32:
		return tensor.MustView[int32](t)
	case tensor.Int64:
		return tensor.MustView[int64](t)
	case tensor.Uint8:
		return tensor.MustView[uint8](t)
	case tensor.Uint16:
		return tensor.MustView[uint16](t)
	case tensor.Uint32:
		return tensor.MustView[uint32](t)
	case tensor.Uint64:
		return tensor.MustView[uint64](t)
	case tensor.Bool:
		return tensor.MustView[bool](t)
	}
	panic("typedSlice: dtype " + t.DType().String())
}

// writeEmpty writes a zero-element array: npyio drops the dimensions after a
// zero one, so take its header for the dtype and put the full shape back.
func writeEmpty(w io.Writer, elems any, shape tensor.Shape) error {
	var buf bytes.Buffer
	if err := npy.Write(&buf, elems); err != nil {
		return err
	}
	b := buf.Bytes()
	var old string
	switch {
	case len(b) >= 10 && b[6] == 1:
		old = string(b[10 : 10+(int(b[8])|int(b[9])<<8)])
	case len(b) >= 12 && b[6] == 2:
		old = string(b[12 : 12+(int(b[8])|int(b[9])<<8)])
	default:
		return fmt.Errorf("npy: unexpected header")
	}
	// npyio gives an empty []string item size 0; numpy writes '<U1'
	old = strings.Replace(old, "'<U0'", "'<U1'", 1)
	start := strings.Index(old, "'shape': (")
	if start < 0 {
		return fmt.Errorf("npy: unexpected header %q", old)
	}
	end := strings.Index(old[start:], ")")
	if end < 0 {
		return fmt.Errorf("npy: unexpected header %q", old)
	}
	return writeHeader(w, old[:start]+"'shape': "+shapeTuple(shape)+old[start+end+1:])
}

// shapeTuple is shape as the header's Python tuple.
func shapeTuple(shape tensor.Shape) string {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	return "(" + tuple + ")"
}

// numericDescr is numpy's dtype string of each numeric dtype whose bytes
// are written as they are.
var numericDescr = map[tensor.DType]string{
	tensor.Float16: "<f2", tensor.Float32: "<f4", tensor.Float64: "<f8",
	tensor.Int8: "|i1", tensor.Int16: "<i2", tensor.Int32: "<i4", tensor.Int64: "<i8",
	tensor.Uint8: "|u1", tensor.Uint16: "<u2", tensor.Uint32: "<u4", tensor.Uint64: "<u8",
	tensor.Bool: "|b1",
}

// hostLittleEndian: tensors hold little-endian bytes (.npy's '<') only on
// such a host; elsewhere npyio converts element by element.
var hostLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// writeRaw writes a numeric tensor's bytes after the header in one write:
// npyio writes element by element through reflection (5 s for 46 MB).
func writeRaw(w io.Writer, descr string, t tensor.Tensor) error {
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shapeTuple(t.Shape()))
	if err := writeHeader(w, dict); err != nil {
		return err
	}
	_, err := w.Write(t.Bytes())
	return err
}

// writeHeader writes the magic, version and dict, padded with spaces so
// the data starts on a 64-byte boundary; version 2.0 when the padded dict
// exceeds version 1.0's 16-bit length.
func writeHeader(w io.Writer, dict string) error {
	hdr := strings.TrimRight(dict, " \n")
	prefix := 10
	if 10+len(hdr)+1+63 > 10+0xffff {
		prefix = 12
	}
	for (prefix+len(hdr)+1)%64 != 0 {
		hdr += " "
	}
	hdr += "\n"
	out := []byte("\x93NUMPY\x01\x00")
	if prefix == 10 {
		out = binary.LittleEndian.AppendUint16(out, uint16(len(hdr)))
	} else {
		out[6] = 2
		out = binary.LittleEndian.AppendUint32(out, uint32(len(hdr)))
	}
	_, err := w.Write(append(out, hdr...))
	return err
}

// writeBytes writes strings as numpy bytes ('|S<n>', each padded with NULs
// to the longest): Write's choice when some are not valid UTF-8, which
// the unicode dtype ('<U', code points) cannot hold. Trailing NULs are
// lost, as numpy strips them from both dtypes.
func writeBytes(w io.Writer, shape tensor.Shape, strs []string) error {
	item := 1
	for _, s := range strs {
		item = max(item, len(s))
	}
	dict := fmt.Sprintf("{'descr': '|S%d', 'fortran_order': False, 'shape': %s, }", item, shapeTuple(shape))
	if err := writeHeader(w, dict); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	pad := make([]byte, item)
	for _, s := range strs {
		bw.WriteString(s)
		bw.Write(pad[len(s):])
	}
	return bw.Flush()
}
