package main

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"

	"github.com/carton-run/carton/tensor"
)

// wireTensor is a tensor in JSON: numbers (or strings, or booleans) in C
// order. Integers travel exactly (int64 and uint64 included); floats as
// JSON numbers, with NaN and the infinities as the strings "NaN", "Inf" and
// "-Inf", which JSON has no numbers for.
type wireTensor struct {
	DType string          `json:"dtype"`
	Shape []int64         `json:"shape"`
	Data  json.RawMessage `json:"data"`
}

// fromWire decodes data into the dtype's Go type in one pass: no
// intermediate float64 (which would round integers above 2^53), and no
// allocation per element.
func fromWire(wt wireTensor) (tensor.Tensor, error) {
	dt, err := tensor.ParseDType(wt.DType)
	if err != nil {
		return tensor.Tensor{}, err
	}
	if decode, ok := exactDecoders[dt]; ok {
		return decode(wt)
	}
	var v []wireFloat
	if err := json.Unmarshal(wt.Data, &v); err != nil {
		return tensor.Tensor{}, err
	}
	return tensor.FromFloat64s(dt, wt.Shape, wireFloats(v))
}

// exactDecoders decode the dtypes JSON holds exactly; other dtypes are
// floats.
var exactDecoders = map[tensor.DType]func(wireTensor) (tensor.Tensor, error){
	tensor.String: func(wt wireTensor) (tensor.Tensor, error) {
		var v []string
		if err := json.Unmarshal(wt.Data, &v); err != nil {
			return tensor.Tensor{}, err
		}
		return tensor.FromStrings(wt.Shape, v)
	},
	tensor.Bool: func(wt wireTensor) (tensor.Tensor, error) {
		var v []bool
		if err := json.Unmarshal(wt.Data, &v); err != nil {
			return tensor.Tensor{}, err
		}
		return tensor.From(wt.Shape, v)
	},
	tensor.Int8:   exact[int64, int8],
	tensor.Int16:  exact[int64, int16],
	tensor.Int32:  exact[int64, int32],
	tensor.Int64:  exact[int64, int64],
	tensor.Uint8:  exact[uint64, uint8],
	tensor.Uint16: exact[uint64, uint16],
	tensor.Uint32: exact[uint64, uint32],
	tensor.Uint64: exact[uint64, uint64],
}

// exact decodes integers exactly as W (json rejects fractions and values
// beyond W) and checks each fits T.
func exact[W int64 | uint64, T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64](wt wireTensor) (tensor.Tensor, error) {
	var v []W
	if err := json.Unmarshal(wt.Data, &v); err != nil {
		return tensor.Tensor{}, err
	}
	out := make([]T, len(v))
	for i, x := range v {
		if W(T(x)) != x {
			return tensor.Tensor{}, fmt.Errorf("%w: %d does not fit %s", tensor.ErrInvalid, x, wt.DType)
		}
		out[i] = T(x)
	}
	return tensor.From(wt.Shape, out)
}

// wireFloat is a JSON number, or "NaN", "Inf", "-Inf".
type wireFloat float64

func (f *wireFloat) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*f = wireFloat(math.NaN())
	case `"Inf"`:
		*f = wireFloat(math.Inf(1))
	case `"-Inf"`:
		*f = wireFloat(math.Inf(-1))
	default:
		return json.Unmarshal(b, (*float64)(f))
	}
	return nil
}

func (f wireFloat) MarshalJSON() ([]byte, error) {
	switch x := float64(f); {
	case math.IsNaN(x):
		return []byte(`"NaN"`), nil
	case math.IsInf(x, 1):
		return []byte(`"Inf"`), nil
	case math.IsInf(x, -1):
		return []byte(`"-Inf"`), nil
	}
	return json.Marshal(float64(f))
}

func wireFloats(v []wireFloat) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// exactViews give the dtypes JSON holds exactly as Go slices json encodes
// as arrays of numbers, booleans or strings; other dtypes are floats.
var exactViews = map[tensor.DType]func(tensor.Tensor) any{
	tensor.String: func(t tensor.Tensor) any { v, _ := t.Strings(); return v },
	tensor.Bool:   view[bool],
	tensor.Int8:   view[int8],
	tensor.Int16:  view[int16],
	tensor.Int32:  view[int32],
	tensor.Int64:  view[int64],
	tensor.Uint8: func(t tensor.Tensor) any { // a []uint8 would encode as base64
		v, _ := tensor.View[uint8](t)
		wide := make([]uint16, len(v))
		for i, x := range v {
			wide[i] = uint16(x)
		}
		return wide
	},
	tensor.Uint16: view[uint16],
	tensor.Uint32: view[uint32],
	tensor.Uint64: view[uint64],
}

func view[T tensor.Elem](t tensor.Tensor) any { v, _ := tensor.View[T](t); return v }

// toWire encodes t; integers exactly, floats as wireFloat.
func toWire(t tensor.Tensor) (wireTensor, error) {
	// A copy: the shape is the tensor's, whose memory a later Infer reuses
	// once the outputs are given back.
	wt := wireTensor{DType: t.DType().String(), Shape: slices.Clone(t.Shape())}
	if strs, err := t.Strings(); err == nil {
		// encoding/json would put U+FFFD in place of each bad byte
		if i := slices.IndexFunc(strs, func(s string) bool { return !utf8.ValidString(s) }); i >= 0 {
			return wt, fmt.Errorf("string element %d is not valid UTF-8, which a JSON string cannot carry unchanged", i)
		}
	}
	var data any
	if v, ok := exactViews[t.DType()]; ok {
		data = v(t)
	} else {
		vals, err := tensor.Float64s(t)
		if err != nil {
			return wt, err
		}
		fs := make([]wireFloat, len(vals))
		for i, x := range vals {
			fs[i] = wireFloat(x)
		}
		data = fs
	}
	b, err := json.Marshal(data)
	wt.Data = b
	return wt, err
}
