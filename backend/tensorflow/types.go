package tensorflow

import (
	"fmt"

	"github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/tensor"
)

// TF_DataType values (the same numbers as the DataType proto enum).
const (
	tfFloat    = 1
	tfDouble   = 2
	tfInt32    = 3
	tfUint8    = 4
	tfInt16    = 5
	tfInt8     = 6
	tfString   = 7
	tfInt64    = 9
	tfBool     = 10
	tfBFloat16 = 14
	tfUint16   = 17
	tfHalf     = 19
	tfUint32   = 22
	tfUint64   = 23
)

var toTF = map[tensor.DType]int32{
	tensor.Float32: tfFloat, tensor.Float64: tfDouble, tensor.Int32: tfInt32, tensor.Uint8: tfUint8,
	tensor.Int16: tfInt16, tensor.Int8: tfInt8, tensor.String: tfString, tensor.Int64: tfInt64,
	tensor.Bool: tfBool, tensor.BFloat16: tfBFloat16, tensor.Uint16: tfUint16, tensor.Float16: tfHalf,
	tensor.Uint32: tfUint32, tensor.Uint64: tfUint64,
}

var fromTF = backend.ReverseDTypes(toTF)

// dtypeFromProto maps a signature's DataType to a carton dtype.
func dtypeFromProto(t types_go_proto.DataType) (tensor.DType, error) {
	if d, ok := fromTF[int32(t)]; ok {
		return d, nil
	}
	return tensor.Invalid, fmt.Errorf("TensorFlow dtype %s has no carton dtype", t)
}
