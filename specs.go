package carton

import (
	"fmt"

	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

// inputChecker validates Infer inputs against the declared specs. It is
// built once at Load so that checking allocates nothing on the hot path.
type inputChecker struct {
	specs   []compiledSpec
	symbols int // number of distinct dim symbols
	shapes  int // number of distinct whole-shape symbols
}

type compiledSpec struct {
	name  string
	dtype tensor.DType
	kind  format.ShapeKind
	shape int // whole-shape symbol index (ShapeSymbol)
	dims  []compiledDim
	names []string // symbol names, for messages
}

type compiledDim struct {
	fixed  int64 // >= 0: exact size; -1: any; -2: symbol
	symbol int
}

func newInputChecker(specs []format.TensorSpec) *inputChecker {
	c := &inputChecker{}
	dimSyms, shapeSyms := map[string]int{}, map[string]int{}
	index := func(m map[string]int, name string) int {
		if i, ok := m[name]; ok {
			return i
		}
		m[name] = len(m)
		return m[name]
	}
	for _, s := range specs {
		cs := compiledSpec{name: s.Name, dtype: s.DType, kind: s.Shape.Kind}
		switch s.Shape.Kind {
		case format.ShapeSymbol:
			cs.shape = index(shapeSyms, s.Shape.Symbol)
			cs.names = []string{s.Shape.Symbol}
		case format.ShapeDims:
			for _, d := range s.Shape.Dims {
				cd := compiledDim{fixed: d.Size}
				switch d.Kind {
				case format.DimAny:
					cd.fixed = -1
				case format.DimSymbol:
					cd.fixed, cd.symbol = -2, index(dimSyms, d.Symbol)
				}
				cs.dims = append(cs.dims, cd)
				cs.names = append(cs.names, d.Symbol)
			}
		}
		c.specs = append(c.specs, cs)
	}
	c.symbols, c.shapes = len(dimSyms), len(shapeSyms)
	return c
}

// check returns an ErrInvalidInput error for the first mismatch. When the
// carton declares no inputs the runner decides what it takes, but every
// input must still be a live tensor: a released one would hand the
// framework freed memory.
func (c *inputChecker) check(inputs map[string]tensor.Tensor) error {
	if len(c.specs) == 0 {
		for name, t := range inputs {
			if !t.Valid() {
				return invalidTensor(name)
			}
		}
		return nil
	}
	return c.checkDeclared(inputs)
}

// invalidTensor is the error for an input that is the zero Tensor or was
// released: it matches both ErrInvalidInput and ErrInvalidTensor.
func invalidTensor(name string) error {
	return fmt.Errorf("%w: input %q: %w (the zero Tensor, or released)", ErrInvalidInput, name, tensor.ErrInvalid)
}

func (c *inputChecker) checkDeclared(inputs map[string]tensor.Tensor) error {
	if len(inputs) != len(c.specs) {
		for name := range inputs {
			if !c.declared(name) {
				return fmt.Errorf("%w: %q is not a declared input (declared: %s)", ErrInvalidInput, name, c.declaredNames())
			}
		}
	}
	// Symbol bindings live on the stack for the common case of few symbols.
	var dimBuf [8]int64
	var shapeBuf [4]int
	dims := unbound(dimBuf[:], c.symbols)
	shapes := unbound(shapeBuf[:], c.shapes)
	for i := range c.specs {
		s := &c.specs[i]
		t, ok := inputs[s.name]
		if !ok {
			return fmt.Errorf("%w: missing input %q", ErrInvalidInput, s.name)
		}
		if !t.Valid() {
			return invalidTensor(s.name)
		}
		if t.DType() != s.dtype {
			return fmt.Errorf("%w: input %q is %s, want %s", ErrInvalidInput, s.name, t.DType(), s.dtype)
		}
		shape := t.Shape()
		switch s.kind {
		case format.ShapeAny:
		case format.ShapeSymbol:
			if first := shapes[s.shape]; first >= 0 {
				other := c.specs[first]
				if !shape.Equal(inputs[other.name].Shape()) {
					return fmt.Errorf("%w: input %q has shape %v but %q has %v, and both are shape %q", ErrInvalidInput, s.name, shape, other.name, inputs[other.name].Shape(), s.names[0])
				}
			} else {
				shapes[s.shape] = i
			}
		case format.ShapeDims:
			if len(shape) != len(s.dims) {
				return fmt.Errorf("%w: input %q has rank %d (shape %v), want rank %d", ErrInvalidInput, s.name, len(shape), shape, len(s.dims))
			}
			for j, d := range s.dims {
				switch {
				case d.fixed >= 0 && shape[j] != d.fixed:
					return fmt.Errorf("%w: input %q dimension %d is %d, want %d", ErrInvalidInput, s.name, j, shape[j], d.fixed)
				case d.fixed == -2:
					if bound := dims[d.symbol]; bound < 0 {
						dims[d.symbol] = shape[j]
					} else if bound != shape[j] {
						return fmt.Errorf("%w: input %q dimension %d is %d, but symbol %q is already %d", ErrInvalidInput, s.name, j, shape[j], s.names[j], bound)
					}
				}
			}
		}
	}
	return nil
}

func (c *inputChecker) declared(name string) bool {
	for _, s := range c.specs {
		if s.name == name {
			return true
		}
	}
	return false
}

func (c *inputChecker) declaredNames() string {
	out := ""
	for i, s := range c.specs {
		if i > 0 {
			out += ", "
		}
		out += s.name
	}
	return out
}

// unbound returns n slots set to -1 ("not bound yet"), in buf when it is
// large enough, else in a new slice.
func unbound[T int | int64](buf []T, n int) []T {
	if n > len(buf) {
		buf = make([]T, n)
	}
	buf = buf[:n]
	for i := range buf {
		buf[i] = -1
	}
	return buf
}
