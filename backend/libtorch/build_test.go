package libtorch

import (
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// BuildShim compiles the embedded sources against a real libtorch laid out
// like the vendor's archive (include/, lib/): Debian's, through symlinks.
func TestBuildShim(t *testing.T) {
	_, errCompiler := exec.LookPath("g++")
	_, errHeaders := os.Stat("/usr/include/torch/csrc/api/include/torch/version.h")
	if errCompiler != nil || errHeaders != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs g++ and Debian's libtorch-dev (make setup): %v %v", errCompiler, errHeaders)
		}
		t.Skip("needs g++ and libtorch-dev")
	}
	torch := t.TempDir()
	require.NoError(t, os.Symlink("/usr/include", filepath.Join(torch, "include")))
	require.NoError(t, os.Symlink("/usr/lib/x86_64-linux-gnu", filepath.Join(torch, "lib")))
	out := filepath.Join(t.TempDir(), "1.13.0", shimFileName())
	require.NoError(t, BuildShim(context.Background(), torch, out))
	f, err := elf.Open(out)
	require.NoError(t, err)
	defer f.Close()
	syms, err := f.DynamicSymbols()
	require.NoError(t, err)
	exported := map[string]bool{}
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF {
			exported[s.Name] = true
		}
	}
	for _, want := range []string{"ct_abi_version", "ct_load", "ct_forward", "ct_result_free", "ct_module_free"} {
		assert.True(t, exported[want], "the shim exports %s", want)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".shim-*"))
	assert.Empty(t, leftovers)

	// Without headers: a clear ErrNoShim, and no file.
	bare := t.TempDir()
	err = BuildShim(context.Background(), bare, filepath.Join(t.TempDir(), "x.so"))
	require.ErrorIs(t, err, ErrNoShim)
	assert.Contains(t, err.Error(), "headers")
}
