package tensor

import "fmt"

// DType is the element type of a tensor.
type DType uint8

// The dtypes. The zero value is Invalid so that a forgotten dtype is caught.
const (
	Invalid DType = iota
	Float32
	Float64
	String
	Int8
	Int16
	Int32
	Int64
	Uint8
	Uint16
	Uint32
	Uint64
	Bool
	Float16
	BFloat16
)

var dtypeNames = [...]string{
	Invalid:  "invalid",
	Float32:  "float32",
	Float64:  "float64",
	String:   "string",
	Int8:     "int8",
	Int16:    "int16",
	Int32:    "int32",
	Int64:    "int64",
	Uint8:    "uint8",
	Uint16:   "uint16",
	Uint32:   "uint32",
	Uint64:   "uint64",
	Bool:     "bool",
	Float16:  "float16",
	BFloat16: "bfloat16",
}

var dtypeSizes = [...]int{
	Float32: 4, Float64: 8, Int8: 1, Int16: 2, Int32: 4, Int64: 8,
	Uint8: 1, Uint16: 2, Uint32: 4, Uint64: 8, Bool: 1, Float16: 2, BFloat16: 2,
}

// DTypes lists every valid dtype, in declaration order.
func DTypes() []DType {
	out := make([]DType, 0, len(dtypeNames)-1)
	for d := Float32; int(d) < len(dtypeNames); d++ {
		out = append(out, d)
	}
	return out
}

// String returns the dtype's name as written in carton.toml.
func (d DType) String() string {
	if int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// Valid reports whether d is one of the declared dtypes.
func (d DType) Valid() bool { return d > Invalid && int(d) < len(dtypeNames) }

// Size is the byte size of one element, or 0 for String and invalid dtypes.
func (d DType) Size() int {
	if int(d) < len(dtypeSizes) {
		return dtypeSizes[d]
	}
	return 0
}

// IsFloat reports whether d is a floating-point dtype.
func (d DType) IsFloat() bool {
	return d == Float32 || d == Float64 || d == Float16 || d == BFloat16
}

// ParseDType maps a carton.toml dtype name to a DType.
func ParseDType(name string) (DType, error) {
	for d := Float32; int(d) < len(dtypeNames); d++ {
		if dtypeNames[d] == name {
			return d, nil
		}
	}
	return Invalid, fmt.Errorf("%w: unknown dtype %q (want one of float32 float64 string int8 int16 int32 int64 uint8 uint16 uint32 uint64 bool float16 bfloat16)", ErrInvalid, name)
}

// MarshalText implements encoding.TextMarshaler.
func (d DType) MarshalText() ([]byte, error) {
	if !d.Valid() {
		return nil, fmt.Errorf("%w: invalid dtype %d", ErrInvalid, uint8(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *DType) UnmarshalText(b []byte) error {
	v, err := ParseDType(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
