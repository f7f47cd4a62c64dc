package python

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/libfetch"
)

// install is a Python installation: its interpreter, its shared
// libpython, its version, and PEP 508's environment markers.
type install struct {
	Executable string            `json:"executable"`
	Lib        string            `json:"lib"`
	Version    string            `json:"version"`
	Markers    map[string]string `json:"markers"`
}

// probeScript prints an install as JSON: what sysconfig says of the shared
// libpython, and the markers a lock entry is matched against.
const probeScript = `import json, os, platform, sys, sysconfig
lib = ""
if sysconfig.get_config_var("Py_ENABLE_SHARED"):
    lib = os.path.join(sysconfig.get_config_var("LIBDIR") or "", sysconfig.get_config_var("LDLIBRARY") or "")
print(json.dumps({"executable": sys.executable, "lib": lib, "version": platform.python_version(), "markers": {
    "os_name": os.name, "sys_platform": sys.platform, "platform_machine": platform.machine(),
    "platform_python_implementation": platform.python_implementation(), "platform_system": platform.system(),
    "python_version": ".".join(platform.python_version_tuple()[:2]), "python_full_version": platform.python_version(),
    "implementation_name": sys.implementation.name}}))`

var (
	probed   = map[string]install{} // by interpreter path; failures are not kept
	probedMu sync.Mutex
)

// probe asks the interpreter py about itself (-I: nothing of the user's).
func probe(ctx context.Context, py string) (install, error) {
	probedMu.Lock()
	in, ok := probed[py]
	probedMu.Unlock()
	if ok {
		return in, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-I", "-c", probeScript).Output()
	if err != nil {
		return install{}, fmt.Errorf("asking %s about itself: %w", py, err)
	}
	if err := json.Unmarshal(out, &in); err != nil {
		return install{}, fmt.Errorf("%s: %w", py, err)
	}
	if in.Lib != "" {
		if _, err := os.Stat(in.Lib); err != nil {
			in.Lib = ""
		}
	}
	probedMu.Lock()
	probed[py] = in
	probedMu.Unlock()
	return in, nil
}

// installs lists the Pythons with a shared libpython: the one given
// (Load option, $CARTON_PYTHON_LIB: a libpython, or an interpreter), else
// those $CARTON_PYTHON lists (python3 on PATH without it).
func installs(ctx context.Context, hints backend.Hints) ([]install, []backend.Runtime, error) {
	explicit, source := hints.RuntimePath, "option"
	if explicit == "" {
		explicit, source = os.Getenv("CARTON_PYTHON_LIB"), "env"
	}
	var pys []string
	if explicit != "" {
		pys = []string{explicit}
	} else {
		source = "python"
		pys = libfetch.Pythons()
	}
	var ins []install
	var rts []backend.Runtime
	var problems []string
	for _, py := range pys {
		in, err := fromPath(ctx, py)
		if err != nil {
			if source != "python" {
				return nil, nil, fmt.Errorf("%w: %v", backend.ErrNoRuntime, err)
			}
			problems = append(problems, err.Error())
			continue
		}
		ins = append(ins, in)
		// The runtime's path is the interpreter (or the libpython given):
		// a venv and its base share one libpython but not their packages.
		rts = append(rts, backend.Runtime{Framework: "python", Version: in.Version, Source: source, Path: py})
	}
	if len(rts) == 0 && len(problems) > 0 {
		return nil, nil, fmt.Errorf("%w: %s", backend.ErrNoRuntime, strings.Join(problems, "; "))
	}
	return ins, rts, nil
}

// fromPath is the install of an interpreter, or of a libpython (asking
// the interpreter of the same version beside it for the rest).
func fromPath(ctx context.Context, path string) (install, error) {
	if base := filepath.Base(path); strings.HasPrefix(base, "libpython") {
		ver := strings.TrimSuffix(strings.TrimPrefix(base, "libpython"), ".so")
		if i := strings.Index(ver, ".so"); i >= 0 {
			ver = ver[:i]
		}
		for _, cand := range []string{filepath.Join(filepath.Dir(path), "..", "bin", "python"+ver), "python" + ver} {
			if py, err := exec.LookPath(cand); err == nil {
				in, err := probe(ctx, py)
				if err == nil {
					in.Lib = path
					return in, nil
				}
			}
		}
		return install{}, fmt.Errorf("%s: no python%s beside it to ask for its environment", path, ver)
	}
	in, err := probe(ctx, path)
	if err != nil {
		return install{}, err
	}
	in.Executable = path // as given: a venv's python finds its pyvenv.cfg beside it
	if in.Lib == "" {
		return install{}, fmt.Errorf("%s (Python %s) has no shared libpython (built without --enable-shared)", path, in.Version)
	}
	return in, nil
}
