package onnx

import (
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/carton-run/carton/internal/pbscan"
)

// The few onnx.proto messages the runner reads itself (shapeless.go,
// external.go) are found with pbscan, without decoding the model: a walk
// of the graph's fields skips nodes and weights unread.

// modelProtoGraph is ModelProto's field number for its GraphProto.
const modelProtoGraph = 7

// maxSmallMessageBytes bounds a message read whole to be decoded: a graph
// input's or output's ValueInfoProto, an initializer's external_data entry.
const maxSmallMessageBytes = 1 << 20

// isORTFormat says whether the model is an ORT-format (flatbuffer) model,
// which ONNX Runtime reads and pbscan cannot.
func isORTFormat(r io.ReaderAt) bool {
	var head [8]byte
	n, _ := r.ReadAt(head[:], 0)
	return n == len(head) && string(head[4:]) == "ORTM"
}

// walkGraph calls fn with each length-delimited field of the model's
// graph (ModelProto.graph). An error from fn stops the walk and is
// returned as it is.
func walkGraph(r io.ReaderAt, size int64, fn func(pbscan.Field) error) error {
	return pbscan.Walk(r, 0, size, func(model pbscan.Field) error {
		if model.Num != modelProtoGraph || model.Wire != 2 {
			return nil
		}
		return pbscan.Walk(r, model.Off, model.Len, func(f pbscan.Field) error {
			if f.Wire != 2 {
				return nil
			}
			return fn(f)
		})
	})
}

// readSmall reads field f's message whole, or returns nil when it is
// larger than maxSmallMessageBytes (no message the runner decodes is).
func readSmall(r io.ReaderAt, f pbscan.Field) ([]byte, error) {
	if f.Len > maxSmallMessageBytes {
		return nil, nil
	}
	b := make([]byte, f.Len)
	if _, err := r.ReadAt(b, f.Off); err != nil {
		return nil, fmt.Errorf("%w: %w", pbscan.ErrNotProtobuf, err)
	}
	return b, nil
}

// fields calls fn with each length-delimited field of the message in b.
func fields(b []byte, fn func(protowire.Number, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %w", pbscan.ErrNotProtobuf, protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("%w: %w", pbscan.ErrNotProtobuf, protowire.ParseError(n))
			}
			if err := fn(num, v); err != nil {
				return err
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return fmt.Errorf("%w: %w", pbscan.ErrNotProtobuf, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return nil
}
