package onnx

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/internal/pbscan"
)

// Field numbers in onnx.proto that shapelessValues reads.
const (
	graphProtoInput  = 11 // GraphProto.input: ValueInfoProto
	graphProtoOutput = 12 // GraphProto.output
	valueInfoName    = 1  // ValueInfoProto.name
	valueInfoType    = 2  // ValueInfoProto.type: TypeProto
	typeProtoTensor  = 1  // TypeProto.tensor_type: TypeProto.Tensor
	tensorTypeShape  = 2  // TypeProto.Tensor.shape: TensorShapeProto
)

// errScan stops a walk once it has what it needs.
var errScan = errors.New("scan done")

// shapelessValues says which of names, graph inputs and outputs, the
// model declares as tensors without a shape: of any rank. ONNX Runtime
// reports them as rank 0, as it does scalars, and no call of its C API
// tells the two apart, so the model itself is read: the graph's input and
// output entries only, the rest skipped unread, until each name is seen.
func shapelessValues(r io.ReaderAt, size int64, names map[string]bool) (map[string]bool, error) {
	shapeless := map[string]bool{}
	seen := map[string]bool{}
	err := walkGraph(r, size, func(f pbscan.Field) error {
		if f.Num != graphProtoInput && f.Num != graphProtoOutput {
			return nil
		}
		b, err := readSmall(r, f)
		if b == nil {
			return err
		}
		name, tensor, shaped, err := valueInfo(b)
		if err != nil {
			return err
		}
		if !names[name] || seen[name] {
			return nil
		}
		seen[name] = true
		if tensor && !shaped {
			shapeless[name] = true
		}
		if len(seen) == len(names) {
			return errScan
		}
		return nil
	})
	if err != nil && !errors.Is(err, errScan) {
		return nil, err
	}
	return shapeless, nil
}

// valueInfo decodes a ValueInfoProto: its name, whether its type is a
// tensor, and whether that tensor type has a shape. Repeated fields merge
// as protobuf merges them: the last name, a shape in any of the types.
func valueInfo(b []byte) (name string, tensor, shaped bool, err error) {
	err = fields(b, func(num protowire.Number, v []byte) error {
		switch num {
		case valueInfoName:
			name = string(v)
		case valueInfoType:
			return fields(v, func(num protowire.Number, v []byte) error {
				if num != typeProtoTensor {
					return nil
				}
				tensor = true
				return fields(v, func(num protowire.Number, _ []byte) error {
					shaped = shaped || num == tensorTypeShape
					return nil
				})
			})
		}
		return nil
	})
	return name, tensor, shaped, err
}

// markShapeless marks the session's inputs and outputs that ONNX Runtime
// reports as rank 0 but the model declares without a shape: they take
// tensors of any rank. Only an ONNX model needs reading, and only when
// some value looks scalar; an ORT-format model's are left as reported.
func (s *session) markShapeless(path string, model []byte) error {
	ambiguous := map[string]bool{}
	for _, specs := range [][]ioSpec{s.inputs, s.outputs} {
		for _, spec := range specs {
			if len(spec.dims) == 0 {
				ambiguous[spec.name] = true
			}
		}
	}
	if len(ambiguous) == 0 {
		return nil
	}
	var r io.ReaderAt
	var size int64
	if model != nil {
		r, size = bytes.NewReader(model), int64(len(model))
	} else {
		f, n, err := backend.OpenModelFile(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r, size = f, n
	}
	if isORTFormat(r) {
		return nil
	}
	shapeless, err := shapelessValues(r, size, ambiguous)
	if err != nil {
		return fmt.Errorf("%w: reading the model's input and output types: %w", backend.ErrModel, err)
	}
	for _, specs := range [][]ioSpec{s.inputs, s.outputs} {
		for i := range specs {
			if len(specs[i].dims) == 0 && shapeless[specs[i].name] {
				specs[i].anyRank = true
			}
		}
	}
	return nil
}
