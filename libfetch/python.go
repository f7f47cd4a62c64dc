package libfetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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

// pythonProbes are the interpreters probed, by path.
var pythonProbes probes[map[string]pythonPackage]

// Pythons returns the interpreters to probe: the list in $CARTON_PYTHON
// (separated like PATH), else python3 on PATH.
func Pythons() []string {
	if p := os.Getenv("CARTON_PYTHON"); p != "" {
		return filepath.SplitList(p)
	}
	if p, err := exec.LookPath("python3"); err == nil {
		return []string{p}
	}
	return nil
}

type pythonSource struct{}

func (pythonSource) Name() string { return "python" }

func (pythonSource) Find(ctx context.Context, req Request) ([]Candidate, error) {
	var out []Candidate
	var errs []error
	seen := map[string]bool{}
	for _, py := range Pythons() {
		if _, err := exec.LookPath(py); err != nil {
			continue // a listed interpreter that is not installed offers nothing
		}
		pkgs, err := pythonProbes.get(ctx, py, func(ctx context.Context) (map[string]pythonPackage, error) { return probePython(ctx, py) })
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pkg, ok := pkgs[string(req.Framework)]
		if !ok || pkg.Version == "" {
			continue
		}
		path, libVersion, err := layoutInPython(req.Framework, pkg.Dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if path == "" || seen[path] {
			continue
		}
		seen[path] = true
		version := pkg.Version
		if libVersion != "" {
			version = libVersion
		}
		out = append(out, Candidate{Framework: req.Framework, Version: version, Source: "python", Path: path})
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func probePython(ctx context.Context, py string) (map[string]pythonPackage, error) {
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

// layoutInPython maps a package directory to the runtime path, and to the
// library's own version where its file name carries one.
func layoutInPython(fw Framework, dir string) (path, version string, err error) {
	switch fw {
	case ONNXRuntime:
		path, err = newestMatch(filepath.Join(dir, "capi"), onnxRuntimeGlobs)
		return path, "", err
	case LibTorch:
		lib := filepath.Join(dir, "lib")
		return lib, sonameVersion(filepath.Join(lib, "libtorch_cpu.so")), nil
	case TensorFlow:
		return dir, "", nil
	}
	return "", "", nil
}

// sonameVersion reads X.Y.Z from the file a library link resolves to
// (libtorch_cpu.so -> libtorch_cpu.so.1.13.0), or "". Distribution builds
// version their libraries this way while their Python metadata may say
// something else (Debian's torch says 1.13.0a0 for the 1.13 library).
func sonameVersion(link string) string {
	real, err := filepath.EvalSymlinks(link)
	if err != nil {
		return ""
	}
	base := filepath.Base(real)
	i := strings.Index(base, ".so.")
	if i < 0 {
		return ""
	}
	v := base[i+len(".so."):]
	if strings.Count(v, ".") != 2 {
		return ""
	}
	return v
}

// LibTorchVersion finds the version of the libtorch at dir (a libtorch
// directory, its lib/, or an installed torch package's torch/lib): its
// build-version file, else its headers' TORCH_VERSION_MAJOR, _MINOR and
// _PATCH (include/ beside lib/), else the version its libtorch_cpu.so
// link names. The error names what was looked for.
func LibTorchVersion(dir string) (string, error) {
	v, err := ReadBuildVersion(dir)
	if err == nil {
		return v, nil
	}
	for _, root := range []string{dir, filepath.Dir(dir)} {
		if v := torchHeaderVersion(filepath.Join(root, "include")); v != "" {
			return v, nil
		}
	}
	for _, lib := range []string{dir, filepath.Join(dir, "lib")} {
		if v := sonameVersion(filepath.Join(lib, "libtorch_cpu.so")); v != "" {
			return v, nil
		}
	}
	return "", fmt.Errorf("no build-version file, no torch/version.h under include/, and no versioned libtorch_cpu.so: %w", err)
}

var torchVersionDefine = regexp.MustCompile(`(?m)^#define TORCH_VERSION_(MAJOR|MINOR|PATCH) (\d+)`)

// torchHeaderVersion reads X.Y.Z from libtorch's version header under
// inc (newer releases keep the defines in torch/headeronly/), or "".
func torchHeaderVersion(inc string) string {
	for _, h := range []string{"torch/headeronly/version.h", "torch/csrc/api/include/torch/version.h", "torch/version.h"} {
		b, err := os.ReadFile(filepath.Join(inc, h))
		if err != nil {
			continue
		}
		parts := map[string]string{}
		for _, m := range torchVersionDefine.FindAllSubmatch(b, -1) {
			parts[string(m[1])] = string(m[2])
		}
		if len(parts) == 3 {
			return parts["MAJOR"] + "." + parts["MINOR"] + "." + parts["PATCH"]
		}
	}
	return ""
}
