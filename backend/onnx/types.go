package onnx

import (
	"fmt"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/tensor"
)

// ONNXTensorElementDataType values.
const (
	ortFloat    = 1
	ortUint8    = 2
	ortInt8     = 3
	ortUint16   = 4
	ortInt16    = 5
	ortInt32    = 6
	ortInt64    = 7
	ortString   = 8
	ortBool     = 9
	ortFloat16  = 10
	ortDouble   = 11
	ortUint32   = 12
	ortUint64   = 13
	ortBFloat16 = 16
)

var toORT = map[tensor.DType]uintptr{
	tensor.Float32: ortFloat, tensor.Uint8: ortUint8, tensor.Int8: ortInt8,
	tensor.Uint16: ortUint16, tensor.Int16: ortInt16, tensor.Int32: ortInt32,
	tensor.Int64: ortInt64, tensor.String: ortString, tensor.Bool: ortBool,
	tensor.Float16: ortFloat16, tensor.Float64: ortDouble, tensor.Uint32: ortUint32,
	tensor.Uint64: ortUint64, tensor.BFloat16: ortBFloat16,
}

var fromORT = backend.ReverseDTypes(toORT)

func dtypeFromORT(t uintptr) (tensor.DType, error) {
	if d, ok := fromORT[t]; ok {
		return d, nil
	}
	return tensor.Invalid, fmt.Errorf("%w: ONNX element type %d (complex, float8, int4 ...) has no carton dtype", ErrRuntime, t)
}
