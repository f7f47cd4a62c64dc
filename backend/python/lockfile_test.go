package python

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/backend"
)

func writeLock(t *testing.T, text string) string {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".carton"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".carton", "carton.lock"), []byte(text), 0o644))
	return dir
}

var linux311 = install{Markers: map[string]string{"os_name": "posix", "sys_platform": "linux", "platform_machine": "x86_64",
	"platform_python_implementation": "CPython", "python_version": "3.11"}}

// Hostile or broken lock files are ErrModel (or ErrNoRuntime for a wheel
// that cannot be had) with a message naming the problem; none escapes
// the model directory or the cache.
func TestLockFileMisuse(t *testing.T) {
	t.Setenv("CARTON_CACHE_DIR", t.TempDir())
	t.Setenv("CARTON_OFFLINE", "1")
	entry := "[[lockfile]]\nos_name = 'posix'\nsys_platform = 'linux'\nplatform_machine = 'x86_64'\nplatform_python_implementation = 'CPython'\npython_version = '3.11'\n"
	sha := strings.Repeat("ab", 32)
	for name, tc := range map[string]struct{ lock, want string }{
		"not toml":            {"[[lockfile]\n", "carton.lock"},
		"deps not tables":     {entry + "locked_deps = 3\n", "not a list of tables"},
		"dep without sha256":  {entry + "[[lockfile.locked_deps]]\nurl = 'https://x/y-1.0-py3-none-any.whl'\n", "needs a sha256"},
		"dep with both":       {entry + "[[lockfile.locked_deps]]\nsha256 = '" + sha + "'\nurl = 'https://x/y-1.0-py3-none-any.whl'\nbundled_whl_path = 'a.whl'\n", "one of url and bundled_whl_path"},
		"no entry for here":   {strings.Replace(entry, "'linux'", "'darwin'", 1), "no entry for this environment (os_name=posix"},
		"bundled escapes":     {entry + "[[lockfile.locked_deps]]\nsha256 = '" + sha + "'\nbundled_whl_path = '../../etc/passwd'\n", "leaves the model directory"},
		"bundled missing":     {entry + "[[lockfile.locked_deps]]\nsha256 = '" + sha + "'\nbundled_whl_path = '.carton/bundled_wheels/x.whl'\n", "no such file"},
		"bad sha256":          {entry + "[[lockfile.locked_deps]]\nsha256 = 'zz'\nurl = 'https://x/y-1.0-py3-none-any.whl'\n", "is not 64 hex digits"},
		"offline, not cached": {entry + "[[lockfile.locked_deps]]\nsha256 = '" + sha + "'\nurl = 'https://x/y-1.0-py3-none-any.whl'\n", "offline"},
		"not a wheel name":    {entry + "[[lockfile.locked_deps]]\nsha256 = '" + sha + "'\nurl = 'https://x/..'\n", "is not a wheel's file name"},
	} {
		_, err := lockedWheels(context.Background(), writeLock(t, tc.lock), linux311)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.want, name)
		assert.True(t, errors.Is(err, backend.ErrModel) || errors.Is(err, backend.ErrNoRuntime), "%s: %v", name, err)
	}
	big := writeLock(t, "# "+strings.Repeat("x", maxLockBytes)+"\n")
	_, err := lockedWheels(context.Background(), big, linux311)
	assert.ErrorContains(t, err, "larger than")
	// No lock: no locked dependencies.
	dirs, err := lockedWheels(context.Background(), t.TempDir(), linux311)
	assert.NoError(t, err)
	assert.Empty(t, dirs)
}
