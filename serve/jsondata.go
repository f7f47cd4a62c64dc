package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"unicode/utf8"

	"github.com/carton-run/carton/tensor"
)

// decodeJSON makes a tensor of dtype and shape from a JSON "data" array,
// flat or nested, in row-major order. Integers are decoded exactly (no
// float64 in between, which would round those above 2^53) and must fit
// the dtype; floats are JSON numbers, or "NaN", "Inf", "-Inf", which JSON
// has no numbers for; BYTES elements are strings.
func decodeJSON(dt tensor.DType, shape tensor.Shape, raw json.RawMessage) (tensor.Tensor, error) {
	flat, err := flatten(raw)
	if err != nil {
		return tensor.Tensor{}, err
	}
	if decode, ok := exactDecoders[dt]; ok {
		return decode(shape, flat)
	}
	var v []jsonFloat
	if err := json.Unmarshal(flat, &v); err != nil {
		return tensor.Tensor{}, err
	}
	fs := make([]float64, len(v))
	for i, x := range v {
		fs[i] = float64(x)
	}
	return tensor.FromFloat64s(dt, shape, fs)
}

// flatten returns a nested JSON array ([[1,2],[3,4]]) as a flat one
// ([1,2,3,4]); a flat one as it is.
func flatten(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '[' {
		return nil, fmt.Errorf("%w: data must be an array", ErrBadRequest)
	}
	if inner := bytes.TrimSpace(raw[1:]); len(inner) == 0 || inner[0] != '[' {
		return raw, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	out := []byte{'['}
	depth, n := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: data: %v", ErrBadRequest, err)
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '[':
				depth++
			case ']':
				depth--
			default:
				return nil, fmt.Errorf("%w: data holds an object", ErrBadRequest)
			}
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		b, err := json.Marshal(tok)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
		n++
	}
	return append(out, ']'), nil
}

var exactDecoders = map[tensor.DType]func(tensor.Shape, json.RawMessage) (tensor.Tensor, error){
	tensor.String: func(shape tensor.Shape, raw json.RawMessage) (tensor.Tensor, error) {
		var v []string
		if err := json.Unmarshal(raw, &v); err != nil {
			return tensor.Tensor{}, err
		}
		return tensor.FromStrings(shape, v)
	},
	tensor.Bool: func(shape tensor.Shape, raw json.RawMessage) (tensor.Tensor, error) {
		var v []bool
		if err := json.Unmarshal(raw, &v); err != nil {
			return tensor.Tensor{}, err
		}
		return tensor.From(shape, v)
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

// exact decodes integers exactly as W (json refuses fractions and values
// beyond W) and checks each fits T.
func exact[W int64 | uint64, T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64](shape tensor.Shape, raw json.RawMessage) (tensor.Tensor, error) {
	var v []W
	if err := json.Unmarshal(raw, &v); err != nil {
		return tensor.Tensor{}, err
	}
	out := make([]T, len(v))
	for i, x := range v {
		if W(T(x)) != x {
			return tensor.Tensor{}, fmt.Errorf("%w: %d does not fit %s", tensor.ErrInvalid, x, Datatype(tensor.DTypeOf[T]()))
		}
		out[i] = T(x)
	}
	return tensor.From(shape, out)
}

// jsonFloat is a JSON number, or "NaN", "Inf", "-Inf".
type jsonFloat float64

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*f = jsonFloat(math.NaN())
	case `"Inf"`:
		*f = jsonFloat(math.Inf(1))
	case `"-Inf"`:
		*f = jsonFloat(math.Inf(-1))
	default:
		return json.Unmarshal(b, (*float64)(f))
	}
	return nil
}

func (f jsonFloat) MarshalJSON() ([]byte, error) {
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

// encodeJSON is t's elements as a flat JSON array: integers exact, floats
// as jsonFloat, BYTES as strings (which must be UTF-8: JSON cannot carry
// other bytes unchanged; ask for binary data instead).
func encodeJSON(t tensor.Tensor) (json.RawMessage, error) {
	if strs, err := t.Strings(); err == nil {
		for i, s := range strs {
			if !utf8.ValidString(s) {
				return nil, fmt.Errorf("element %d is not valid UTF-8, which JSON cannot carry unchanged (ask for binary_data)", i)
			}
		}
		return json.Marshal(strs)
	}
	if v, ok := exactViews[t.DType()]; ok {
		return json.Marshal(v(t))
	}
	vals, err := tensor.Float64s(t)
	if err != nil {
		return nil, err
	}
	fs := make([]jsonFloat, len(vals))
	for i, x := range vals {
		fs[i] = jsonFloat(x)
	}
	return json.Marshal(fs)
}

// exactViews give the dtypes JSON holds exactly as Go slices that
// encoding/json writes as arrays of numbers or booleans.
var exactViews = map[tensor.DType]func(tensor.Tensor) any{
	tensor.Bool:  view[bool],
	tensor.Int8:  view[int8],
	tensor.Int16: view[int16],
	tensor.Int32: view[int32],
	tensor.Int64: view[int64],
	tensor.Uint8: func(t tensor.Tensor) any { // a []uint8 would be base64
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
