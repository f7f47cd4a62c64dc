package libfetch

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// Framework names a runtime family.
type Framework string

const (
	ONNXRuntime Framework = "onnxruntime"
	LibTorch    Framework = "libtorch"
	TensorFlow  Framework = "tensorflow"
)

// Env variables that point at a runtime explicitly.
var envVars = map[Framework]string{
	ONNXRuntime: "CARTON_ONNXRUNTIME_LIB",
	LibTorch:    "CARTON_LIBTORCH_DIR",
	TensorFlow:  "CARTON_TENSORFLOW_DIR",
}

// Candidate is one runtime installation.
type Candidate struct {
	Framework Framework
	// Version is the framework version, or "" when the source cannot tell
	// without loading the library (explicit paths); the caller fills it in.
	Version string
	Source  string // "option", "env", "python", "npm"
	Path    string // the library file (onnxruntime) or directory (libtorch, tensorflow)
}

// Request says what to look for.
type Request struct {
	Framework    Framework
	ExplicitPath string // from a Load option; checked first
}

// Source finds candidates of one kind.
type Source interface {
	Name() string
	Find(ctx context.Context, req Request) ([]Candidate, error)
}

// DefaultSources are consulted by Find, in order.
var DefaultSources = []Source{explicitSource{}, envSource{}, cacheSource{}, pythonSource{}, npmSource{}}

// ErrNotFound: a path given explicitly does not exist.
var ErrNotFound = errors.New("runtime not found")

// Find asks every source and returns all candidates, in source order. An
// explicit path that does not exist is an error (the caller asked for it);
// a source that fails otherwise is skipped, and its error is returned
// joined only if nothing at all was found.
func Find(ctx context.Context, req Request, sources ...Source) ([]Candidate, error) {
	if len(sources) == 0 {
		sources = DefaultSources
	}
	var out []Candidate
	var errs []error
	for _, s := range sources {
		c, err := s.Find(ctx, req)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, err
			}
			errs = append(errs, fmt.Errorf("%s: %w", s.Name(), err))
			continue
		}
		out = append(out, c...)
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

type explicitSource struct{}

func (explicitSource) Name() string { return "option" }
func (explicitSource) Find(_ context.Context, req Request) ([]Candidate, error) {
	return pathCandidate(req.Framework, req.ExplicitPath, "option")
}

type envSource struct{}

func (envSource) Name() string { return "env" }
func (envSource) Find(_ context.Context, req Request) ([]Candidate, error) {
	return pathCandidate(req.Framework, os.Getenv(envVars[req.Framework]), "env")
}

func pathCandidate(fw Framework, path, source string) ([]Candidate, error) {
	if path == "" {
		return nil, nil
	}
	if _, err := os.Stat(path); err != nil {
		what := "option"
		if source == "env" {
			what = "$" + envVars[fw]
		}
		return nil, fmt.Errorf("%w: %s names %s: %v", ErrNotFound, what, path, err)
	}
	return []Candidate{{Framework: fw, Source: source, Path: path}}, nil
}
