// Package npy converts between numpy .npy files and tensors, on top of the
// npyio library. It is used by the CLI; tensors it returns own their memory.
package npy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unsafe"

	"codeberg.org/sbinet/npyio/npy"
	"codeberg.org/sbinet/npyio/npy/float16"

	"github.com/carton-run/carton/tensor"
)

// ErrUnsupported: the .npy file holds something a tensor cannot (objects,
// records, complex numbers, Fortran order) or the tensor has no .npy dtype.
var ErrUnsupported = errors.New("unsupported .npy content")

// Read decodes one .npy array into a tensor.
func Read(r io.Reader) (t tensor.Tensor, err error) {
	defer func() {
		// npyio panics on some malformed headers; a bad file must be an error.
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrUnsupported, p)
		}
	}()
	rd, err := npy.NewReader(r)
	if err != nil {
		return tensor.Tensor{}, fmt.Errorf("not a .npy file: %w", err)
	}
	descr := rd.Header.Descr.Type
	if strings.ContainsAny(descr, "OV[{(") || strings.Contains(descr, "c") {
		return tensor.Tensor{}, fmt.Errorf("%w: dtype %s", ErrUnsupported, descr)
	}
	if rd.Header.Descr.Fortran {
		return tensor.Tensor{}, fmt.Errorf("%w: Fortran-ordered array (save it with numpy.ascontiguousarray)", ErrUnsupported)
	}
	shape := make(tensor.Shape, len(rd.Header.Descr.Shape))
	for i, d := range rd.Header.Descr.Shape {
		shape[i] = int64(d)
	}
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

// Write encodes t as a .npy array with its shape.
func Write(w io.Writer, t tensor.Tensor) error {
	if !t.Valid() {
		return fmt.Errorf("%w: invalid or released tensor", tensor.ErrInvalid)
	}
	var elems any
	switch t.DType() {
	case tensor.String:
		s, _ := t.Strings()
		elems = s
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
	start := strings.Index(old, "'shape': (")
	if start < 0 {
		return fmt.Errorf("npy: unexpected header %q", old)
	}
	end := strings.Index(old[start:], ")")
	if end < 0 {
		return fmt.Errorf("npy: unexpected header %q", old)
	}
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	hdr := strings.TrimRight(old[:start]+"'shape': ("+tuple+old[start+end:], " \n")
	for (10+len(hdr)+1)%64 != 0 {
		hdr += " "
	}
	hdr += "\n"
	out := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
	_, err := w.Write(append(out, hdr...))
	return err
}
