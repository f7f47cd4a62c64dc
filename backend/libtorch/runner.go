package libtorch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/libfetch"
)

func init() { backend.Register(Runner{}) }

// Runner is the "torchscript" runner.
type Runner struct{}

func (Runner) Name() string          { return "torchscript" }
func (Runner) Framework() string     { return string(libfetch.LibTorch) }
func (Runner) ModelFileName() string { return "model.pt" }

// Runtimes lists libtorch installations. The version of a directory named
// by option or environment comes from libfetch.LibTorchVersion (a vendor
// archive, carton's cache, or an installed torch package's torch/lib);
// one without any is an error naming what is missing.
func (Runner) Runtimes(ctx context.Context, hints backend.Hints) ([]backend.Runtime, error) {
	return backend.FindRuntimes(ctx, libfetch.LibTorch, hints, func(path string) (string, error) {
		v, err := libfetch.LibTorchVersion(path)
		if err != nil {
			return "", fmt.Errorf("%w: %s: its libtorch version is unknown: %v", backend.ErrNoRuntime, path, err)
		}
		return v, nil
	})
}

type options struct {
	threads, interop int64
}

func parseOptions(opts map[string]any) (options, error) {
	var o options
	for k, v := range opts {
		if k != "num_threads" && k != "num_interop_threads" {
			return o, fmt.Errorf("%w: unknown option %q (known: num_threads, num_interop_threads)", backend.ErrInvalidOption, k)
		}
		n, err := backend.ThreadCount(k, v)
		if err != nil {
			return o, err
		}
		if k == "num_threads" {
			o.threads = n
		} else {
			o.interop = n
		}
	}
	return o, nil
}

// Load opens model/model.pt on the selected libtorch.
func (Runner) Load(ctx context.Context, req backend.LoadRequest) (backend.Session, error) {
	o, err := parseOptions(req.Opts)
	if err != nil {
		return nil, err
	}
	s, err := loadShim(ctx, req.Runtime)
	if err != nil {
		return nil, err
	}
	if coreVersion(s.version) != coreVersion(req.Runtime.Version) {
		return nil, fmt.Errorf("%w: %s was built for libtorch %s, not %s", ErrNoShim, s.path, s.version, req.Runtime.Version)
	}
	if err := s.setThreads(o.threads, o.interop); err != nil {
		return nil, err
	}
	device := req.Device
	if device == "" {
		device = "cpu"
	}
	if strings.HasPrefix(device, "cuda") {
		if err := s.enableCUDA(); err != nil {
			return nil, err
		}
	}
	cfg := &format.Config{}
	if req.Carton != nil {
		cfg = req.Carton.Config
	}
	var path string  // the model file, or
	var model []byte // its bytes, when it loads from memory
	if req.ModelDir == "" {
		if req.Carton == nil {
			return nil, fmt.Errorf("%w: no model directory and no carton", backend.ErrModel)
		}
		b, err := req.Carton.ReadFile("model/model.pt")
		if err != nil {
			return nil, fmt.Errorf("%w: %w", backend.ErrModel, err)
		}
		model = b
	} else {
		path = filepath.Join(req.ModelDir, "model.pt")
		if _, err := os.Stat(path); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("%w: no model/model.pt in the carton", backend.ErrModel)
			}
			return nil, err
		}
	}
	m, err := newModule(s, path, model, device, cfg)
	if err != nil {
		return nil, explainLoadFailure(err, path, model)
	}
	return m, nil
}

// LoadsFromMemory: a lone model.pt of up to backend.MemoryLoadMaxBytes
// loads from the zip's bytes.
func (Runner) LoadsFromMemory(modelFiles []string, modelBytes int64, _ map[string]any) bool {
	return len(modelFiles) == 1 && modelFiles[0] == "model/model.pt" && modelBytes <= backend.MemoryLoadMaxBytes
}
