package pbscan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrNotProtobuf: the bytes are not a well-formed protobuf message.
var ErrNotProtobuf = errors.New("not a protobuf message")

// Field is one field of a message as Walk finds it.
type Field struct {
	Num  uint64 // field number
	Wire int    // wire type: 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit
	// Off and Len locate a length-delimited field's contents (a nested
	// message, bytes or a string) in the reader; zero for other wire types.
	Off, Len int64
}

// HasMessageField walks the top-level fields of the message in the first
// size bytes of r, skipping their contents, and says whether one of them
// is a length-delimited field number field. Malformed input (a field
// number 0, a group or unknown wire type, a length past size, a truncated
// varint) is an error wrapping ErrNotProtobuf, with its byte offset.
func HasMessageField(r io.ReaderAt, size int64, field uint64) (bool, error) {
	found := false
	err := Walk(r, 0, size, func(f Field) error {
		found = found || (f.Num == field && f.Wire == 2)
		return nil
	})
	return found && err == nil, err
}

// Walk calls fn for each field of the message in the size bytes of r
// from off, in order, skipping their contents: a nested message is walked
// by calling Walk again on its Off and Len. It reads in small windows, so
// a message of many small fields costs few reads. An error from fn stops
// the walk and is returned as it is; malformed input is an error wrapping
// ErrNotProtobuf, with its byte offset.
func Walk(r io.ReaderAt, off, size int64, fn func(Field) error) error {
	w := window{r: r}
	for end := off + size; off < end; {
		tag, n, err := w.varint(off)
		if err != nil {
			return err
		}
		num, wire := tag>>3, int(tag&7)
		if num == 0 || num > 1<<29-1 {
			return fmt.Errorf("%w: byte %d: field number %d", ErrNotProtobuf, off, num)
		}
		start := off
		off += n
		f := Field{Num: num, Wire: wire}
		switch wire {
		case 0: // varint
			if _, n, err = w.varint(off); err != nil {
				return err
			}
			off += n
		case 1: // 64-bit
			off += 8
		case 5: // 32-bit
			off += 4
		case 2: // length-delimited
			l, n, err := w.varint(off)
			if err != nil {
				return err
			}
			off += n
			if l > uint64(end-off) {
				return fmt.Errorf("%w: byte %d: field %d claims %d bytes, past the end", ErrNotProtobuf, start, num, l)
			}
			f.Off, f.Len = off, int64(l)
			off += int64(l)
		default: // groups (3, 4) are deprecated and in no schema read here; 6 and 7 are not wire types
			return fmt.Errorf("%w: byte %d: field %d has wire type %d", ErrNotProtobuf, start, num, wire)
		}
		if off > end {
			return fmt.Errorf("%w: field %d at byte %d runs past the end", ErrNotProtobuf, num, start)
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// window serves varint reads from one buffered stretch of the reader:
// the fields of a message of small fields (an ONNX graph's nodes) then
// cost one read per window, not one per field.
type window struct {
	r   io.ReaderAt
	off int64 // of buf[0] in r
	buf []byte
	mem [4096]byte
}

// varint reads a varint at off: its value and length.
func (w *window) varint(off int64) (uint64, int64, error) {
	if off < w.off || off+binary.MaxVarintLen64 > w.off+int64(len(w.buf)) {
		n, err := w.r.ReadAt(w.mem[:], off)
		if n == 0 {
			return 0, 0, fmt.Errorf("%w: byte %d: %v", ErrNotProtobuf, off, err)
		}
		w.off, w.buf = off, w.mem[:n]
	}
	v, k := binary.Uvarint(w.buf[off-w.off:])
	if k <= 0 {
		return 0, 0, fmt.Errorf("%w: byte %d: truncated or overlong varint", ErrNotProtobuf, off)
	}
	return v, int64(k), nil
}
