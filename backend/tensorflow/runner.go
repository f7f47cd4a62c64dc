package tensorflow

import (
	"context"
	"fmt"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/libfetch"
)

func init() { backend.Register(Runner{}) }

// Runner is the "tensorflow" runner.
type Runner struct{}

func (Runner) Name() string      { return "tensorflow" }
func (Runner) Framework() string { return string(libfetch.TensorFlow) }

// Runtimes lists TensorFlow installations libfetch finds. Those whose
// version the source does not know (explicit paths) are loaded to ask.
func (Runner) Runtimes(ctx context.Context, hints backend.Hints) ([]backend.Runtime, error) {
	return backend.FindRuntimes(ctx, libfetch.TensorFlow, hints, Version)
}

// Load opens the SavedModel in model/saved_model/ (or model/) through the
// chosen signature.
func (Runner) Load(ctx context.Context, req backend.LoadRequest) (backend.Session, error) {
	if req.Device != "" && req.Device != "cpu" {
		return nil, fmt.Errorf("%w: device %q: the tensorflow runner runs on cpu only for now", backend.ErrInvalidOption, req.Device)
	}
	o, err := parseOptions(req.Opts)
	if err != nil {
		return nil, err
	}
	if req.ModelDir == "" {
		return nil, fmt.Errorf("%w: a SavedModel loads from a directory; the carton was not extracted", backend.ErrModel)
	}
	dir, err := savedModelDir(req.ModelDir)
	if err != nil {
		return nil, err
	}
	lib, err := loadLibrary(req.Runtime.Path)
	if err != nil {
		return nil, err
	}
	return newSession(lib, dir, o)
}

// InspectSpecs reads the signature's inputs and outputs from saved_model.pb
// in pure Go, for carton pack; no TensorFlow runtime is needed. The
// signature and tags come from hints.RunnerOpts, else the defaults.
func (Runner) InspectSpecs(_ context.Context, modelDir string, hints backend.Hints) (inputs, outputs []format.TensorSpec, err error) {
	o, err := parseOptions(hints.RunnerOpts)
	if err != nil {
		return nil, nil, err
	}
	dir, err := savedModelDir(modelDir)
	if err != nil {
		return nil, nil, err
	}
	sm, err := readSavedModel(dir)
	if err != nil {
		return nil, nil, err
	}
	mg, err := metaGraph(sm, o.tags)
	if err != nil {
		return nil, nil, err
	}
	sig, err := resolveSignature(mg, o.signature)
	if err != nil {
		return nil, nil, err
	}
	return toSpecs(sig.inputs), toSpecs(sig.outputs), nil
}
