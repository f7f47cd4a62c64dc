package libfetch

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExplicitAndEnvPaths(t *testing.T) {
	lib := filepath.Join(t.TempDir(), "libonnxruntime.so.1.2.3")
	require.NoError(t, os.WriteFile(lib, []byte("x"), 0o644))
	t.Setenv("CARTON_PYTHON", filepath.Join(t.TempDir(), "no-python"))
	t.Setenv("CARTON_NODE_MODULES", "")

	got, err := Find(context.Background(), Request{Framework: ONNXRuntime, ExplicitPath: lib}, explicitSource{}, envSource{})
	require.NoError(t, err)
	assert.Equal(t, []Candidate{{Framework: ONNXRuntime, Source: "option", Path: lib}}, got)

	t.Setenv("CARTON_ONNXRUNTIME_LIB", lib)
	got, err = Find(context.Background(), Request{Framework: ONNXRuntime}, explicitSource{}, envSource{})
	require.NoError(t, err)
	assert.Equal(t, "env", got[0].Source)

	t.Setenv("CARTON_ONNXRUNTIME_LIB", "/nonexistent/libonnxruntime.so")
	_, err = Find(context.Background(), Request{Framework: ONNXRuntime})
	require.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "$CARTON_ONNXRUNTIME_LIB names /nonexistent/libonnxruntime.so")

	_, err = Find(context.Background(), Request{Framework: ONNXRuntime, ExplicitPath: "/nonexistent/x.so"})
	require.ErrorIs(t, err, ErrNotFound)
}

func TestNPMLayout(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the layout below is linux/x64's")
	}
	root := t.TempDir()
	pkg := filepath.Join(root, "onnxruntime-node")
	libDir := filepath.Join(pkg, "bin", "napi-v6", "linux", "x64")
	require.NoError(t, os.MkdirAll(libDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(pkg, "package.json"), []byte(`{"name":"onnxruntime-node","version":"1.30.0"}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(libDir, "libonnxruntime.so.1"), []byte("x"), 0o644))
	t.Setenv("CARTON_NODE_MODULES", root)
	got, err := npmSource{}.Find(context.Background(), Request{Framework: ONNXRuntime})
	require.NoError(t, err)
	found := false
	for _, c := range got {
		if c.Path == filepath.Join(libDir, "libonnxruntime.so.1") {
			found = true
			assert.Equal(t, "1.30.0", c.Version)
			assert.Equal(t, "npm", c.Source)
		}
	}
	assert.True(t, found, "%v", got)
	none, err := npmSource{}.Find(context.Background(), Request{Framework: LibTorch})
	require.NoError(t, err)
	assert.Empty(t, none)
}

func TestPythonProbe(t *testing.T) {
	pys := Pythons()
	if len(pys) == 0 {
		t.Skip("no python3")
	}
	py := pys[0]
	pkgs, err := probePython(context.Background(), py)
	require.NoError(t, err, "the probe script must run on any Python 3")
	for fw, p := range pkgs {
		assert.NotEmpty(t, p.Dir, fw)
	}
	bad := filepath.Join(t.TempDir(), "python3")
	require.NoError(t, os.WriteFile(bad, []byte("#!/bin/sh\necho boom >&2\nexit 3\n"), 0o755))
	_, err = probePython(context.Background(), bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "boom")
}

// A probe cut short by one caller's context, or failing once, is not
// remembered: the next caller probes again and finds the packages.
func TestPythonProbeForgetsFailures(t *testing.T) {
	pys := Pythons()
	if len(pys) == 0 {
		t.Skip("no python3")
	}
	real, err := exec.LookPath(pys[0])
	require.NoError(t, err)
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken")
	py := filepath.Join(dir, "python3")
	// An interpreter that is slow, and fails while the file broken exists.
	script := "#!/bin/sh\nsleep 0.3\nif [ -e " + broken + " ]; then echo broken >&2; exit 3; fi\nexec " + real + " \"$@\"\n"
	require.NoError(t, os.WriteFile(py, []byte(script), 0o755))
	require.NoError(t, os.WriteFile(broken, nil, 0o644))
	t.Setenv("CARTON_PYTHON", py)

	expired, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err = pythonSource{}.Find(expired, Request{Framework: ONNXRuntime})
	require.ErrorIs(t, err, context.DeadlineExceeded, "the caller's deadline ends its wait")

	_, err = pythonSource{}.Find(context.Background(), Request{Framework: ONNXRuntime})
	require.ErrorContains(t, err, "broken", "the probe the expired caller started fails on its own")

	require.NoError(t, os.Remove(broken))
	_, err = pythonSource{}.Find(context.Background(), Request{Framework: ONNXRuntime})
	require.NoError(t, err, "a failed probe is not remembered")
	assert.True(t, pythonProbes.has(py), "a probe that answered is")
}

// A runtime named explicitly is the only candidate, and finding it runs
// no probe (an interpreter, npm): each costs a process start.
func TestExplicitRuntimeProbesNothing(t *testing.T) {
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	py := filepath.Join(dir, "python3")
	require.NoError(t, os.WriteFile(py, []byte("#!/bin/sh\ntouch "+ran+"\nexit 1\n"), 0o755))
	t.Setenv("CARTON_PYTHON", py)
	lib := filepath.Join(dir, "libonnxruntime.so")
	require.NoError(t, os.WriteFile(lib, nil, 0o644))
	for name, req := range map[string]Request{
		"option": {Framework: ONNXRuntime, ExplicitPath: lib},
		"env":    {Framework: ONNXRuntime},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "env" {
				t.Setenv("CARTON_ONNXRUNTIME_LIB", lib)
			}
			got, err := Find(context.Background(), req)
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, lib, got[0].Path)
			assert.Equal(t, name, got[0].Source)
			assert.NoFileExists(t, ran, "no interpreter was probed")
		})
	}
	// Without one, every source is asked.
	t.Setenv("CARTON_ONNXRUNTIME_LIB", "")
	_, _ = Find(context.Background(), Request{Framework: ONNXRuntime})
	assert.FileExists(t, ran)
}

// npm's global root is worked out as npm itself does, without starting it.
func TestNpmGlobalRootMatchesNpm(t *testing.T) {
	if _, err := exec.LookPath("npm"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("npm is not installed")
		}
		t.Skip("no npm")
	}
	want := func() string {
		out, err := exec.Command("npm", "root", "-g").Output()
		require.NoError(t, err)
		return strings.TrimSpace(string(out))
	}
	assert.Equal(t, want(), npmGlobalRoot(), "npm's defaults")
	t.Setenv("npm_config_prefix", "/opt/somewhere")
	assert.Equal(t, want(), npmGlobalRoot(), "a prefix from the environment")
	t.Setenv("npm_config_prefix", "")
	rc := filepath.Join(t.TempDir(), "npmrc")
	require.NoError(t, os.WriteFile(rc, []byte("; comment\nprefix = ${HOME}/.npm-global\n"), 0o644))
	t.Setenv("NPM_CONFIG_USERCONFIG", rc)
	assert.Equal(t, want(), npmGlobalRoot(), "a prefix from the user's npmrc")
}
