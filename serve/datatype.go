package serve

import (
	"fmt"

	"github.com/carton-run/carton/tensor"
)

// The protocol's datatypes and carton's dtypes, one to one.
var (
	toDatatype = map[tensor.DType]string{
		tensor.Bool: "BOOL", tensor.Uint8: "UINT8", tensor.Uint16: "UINT16", tensor.Uint32: "UINT32", tensor.Uint64: "UINT64",
		tensor.Int8: "INT8", tensor.Int16: "INT16", tensor.Int32: "INT32", tensor.Int64: "INT64",
		tensor.Float16: "FP16", tensor.BFloat16: "BF16", tensor.Float32: "FP32", tensor.Float64: "FP64",
		tensor.String: "BYTES",
	}
	fromDatatype = func() map[string]tensor.DType {
		m := map[string]tensor.DType{}
		for d, s := range toDatatype {
			m[s] = d
		}
		return m
	}()
)

// Datatype is the protocol's name for d ("FP32", "BYTES").
func Datatype(d tensor.DType) string { return toDatatype[d] }

// DTypeOf is the dtype of a protocol datatype.
func DTypeOf(datatype string) (tensor.DType, error) {
	d, ok := fromDatatype[datatype]
	if !ok {
		return 0, fmt.Errorf("%w: datatype %q is not one of the protocol's (BOOL, UINT8-64, INT8-64, FP16, BF16, FP32, FP64, BYTES)", ErrBadRequest, datatype)
	}
	return d, nil
}
