package libfetch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
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
	// Origin says where a runtime in the cache was downloaded from
	// (Installed.Origin); "" for others.
	Origin string
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

// Find asks the sources and returns their candidates, in source order. A
// runtime named explicitly (the option, else the environment variable) is
// the only candidate when there is one: the caller asked for it, and the
// others cost a probe each (an interpreter, npm) for nothing. Otherwise
// every source is asked, at once: each probe takes a process start. An
// explicit path that does not exist is an error; a source that fails
// otherwise is skipped, and its error is returned joined only if nothing
// at all was found.
func Find(ctx context.Context, req Request, sources ...Source) ([]Candidate, error) {
	if len(sources) == 0 {
		sources = DefaultSources
	}
	for len(sources) > 0 && isExplicit(sources[0]) {
		c, err := sources[0].Find(ctx, req)
		if err != nil {
			return nil, err
		}
		if len(c) > 0 {
			return c, nil
		}
		sources = sources[1:]
	}
	found := make([][]Candidate, len(sources))
	errs := make([]error, len(sources))
	var wg sync.WaitGroup
	for i, s := range sources {
		wg.Go(func() { found[i], errs[i] = s.Find(ctx, req) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Candidate
	var failed []error
	for i, err := range errs {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", sources[i].Name(), err))
			continue
		}
		out = append(out, found[i]...)
	}
	if len(out) == 0 && len(failed) > 0 {
		return nil, errors.Join(failed...)
	}
	return out, nil
}

// isExplicit: the source gives what the caller named.
func isExplicit(s Source) bool {
	switch s.(type) {
	case explicitSource, envSource:
		return true
	}
	return false
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
