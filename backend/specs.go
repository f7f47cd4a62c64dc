package backend

import (
	"fmt"

	"github.com/carton-run/carton/format"
)

// SpecReporter is implemented by sessions whose framework reports the
// model's own inputs and outputs (names, dtypes, shapes) once loaded.
// carton.Load checks the carton's declared specs against them.
type SpecReporter interface {
	ModelSpecs() (inputs, outputs []format.TensorSpec)
}

// CheckDeclared refuses declared specs that contradict the model's: a
// tensor declared with another dtype than the model's, or with a rank or
// a fixed dimension the model fixes otherwise. A declared tensor the
// model does not name, or a dimension either side leaves open, is not a
// contradiction. The error wraps ErrModel and names the tensor.
func CheckDeclared(declaredIn, declaredOut, modelIn, modelOut []format.TensorSpec) error {
	for _, side := range []struct {
		what            string
		declared, model []format.TensorSpec
	}{{"input", declaredIn, modelIn}, {"output", declaredOut, modelOut}} {
		byName := map[string]format.TensorSpec{}
		for _, s := range side.model {
			byName[s.Name] = s
		}
		for _, d := range side.declared {
			m, ok := byName[d.Name]
			if !ok {
				continue
			}
			if d.DType != m.DType {
				return fmt.Errorf("%w: carton.toml declares %s %q as %s, but the model's is %s", ErrModel, side.what, d.Name, d.DType, m.DType)
			}
			if d.Shape.Kind != format.ShapeDims || m.Shape.Kind != format.ShapeDims {
				continue
			}
			if len(d.Shape.Dims) != len(m.Shape.Dims) {
				return fmt.Errorf("%w: carton.toml declares %s %q with shape %s, but the model's has rank %d (%s)", ErrModel, side.what, d.Name, d.Shape, len(m.Shape.Dims), m.Shape)
			}
			for i, dd := range d.Shape.Dims {
				md := m.Shape.Dims[i]
				if dd.Kind == format.DimFixed && md.Kind == format.DimFixed && dd.Size != md.Size {
					return fmt.Errorf("%w: carton.toml declares %s %q with shape %s, but the model fixes dimension %d at %d (%s)", ErrModel, side.what, d.Name, d.Shape, i, md.Size, m.Shape)
				}
			}
		}
	}
	return nil
}
