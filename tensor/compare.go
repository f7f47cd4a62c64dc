package tensor

import (
	"fmt"
	"math"
)

// Float64s converts the elements of a numeric tensor to float64 (bool as 0/1)
// into a new slice. Large int64/uint64 values lose precision.
func Float64s(t Tensor) ([]float64, error) {
	if !t.Valid() || t.dtype == String {
		return nil, fmt.Errorf("%w: Float64s needs a valid numeric tensor, got %s", ErrInvalid, t.dtype)
	}
	out := make([]float64, t.Len())
	switch t.dtype {
	case Float32:
		convert(out, MustView[float32](t))
	case Float64:
		copy(out, MustView[float64](t))
	case Int8:
		convert(out, MustView[int8](t))
	case Int16:
		convert(out, MustView[int16](t))
	case Int32:
		convert(out, MustView[int32](t))
	case Int64:
		convert(out, MustView[int64](t))
	case Uint8:
		convert(out, MustView[uint8](t))
	case Uint16:
		convert(out, MustView[uint16](t))
	case Uint32:
		convert(out, MustView[uint32](t))
	case Uint64:
		convert(out, MustView[uint64](t))
	case Bool:
		for i, v := range MustView[bool](t) {
			if v {
				out[i] = 1
			}
		}
	case Float16:
		for i, v := range MustView[F16](t) {
			out[i] = float64(v.Float32())
		}
	case BFloat16:
		for i, v := range MustView[BF16](t) {
			out[i] = float64(v.Float32())
		}
	}
	return out, nil
}

func convert[T float32 | int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64](dst []float64, src []T) {
	for i, v := range src {
		dst[i] = float64(v)
	}
}

// Tolerance is the allclose rule: |got-want| <= Atol + Rtol*|want|, with
// NaN equal to NaN. Integer, bool and string tensors compare exactly.
type Tolerance struct{ Rtol, Atol float64 }

// DefaultTolerance is numpy.allclose's default.
var DefaultTolerance = Tolerance{Rtol: 1e-5, Atol: 1e-8}

// Mismatch describes why two tensors differ; nil means they match.
type Mismatch struct {
	Reason string
	Index  int // flat index of the first differing element, or -1
}

func (m *Mismatch) Error() string { return m.Reason }

// Compare checks got against want: same dtype, same shape, elements equal
// (exact for integers, bools and strings; within tol for floats).
func Compare(got, want Tensor, tol Tolerance) *Mismatch {
	if got.dtype != want.dtype {
		return &Mismatch{Reason: fmt.Sprintf("dtype %s, want %s", got.dtype, want.dtype), Index: -1}
	}
	if !got.Shape().Equal(want.Shape()) {
		return &Mismatch{Reason: fmt.Sprintf("shape %v, want %v", got.Shape(), want.Shape()), Index: -1}
	}
	if got.dtype == String {
		g, w := got.strs(), want.strs()
		for i := range g {
			if g[i] != w[i] {
				return &Mismatch{Reason: fmt.Sprintf("element %d is %q, want %q", i, g[i], w[i]), Index: i}
			}
		}
		return nil
	}
	if !got.dtype.IsFloat() {
		g, w := got.Bytes(), want.Bytes()
		size := got.dtype.Size()
		for i := 0; i < len(g); i += size {
			if string(g[i:i+size]) != string(w[i:i+size]) {
				gv, _ := Float64s(got)
				wv, _ := Float64s(want)
				return &Mismatch{Reason: fmt.Sprintf("element %d is %v, want %v", i/size, gv[i/size], wv[i/size]), Index: i / size}
			}
		}
		return nil
	}
	g, _ := Float64s(got)
	w, _ := Float64s(want)
	for i := range g {
		if math.IsNaN(g[i]) && math.IsNaN(w[i]) {
			continue
		}
		if g[i] == w[i] { // covers equal infinities
			continue
		}
		if !(math.Abs(g[i]-w[i]) <= tol.Atol+tol.Rtol*math.Abs(w[i])) {
			return &Mismatch{Reason: fmt.Sprintf("element %d is %g, want %g (rtol %g, atol %g)", i, g[i], w[i], tol.Rtol, tol.Atol), Index: i}
		}
	}
	return nil
}

// FromFloat64s builds a numeric tensor of dtype from float64 values,
// converting each (rounding toward zero for integers, non-zero as true for
// bool). It copies: for data arriving as text, such as JSON.
func FromFloat64s(dtype DType, shape Shape, vals []float64) (Tensor, error) {
	if dtype == String {
		return Tensor{}, fmt.Errorf("%w: FromFloat64s needs a numeric dtype", ErrInvalid)
	}
	// Count before allocating: the shape may come from a request that
	// claims far more elements than it carries.
	n, err := shape.NumElements()
	if err != nil {
		return Tensor{}, err
	}
	if n != len(vals) {
		return Tensor{}, fmt.Errorf("%w: %d values do not fill shape %v (%d elements)", ErrInvalid, len(vals), shape, n)
	}
	t, err := New(dtype, shape)
	if err != nil {
		return Tensor{}, err
	}
	switch dtype {
	case Float32:
		fill(MustView[float32](t), vals, func(v float64) float32 { return float32(v) })
	case Float64:
		copy(MustView[float64](t), vals)
	case Int8:
		fill(MustView[int8](t), vals, func(v float64) int8 { return int8(v) })
	case Int16:
		fill(MustView[int16](t), vals, func(v float64) int16 { return int16(v) })
	case Int32:
		fill(MustView[int32](t), vals, func(v float64) int32 { return int32(v) })
	case Int64:
		fill(MustView[int64](t), vals, func(v float64) int64 { return int64(v) })
	case Uint8:
		fill(MustView[uint8](t), vals, func(v float64) uint8 { return uint8(v) })
	case Uint16:
		fill(MustView[uint16](t), vals, func(v float64) uint16 { return uint16(v) })
	case Uint32:
		fill(MustView[uint32](t), vals, func(v float64) uint32 { return uint32(v) })
	case Uint64:
		fill(MustView[uint64](t), vals, func(v float64) uint64 { return uint64(v) })
	case Bool:
		fill(MustView[bool](t), vals, func(v float64) bool { return v != 0 })
	case Float16:
		fill(MustView[F16](t), vals, func(v float64) F16 { return NewF16(float32(v)) })
	case BFloat16:
		fill(MustView[BF16](t), vals, func(v float64) BF16 { return NewBF16(float32(v)) })
	}
	return t, nil
}

func fill[T any](dst []T, vals []float64, conv func(float64) T) {
	for i, v := range vals {
		dst[i] = conv(v)
	}
}
