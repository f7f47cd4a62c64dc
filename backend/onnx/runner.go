package onnx

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/libfetch"
)

func init() { backend.Register(Runner{}) }

// Runner is the "onnx" runner.
type Runner struct{}

func (Runner) Name() string          { return "onnx" }
func (Runner) Framework() string     { return string(libfetch.ONNXRuntime) }
func (Runner) ModelFileName() string { return "model.onnx" }

// Runtimes lists ONNX Runtime libraries found by libfetch. Libraries whose
// version the source does not know (explicit paths) are loaded to ask.
func (Runner) Runtimes(ctx context.Context, hints backend.Hints) ([]backend.Runtime, error) {
	return backend.FindRuntimes(ctx, libfetch.ONNXRuntime, hints, Version)
}

// Load opens model.onnx on the chosen library.
func (Runner) Load(ctx context.Context, req backend.LoadRequest) (backend.Session, error) {
	if req.Device != "" && req.Device != "cpu" {
		return nil, fmt.Errorf("%w: device %q: the onnx runner runs on cpu only for now", backend.ErrInvalidOption, req.Device)
	}
	o, err := parseOptions(req.Opts)
	if err != nil {
		return nil, err
	}
	lib, err := loadLibrary(req.Runtime.Path)
	if err != nil {
		return nil, err
	}
	if req.ModelDir == "" || o.loadFrom == "bytes" {
		if req.Carton == nil {
			return nil, fmt.Errorf("%w: no model directory and no carton to read model.onnx from", backend.ErrModel)
		}
		b, err := req.Carton.ReadFile("model/model.onnx")
		if err != nil {
			return nil, fmt.Errorf("%w: %w", backend.ErrModel, err)
		}
		return newSession(lib, "", b, o)
	}
	p, err := modelPath(req.ModelDir)
	if err != nil {
		return nil, err
	}
	return newSession(lib, p, nil, o)
}

// LoadsFromMemory reports whether a carton with these model/ files is
// loaded from bytes without extracting: load_from decides, and by default
// a lone model.onnx (external data must sit beside the model on disk) of
// up to backend.MemoryLoadMaxBytes.
func (Runner) LoadsFromMemory(modelFiles []string, modelBytes int64, opts map[string]any) bool {
	mode, _ := opts["load_from"].(string)
	switch mode {
	case "bytes":
		return true
	case "file":
		return false
	}
	return len(modelFiles) == 1 && modelFiles[0] == "model/model.onnx" && modelBytes <= backend.MemoryLoadMaxBytes
}

// InspectSpecs reads input and output names, dtypes and shapes from the
// model, for carton pack. Dynamic dims become their symbolic name, or "*";
// a value declared without a shape becomes "*", any shape.
func (r Runner) InspectSpecs(ctx context.Context, modelDir string, hints backend.Hints) (inputs, outputs []format.TensorSpec, err error) {
	sel, err := backend.Select(ctx, r.Name(), "*", nil, hints, "")
	if err != nil {
		return nil, nil, err
	}
	lib, err := loadLibrary(sel.Runtime.Path)
	if err != nil {
		return nil, nil, err
	}
	p, err := modelPath(modelDir)
	if err != nil {
		return nil, nil, err
	}
	s, err := newSession(lib, p, nil, sessionOptions{optLevel: 0})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", backend.ErrModel, filepath.Base(p), err)
	}
	defer s.Close()
	return toSpecs(s.inputs), toSpecs(s.outputs), nil
}

// ModelSpecs are the model's inputs and outputs as ONNX Runtime reports
// them (backend.SpecReporter); outputs that are not tensors are left out.
func (s *session) ModelSpecs() (inputs, outputs []format.TensorSpec) {
	return toSpecs(s.inputs), toSpecs(s.outputs)
}

func toSpecs(ios []ioSpec) []format.TensorSpec {
	out := make([]format.TensorSpec, len(ios))
	for i, io := range ios {
		out[i] = format.TensorSpec{Name: io.name, DType: io.dtype, Shape: backend.DeclaredShape(io.dims, io.symbolic)}
		if io.anyRank {
			out[i].Shape = format.AnyShape
		}
	}
	return out
}
