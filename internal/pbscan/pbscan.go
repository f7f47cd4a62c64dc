package pbscan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrNotProtobuf: the bytes are not a well-formed protobuf message.
var ErrNotProtobuf = errors.New("not a protobuf message")

// HasMessageField walks the top-level fields of the message in the first
// size bytes of r, skipping their contents, and says whether one of them
// is a length-delimited field number field. Malformed input (a field
// number 0, a group or unknown wire type, a length past size, a truncated
// varint) is an error wrapping ErrNotProtobuf, with its byte offset.
func HasMessageField(r io.ReaderAt, size int64, field uint64) (bool, error) {
	found := false
	for off := int64(0); off < size; {
		tag, n, err := readVarint(r, off)
		if err != nil {
			return false, err
		}
		num, wire := tag>>3, tag&7
		if num == 0 || num > 1<<29-1 {
			return false, fmt.Errorf("%w: byte %d: field number %d", ErrNotProtobuf, off, num)
		}
		start := off
		off += n
		switch wire {
		case 0: // varint
			if _, n, err = readVarint(r, off); err != nil {
				return false, err
			}
			off += n
		case 1: // 64-bit
			off += 8
		case 5: // 32-bit
			off += 4
		case 2: // length-delimited
			l, n, err := readVarint(r, off)
			if err != nil {
				return false, err
			}
			off += n
			if l > uint64(size-off) {
				return false, fmt.Errorf("%w: byte %d: field %d claims %d bytes, past the end", ErrNotProtobuf, start, num, l)
			}
			off += int64(l)
			found = found || num == field
		default: // groups (3, 4) are deprecated and in no schema read here; 6 and 7 are not wire types
			return false, fmt.Errorf("%w: byte %d: field %d has wire type %d", ErrNotProtobuf, start, num, wire)
		}
		if off > size {
			return false, fmt.Errorf("%w: field %d at byte %d runs past the end", ErrNotProtobuf, num, start)
		}
	}
	return found, nil
}

// readVarint reads a varint at off: its value and length.
func readVarint(r io.ReaderAt, off int64) (uint64, int64, error) {
	var b [binary.MaxVarintLen64]byte
	n, err := r.ReadAt(b[:], off)
	if n == 0 {
		return 0, 0, fmt.Errorf("%w: byte %d: %v", ErrNotProtobuf, off, err)
	}
	v, k := binary.Uvarint(b[:n])
	if k <= 0 {
		return 0, 0, fmt.Errorf("%w: byte %d: truncated or overlong varint", ErrNotProtobuf, off)
	}
	return v, int64(k), nil
}
