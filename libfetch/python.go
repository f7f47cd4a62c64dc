package libfetch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// pythonProbe prints, as JSON, the version and install directory of each
// framework package without importing it (imports are slow and may fail).
const pythonProbe = `
import json, importlib.metadata as md, importlib.util as u
out = {}
for fw, pkg, dists in [("onnxruntime", "onnxruntime", ["onnxruntime", "onnxruntime-gpu"]),
                       ("libtorch", "torch", ["torch"]),
                       ("tensorflow", "tensorflow", ["tensorflow", "tensorflow-cpu"])]:
    try:
        spec = u.find_spec(pkg)
    except Exception:
        spec = None
    if spec is None or not spec.submodule_search_locations:
        continue
    version = None
    for d in dists:
        try:
            version = md.version(d)
            break
        except Exception:
            pass
    out[fw] = {"version": version, "dir": list(spec.submodule_search_locations)[0]}
print(json.dumps(out))
`

type pythonPackage struct {
	Version string `json:"version"`
	Dir     string `json:"dir"`
}

var pythonCache sync.Map // interpreter path -> *pythonResult

type pythonResult struct {
	once sync.Once
	pkgs map[string]pythonPackage
	err  error
}

// Python returns the interpreter to probe: $CARTON_PYTHON, else python3 on PATH.
func Python() (string, error) {
	if p := os.Getenv("CARTON_PYTHON"); p != "" {
		return p, nil
	}
	return exec.LookPath("python3")
}

type pythonSource struct{}

func (pythonSource) Name() string { return "python" }

func (pythonSource) Find(ctx context.Context, req Request) ([]Candidate, error) {
	py, err := Python()
	if err != nil {
		return nil, nil // no Python: nothing to find
	}
	v, _ := pythonCache.LoadOrStore(py, &pythonResult{})
	res := v.(*pythonResult)
	res.once.Do(func() { res.pkgs, res.err = probePython(ctx, py) })
	if res.err != nil {
		return nil, res.err
	}
	pkg, ok := res.pkgs[string(req.Framework)]
	if !ok || pkg.Version == "" {
		return nil, nil
	}
	path, err := layoutInPython(req.Framework, pkg.Dir)
	if err != nil || path == "" {
		return nil, err
	}
	return []Candidate{{Framework: req.Framework, Version: pkg.Version, Source: "python", Path: path}}, nil
}

func probePython(ctx context.Context, py string) (map[string]pythonPackage, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, py, "-c", pythonProbe)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("probing %s: %v: %s", py, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var pkgs map[string]pythonPackage
	if err := json.Unmarshal(stdout.Bytes(), &pkgs); err != nil {
		return nil, fmt.Errorf("probing %s: %v", py, err)
	}
	return pkgs, nil
}

// layoutInPython maps a package directory to the runtime path.
func layoutInPython(fw Framework, dir string) (string, error) {
	switch fw {
	case ONNXRuntime:
		return newestMatch(filepath.Join(dir, "capi"), onnxRuntimeGlobs)
	case LibTorch:
		return filepath.Join(dir, "lib"), nil
	case TensorFlow:
		return dir, nil
	}
	return "", nil
}
