package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/carton-run/carton/backend"
)

// CheckModel says whether the model file is an ONNX ModelProto (its
// top-level protobuf fields are well formed and one of them is the graph)
// or an ORT-format model.
// It reads the field headers only, skipping their contents, so a model of
// any size costs a few reads; ONNX Runtime judges the rest at Load.
func (Runner) CheckModel(modelDir string) error {
	p, err := modelPath(modelDir)
	if err != nil {
		return err
	}
	f, size, err := backend.OpenModelFile(p)
	if err != nil {
		return err
	}
	defer f.Close()
	var head [8]byte
	if n, _ := f.ReadAt(head[:], 0); n == len(head) && string(head[4:]) == "ORTM" {
		return nil // an ORT-format (flatbuffer) model, which ONNX Runtime reads from bytes
	}
	if err := checkModelProto(f, size); err != nil {
		return fmt.Errorf("%w: %s is not an ONNX model: %w", backend.ErrModel, filepath.Base(p), err)
	}
	return nil
}

// modelProtoGraph is ModelProto's field number for its GraphProto.
const modelProtoGraph = 7

// checkModelProto walks the top-level fields of a protobuf message of
// size bytes and requires a length-delimited modelProtoGraph among them.
func checkModelProto(r io.ReaderAt, size int64) error {
	graph := false
	for off := int64(0); off < size; {
		tag, n, err := readVarint(r, off)
		if err != nil {
			return err
		}
		field, wire := tag>>3, tag&7
		if field == 0 || field > 1<<29-1 {
			return fmt.Errorf("byte %d: field number %d is not valid protobuf", off, field)
		}
		off += n
		switch wire {
		case 0: // varint
			_, n, err = readVarint(r, off)
			if err != nil {
				return err
			}
			off += n
		case 1: // 64-bit
			off += 8
		case 5: // 32-bit
			off += 4
		case 2: // length-delimited
			l, n, err := readVarint(r, off)
			if err != nil {
				return err
			}
			off += n
			if l > uint64(size-off) {
				return fmt.Errorf("byte %d: field %d claims %d bytes, past the end of the file", off, field, l)
			}
			off += int64(l)
			graph = graph || field == modelProtoGraph
		default: // groups (3, 4) are not in ONNX's schema; 6 and 7 are not wire types
			return fmt.Errorf("byte %d: field %d has wire type %d, not valid in a ModelProto", off-n, field, wire)
		}
		if off > size {
			return fmt.Errorf("field %d runs past the end of the file", field)
		}
	}
	if !graph {
		return errors.New("it has no graph")
	}
	return nil
}

// readVarint reads a protobuf varint at off: its value and length.
func readVarint(r io.ReaderAt, off int64) (uint64, int64, error) {
	var b [binary.MaxVarintLen64]byte
	n, err := r.ReadAt(b[:], off)
	if n == 0 {
		return 0, 0, fmt.Errorf("byte %d: %w", off, err)
	}
	v, k := binary.Uvarint(b[:n])
	if k <= 0 {
		return 0, 0, fmt.Errorf("byte %d: truncated or overlong varint", off)
	}
	return v, int64(k), nil
}
