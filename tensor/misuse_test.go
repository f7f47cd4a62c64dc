package tensor

import (
	"errors"
	"math"
	"testing"
	"unsafe"
)

// Every constructor refuses arguments that would make a tensor over
// memory it cannot hold, and none panics.
func TestConstructorsRefuseMisuse(t *testing.T) {
	buf := make([]float32, 4)
	p := unsafe.Pointer(&buf[0])
	huge := Shape{math.MaxInt64, 2}
	cases := map[string]func() (Tensor, error){
		"Foreign nil pointer":          func() (Tensor, error) { return Foreign(Float32, Shape{16384}, nil, 65536, nil) },
		"Foreign nil pointer 1 GiB":    func() (Tensor, error) { return Foreign(Float32, Shape{1 << 28}, nil, 1<<30, nil) },
		"ForeignHandle nil pointer":    func() (Tensor, error) { return ForeignHandle(Float32, Shape{16384}, nil, 65536, func(uintptr) {}, 1) },
		"ForeignShared nil pointer":    func() (Tensor, error) { return ForeignShared(Float32, Shape{16384}, nil, 65536, nopReleaser{}) },
		"Foreign negative size":        func() (Tensor, error) { return Foreign(Float32, Shape{}, p, -4, nil) },
		"ForeignHandle negative size":  func() (Tensor, error) { return ForeignHandle(Float32, Shape{}, p, -4, nil, 0) },
		"Foreign size and shape":       func() (Tensor, error) { return Foreign(Float32, Shape{5}, p, 16, nil) },
		"Foreign string":               func() (Tensor, error) { return Foreign(String, Shape{1}, p, 16, nil) },
		"Foreign invalid dtype":        func() (Tensor, error) { return Foreign(DType(200), Shape{1}, p, 4, nil) },
		"Foreign negative dim":         func() (Tensor, error) { return Foreign(Float32, Shape{-1}, p, 4, nil) },
		"ForeignShared overflow shape": func() (Tensor, error) { return ForeignShared(Float32, huge, p, 16, nopReleaser{}) },
		"From short data":              func() (Tensor, error) { return From(Shape{5}, buf) },
		"From overflow shape":          func() (Tensor, error) { return From(huge, buf) },
		"FromStrings short":            func() (Tensor, error) { return FromStrings(Shape{2}, []string{"a"}) },
		"FromBytes odd length":         func() (Tensor, error) { return FromBytes(Float32, Shape{1}, make([]byte, 3)) },
		"FromBytes string":             func() (Tensor, error) { return FromBytes(String, Shape{1}, make([]byte, 16)) },
		"New huge":                     func() (Tensor, error) { return New(Float64, Shape{1 << 62}) },
		"New huge strings":             func() (Tensor, error) { return New(String, Shape{1 << 62}) },
		"New invalid dtype":            func() (Tensor, error) { return New(DType(0), Shape{1}) },
		"Carve short block":            func() (Tensor, error) { c, _, err := Carve(make([]byte, 8), Float32, Shape{4}); return c, err },
	}
	for name, make := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panicked: %v", r)
				}
			}()
			got, err := make()
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if got.Valid() {
				t.Fatal("a refused constructor returned a valid tensor")
			}
		})
	}
}

// An empty foreign tensor may have a nil pointer: there is nothing to read.
func TestForeignEmptyMayBeNil(t *testing.T) {
	e, err := Foreign(Float32, Shape{0, 3}, nil, 0, nil)
	if err != nil || !e.Valid() || e.Len() != 0 {
		t.Fatalf("empty foreign tensor: %v, %v", e, err)
	}
}

type nopReleaser struct{}

func (nopReleaser) Release() {}
