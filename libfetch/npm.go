package libfetch

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
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

// npmRoots is npm's global root, probed once (probes).
var npmRoots probes[string]

func npmRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "npm", "root", "-g").Output()
	if err != nil {
		return "", err
	}
	return string(bytes.TrimSpace(out)), nil
}

type npmSource struct{}

func (npmSource) Name() string { return "npm" }

// Find looks for onnxruntime-node in ./node_modules, $CARTON_NODE_MODULES
// and npm's global root.
func (npmSource) Find(ctx context.Context, req Request) ([]Candidate, error) {
	if req.Framework != ONNXRuntime {
		return nil, nil
	}
	roots := []string{"node_modules"}
	if d := os.Getenv("CARTON_NODE_MODULES"); d != "" {
		roots = append(roots, filepath.SplitList(d)...)
	}
	if _, err := exec.LookPath("npm"); err == nil {
		g, err := npmRoots.get(ctx, "npm", npmRoot)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err == nil && g != "" {
			roots = append(roots, g)
		}
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
