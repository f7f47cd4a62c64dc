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

// The index pip would use: what is configured first; else pip's own
// answer, from its options or, for a pip whose internals differ, from
// its help's default; pip's no-index turns it off.
func TestPackageIndex(t *testing.T) {
	t.Setenv("CARTON_PYPI_INDEX", "")
	t.Setenv("PIP_INDEX_URL", "")
	t.Setenv("PIP_NO_INDEX", "")
	t.Setenv("PIP_CERT", "")
	t.Setenv("PIP_PROXY", "")
	t.Setenv("PIP_CONFIG_FILE", os.DevNull)
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := t.TempDir()
	// A pip whose internals fail, and whose help names its default.
	helpOnly := filepath.Join(dir, "python3")
	require.NoError(t, os.WriteFile(helpOnly, []byte("#!/bin/sh\n[ \"$1\" = -c ] && exit 1\n"+
		"echo '  -i, --index-url <url>       Base URL of the Python Package Index (default'\n"+
		"echo '                              https://127.0.0.1:9/simple). This should point to a'\n"), 0o755))
	t.Setenv("CARTON_PYTHON", helpOnly)
	i, err := PackageIndex(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.1:9/simple", i.URL)
	assert.Contains(t, i.Source, "pip's default")

	t.Setenv("PIP_INDEX_URL", "https://127.0.0.1:8/pypi/simple")
	i, err = PackageIndex(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.1:8/pypi/simple", i.URL)
	assert.Equal(t, "PIP_INDEX_URL", i.Source)

	t.Setenv("PIP_INDEX_URL", "")
	t.Setenv("PIP_NO_INDEX", "1")
	_, err = PackageIndex(context.Background())
	require.ErrorIs(t, err, ErrNoIndex)
	t.Setenv("CARTON_PYPI_INDEX", "https://127.0.0.1:7/simple")
	i, err = PackageIndex(context.Background())
	require.NoError(t, err, "carton's own setting wins over pip's no-index")
	assert.Equal(t, "CARTON_PYPI_INDEX", i.Source)

	t.Setenv("CARTON_PYPI_INDEX", "")
	t.Setenv("PIP_NO_INDEX", "")
	t.Setenv("CARTON_PYTHON", filepath.Join(dir, "none"))
	_, err = PackageIndex(context.Background())
	require.ErrorIs(t, err, ErrNoIndex, "no configuration and no pip")
}

// A real pip, with nothing configured, names an index: the default a
// newcomer's pip uses.
func TestPackageIndexFromRealPip(t *testing.T) {
	pys := Pythons()
	if len(pys) == 0 {
		t.Skip("no python3")
	}
	t.Setenv("CARTON_PYPI_INDEX", "")
	t.Setenv("PIP_INDEX_URL", "")
	t.Setenv("PIP_NO_INDEX", "")
	t.Setenv("PIP_CONFIG_FILE", os.DevNull)
	i, err := askPip(context.Background(), pys[0])
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(i.URL, "https://"), "%+v", i)
}

// has reports whether a probe of key answered and is kept.
func (p *probes[T]) has(key string) bool {
	v, ok := p.m.Load(key)
	if !ok {
		return false
	}
	select {
	case <-v.(*probeResult[T]).done:
		return true
	default:
		return false
	}
}
