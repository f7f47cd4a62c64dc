package libfetch

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// onnxRuntimeGlobs are the ONNX Runtime C library's file names per OS.
var onnxRuntimeGlobs = map[string][]string{
	"linux":   {"libonnxruntime.so.*", "libonnxruntime.so"},
	"darwin":  {"libonnxruntime.*.dylib", "libonnxruntime.dylib"},
	"windows": {"onnxruntime.dll"},
}

// newestMatch returns the lexically last file in dir matching the OS's globs.
func newestMatch(dir string, globs map[string][]string) (string, error) {
	for _, g := range globs[runtime.GOOS] {
		m, err := filepath.Glob(filepath.Join(dir, g))
		if err != nil {
			return "", err
		}
		if len(m) > 0 {
			sort.Strings(m)
			return m[len(m)-1], nil
		}
	}
	return "", nil
}

// npmGlobalRoot is the directory npm installs global packages in (what
// `npm root -g` prints), worked out as npm does instead of asking it: its
// start costs a Load 200 ms. The prefix comes from npm_config_prefix, else
// the user's then the global npmrc, else the directory node is installed
// under; the root is prefix/lib/node_modules. "" without node.
func npmGlobalRoot() string {
	node, err := exec.LookPath("node")
	if err != nil {
		return ""
	}
	if real, err := filepath.EvalSymlinks(node); err == nil {
		node = real
	}
	defaultPrefix := filepath.Dir(filepath.Dir(node))
	prefix := envFold("npm_config_prefix")
	if prefix == "" {
		user := envFold("npm_config_userconfig")
		if user == "" {
			if home, err := os.UserHomeDir(); err == nil {
				user = filepath.Join(home, ".npmrc")
			}
		}
		global := envFold("npm_config_globalconfig")
		if global == "" {
			global = filepath.Join(defaultPrefix, "etc", "npmrc")
		}
		for _, rc := range []string{user, global} {
			if p := npmrcValue(rc, "prefix"); p != "" {
				prefix = p
				break
			}
		}
	}
	if prefix == "" {
		prefix = defaultPrefix
	}
	if rest, ok := strings.CutPrefix(prefix, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			prefix = filepath.Join(home, rest)
		}
	}
	return filepath.Join(prefix, "lib", "node_modules")
}

// envFold is the environment variable name in any case, as npm reads
// its npm_config_* variables.
func envFold(name string) string {
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(k, name) && v != "" {
			return v
		}
	}
	return ""
}

// npmrcValue reads key from an npmrc file (key = value lines; # and ;
// comments; ${VAR} expanded), "" when the file or the key is absent.
func npmrcValue(path, key string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == key {
			v = strings.Trim(strings.TrimSpace(v), `"'`)
			return os.Expand(v, os.Getenv)
		}
	}
	return ""
}

type npmSource struct{}

func (npmSource) Name() string { return "npm" }

// Find looks for onnxruntime-node in ./node_modules, $CARTON_NODE_MODULES
// and npm's global root.
func (npmSource) Find(_ context.Context, req Request) ([]Candidate, error) {
	if req.Framework != ONNXRuntime {
		return nil, nil
	}
	roots := []string{"node_modules"}
	if d := os.Getenv("CARTON_NODE_MODULES"); d != "" {
		roots = append(roots, filepath.SplitList(d)...)
	}
	if g := npmGlobalRoot(); g != "" {
		roots = append(roots, g)
	}
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	var out []Candidate
	seen := map[string]bool{}
	for _, root := range roots {
		pkg := filepath.Join(root, "onnxruntime-node")
		abs, err := filepath.Abs(pkg)
		if err != nil || seen[abs] {
			continue
		}
		seen[abs] = true
		b, err := os.ReadFile(filepath.Join(pkg, "package.json"))
		if err != nil {
			continue
		}
		var meta struct {
			Version string `json:"version"`
		}
		if json.Unmarshal(b, &meta) != nil || meta.Version == "" {
			continue
		}
		lib, err := newestMatch(filepath.Join(abs, "bin", "napi-v6", runtime.GOOS, arch), onnxRuntimeGlobs)
		if err != nil || lib == "" {
			continue
		}
		out = append(out, Candidate{Framework: ONNXRuntime, Version: meta.Version, Source: "npm", Path: lib})
	}
	return out, nil
}
