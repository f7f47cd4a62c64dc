package libfetch

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLibTorchVersion(t *testing.T) {
	write := func(path, content string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	header := func(major, minor, patch string) string {
		return "#pragma once\n#define TORCH_VERSION_MAJOR " + major + "\n\n#define TORCH_VERSION_MINOR " + minor +
			"\n\n#define TORCH_VERSION_PATCH " + patch + "\n#define TORCH_VERSION \\\n  \"x\"\n"
	}

	archive := t.TempDir() // the vendor's archive: build-version wins
	write(filepath.Join(archive, "build-version"), "2.3.1+cpu\n")
	write(filepath.Join(archive, "include", "torch", "headeronly", "version.h"), header("9", "9", "9"))
	for _, dir := range []string{archive, filepath.Join(archive, "lib")} {
		v, err := LibTorchVersion(dir)
		require.NoError(t, err)
		assert.Equal(t, "2.3.1+cpu", v)
	}

	wheel := t.TempDir() // torch/lib and torch/include of an installed package, newer headers
	write(filepath.Join(wheel, "include", "torch", "headeronly", "version.h"), header("2", "15", "0"))
	v, err := LibTorchVersion(filepath.Join(wheel, "lib"))
	require.NoError(t, err)
	assert.Equal(t, "2.15.0", v)

	older := t.TempDir() // older headers
	write(filepath.Join(older, "include", "torch", "csrc", "api", "include", "torch", "version.h"), header("1", "13", "0"))
	v, err = LibTorchVersion(filepath.Join(older, "lib"))
	require.NoError(t, err)
	assert.Equal(t, "1.13.0", v)

	distro := t.TempDir() // no headers: the library's versioned file name
	write(filepath.Join(distro, "lib", "libtorch_cpu.so.1.13.0"), "")
	require.NoError(t, os.Symlink("libtorch_cpu.so.1.13.0", filepath.Join(distro, "lib", "libtorch_cpu.so")))
	v, err = LibTorchVersion(filepath.Join(distro, "lib"))
	require.NoError(t, err)
	assert.Equal(t, "1.13.0", v)

	_, err = LibTorchVersion(t.TempDir())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no build-version file, no torch/version.h")
}
