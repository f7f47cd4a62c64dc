// Package onnxtest writes ONNX models for tests and benchmarks without
// the onnx Python package. It holds no state; its functions are safe for
// concurrent use, and the bytes they return are the caller's.
package onnxtest
