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
	if !got.shape.Equal(want.shape) {
		return &Mismatch{Reason: fmt.Sprintf("shape %v, want %v", got.shape, want.shape), Index: -1}
	}
	if got.dtype == String {
		for i := range got.strs {
			if got.strs[i] != want.strs[i] {
				return &Mismatch{Reason: fmt.Sprintf("element %d is %q, want %q", i, got.strs[i], want.strs[i]), Index: i}
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
