package onnxtest

import (
	"encoding/binary"
	"math/rand/v2"
)

// LargeModel encodes an ONNX model computing y = x + w over n float32s,
// with w a random initializer (incompressible, as trained weights are):
// a model of 4n bytes, written without the onnx Python package.
func LargeModel(n int) []byte {
	w := make([]byte, 4*n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(w); i += 8 {
		binary.LittleEndian.PutUint64(w[i:], r.Uint64())
	}
	valueInfo := func(name string) []byte {
		dim := field(1, varint(1, uint64(n)))                    // Dimension.dim_value
		shape := field(2, field(1, dim))                         // TypeProto.Tensor.shape: TensorShapeProto.dim
		tensorType := cat(varint(1, 1), shape)                   // elem_type FLOAT
		return cat(str(1, name), field(2, field(1, tensorType))) // ValueInfoProto name, type.tensor_type
	}
	node := cat(str(1, "x"), str(1, "w"), str(2, "y"), str(4, "Add"))
	init := cat(varint(1, uint64(n)), varint(2, 1), str(8, "w"), field(9, w)) // dims, FLOAT, name, raw_data
	graph := cat(field(1, node), str(2, "large"), field(5, init), field(11, valueInfo("x")), field(12, valueInfo("y")))
	opset := cat(str(1, ""), varint(2, 17))
	return cat(varint(1, 8), field(8, opset), field(7, graph)) // ir_version, opset_import, graph
}

// Protocol buffer encoding, the three kinds of field the model needs.
func varint(num int, v uint64) []byte {
	return binary.AppendUvarint(binary.AppendUvarint(nil, uint64(num)<<3), v)
}

func field(num int, b []byte) []byte {
	out := binary.AppendUvarint(binary.AppendUvarint(nil, uint64(num)<<3|2), uint64(len(b)))
	return append(out, b...)
}

func str(num int, s string) []byte { return field(num, []byte(s)) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
