package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DimKind says what one dimension of a declared shape allows.
type DimKind uint8

const (
	DimFixed  DimKind = iota // exactly Size
	DimAny                   // "*": any size, independently at each use
	DimSymbol                // a name: the same size wherever the symbol appears
)

// Dim is one dimension of a declared shape.
type Dim struct {
	Kind   DimKind
	Size   int64  // DimFixed
	Symbol string // DimSymbol
}

// ShapeKind says how a declared shape constrains a tensor.
type ShapeKind uint8

const (
	ShapeDims   ShapeKind = iota // a list of dims; empty means scalar
	ShapeAny                     // "*": any shape
	ShapeSymbol                  // a name for the whole shape
)

// ShapeSpec is a declared shape from carton.toml.
type ShapeSpec struct {
	Kind   ShapeKind
	Symbol string // ShapeSymbol
	Dims   []Dim  // ShapeDims
}

// AnyShape is the "*" shape.
var AnyShape = ShapeSpec{Kind: ShapeAny}

// ParseShapeSpec parses the command-line form: "*", a symbol, "" or "[]" for a
// scalar, or comma-separated dims ("batch,3,224,224", where "*" and names are
// allowed).
func ParseShapeSpec(s string) (ShapeSpec, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "*":
		return AnyShape, nil
	case s == "" || s == "[]":
		return ShapeSpec{Kind: ShapeDims, Dims: []Dim{}}, nil
	case !strings.Contains(s, ",") && !isNumber(s) && !strings.HasPrefix(s, "["):
		if err := checkSymbol(s); err != nil {
			return ShapeSpec{}, err
		}
		return ShapeSpec{Kind: ShapeSymbol, Symbol: s}, nil
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	spec := ShapeSpec{Kind: ShapeDims, Dims: []Dim{}}
	for _, p := range strings.Split(s, ",") {
		p = strings.Trim(strings.TrimSpace(p), `"'`)
		d, err := parseDim(p)
		if err != nil {
			return ShapeSpec{}, err
		}
		spec.Dims = append(spec.Dims, d)
	}
	return spec, nil
}

func isNumber(s string) bool {
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

func parseDim(p string) (Dim, error) {
	switch {
	case p == "*":
		return Dim{Kind: DimAny}, nil
	case isNumber(p):
		n, _ := strconv.ParseInt(p, 10, 64)
		if n < 0 {
			return Dim{}, fmt.Errorf("%w: negative dimension %d", ErrMalformed, n)
		}
		return Dim{Kind: DimFixed, Size: n}, nil
	}
	if err := checkSymbol(p); err != nil {
		return Dim{}, err
	}
	return Dim{Kind: DimSymbol, Symbol: p}, nil
}

// ValidSymbol reports whether s can name a dimension or shape symbol.
func ValidSymbol(s string) bool { return checkSymbol(s) == nil && s != "*" && !isNumber(s) }

func checkSymbol(s string) error {
	if s == "" || strings.ContainsAny(s, ",[]\"' \t\n") || !utf8.ValidString(s) {
		return fmt.Errorf("%w: %q is not a valid shape symbol", ErrMalformed, s)
	}
	return nil
}

// shapeFromTOML converts a decoded TOML value (string or array) to a ShapeSpec.
func shapeFromTOML(v any) (ShapeSpec, error) {
	switch v := v.(type) {
	case nil:
		return ShapeSpec{}, fmt.Errorf("%w: shape is required", ErrMalformed)
	case string:
		if v == "*" {
			return AnyShape, nil
		}
		if err := checkSymbol(v); err != nil {
			return ShapeSpec{}, err
		}
		return ShapeSpec{Kind: ShapeSymbol, Symbol: v}, nil
	case []any:
		spec := ShapeSpec{Kind: ShapeDims, Dims: make([]Dim, 0, len(v))}
		for _, e := range v {
			switch e := e.(type) {
			case int64:
				if e < 0 {
					return ShapeSpec{}, fmt.Errorf("%w: negative dimension %d", ErrMalformed, e)
				}
				spec.Dims = append(spec.Dims, Dim{Kind: DimFixed, Size: e})
			case string:
				d, err := parseDim(e)
				if err != nil {
					return ShapeSpec{}, err
				}
				if d.Kind == DimFixed { // "3" as a string is a symbol upstream; keep it one
					d = Dim{Kind: DimSymbol, Symbol: e}
				}
				spec.Dims = append(spec.Dims, d)
			default:
				return ShapeSpec{}, fmt.Errorf("%w: shape entry %v (%T) is neither an integer nor a string", ErrMalformed, e, e)
			}
		}
		return spec, nil
	}
	return ShapeSpec{}, fmt.Errorf("%w: shape %v (%T) is neither a string nor a list", ErrMalformed, v, v)
}

// toTOML returns the value written to carton.toml.
func (s ShapeSpec) toTOML() any {
	switch s.Kind {
	case ShapeAny:
		return "*"
	case ShapeSymbol:
		return s.Symbol
	}
	out := make([]any, len(s.Dims))
	for i, d := range s.Dims {
		switch d.Kind {
		case DimFixed:
			out[i] = d.Size
		case DimAny:
			out[i] = "*"
		default:
			out[i] = d.Symbol
		}
	}
	return out
}

// String is the command-line form accepted by ParseShapeSpec.
func (s ShapeSpec) String() string {
	v := s.toTOML()
	if str, ok := v.(string); ok { // "*" or a whole-shape symbol
		return str
	}
	parts := make([]string, len(s.Dims))
	for i, d := range v.([]any) {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// MarshalJSON writes the carton.toml form: "*", "symbol" or [dims...].
func (s ShapeSpec) MarshalJSON() ([]byte, error) { return json.Marshal(s.toTOML()) }

// UnmarshalJSON reads what MarshalJSON writes.
func (s *ShapeSpec) UnmarshalJSON(b []byte) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // a float64 would round dimensions above 2^53
	if err := dec.Decode(&v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the shape in %q", ErrMalformed, b)
	}
	if list, ok := v.([]any); ok {
		for i, e := range list {
			if n, ok := e.(json.Number); ok {
				d, err := n.Int64()
				if err != nil {
					return fmt.Errorf("%w: dimension %s is not an integer", ErrMalformed, n)
				}
				list[i] = d
			}
		}
	}
	spec, err := shapeFromTOML(v)
	if err != nil {
		return err
	}
	*s = spec
	return nil
}
