package main

import (
	"fmt"

	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

// .npy has no bfloat16: numpy has no such dtype, and ml_dtypes' arrays
// save as raw 2-byte voids that say nothing of their type. So the CLI
// reads a bfloat16 input from a float32 file, rounding each value to the
// nearest bfloat16, and writes a bfloat16 output as float32, exactly.

// narrowToDeclared converts each float32 input that the carton declares
// bfloat16 (the rest are left for Infer to judge).
func narrowToDeclared(in map[string]tensor.Tensor, specs []format.TensorSpec) error {
	for _, spec := range specs {
		t, ok := in[spec.Name]
		if !ok || spec.DType != tensor.BFloat16 || t.DType() != tensor.Float32 {
			continue
		}
		b, err := tensor.New(tensor.BFloat16, t.Shape())
		if err != nil {
			return fmt.Errorf("input %s: %w", spec.Name, err)
		}
		dst := tensor.MustView[tensor.BF16](b)
		for i, v := range tensor.MustView[float32](t) {
			dst[i] = tensor.NewBF16(v)
		}
		in[spec.Name] = b
	}
	return nil
}

// npyWritable returns t as a .npy file can hold it: a bfloat16 tensor
// widened to a new float32 one (widened says so), anything else as it is.
func npyWritable(t tensor.Tensor) (w tensor.Tensor, widened bool, err error) {
	if t.DType() != tensor.BFloat16 {
		return t, false, nil
	}
	f, err := tensor.New(tensor.Float32, t.Shape())
	if err != nil {
		return tensor.Tensor{}, false, err
	}
	dst := tensor.MustView[float32](f)
	for i, v := range tensor.MustView[tensor.BF16](t) {
		dst[i] = v.Float32()
	}
	return f, true, nil
}
