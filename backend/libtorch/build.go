package libtorch

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/carton-run/carton"
)

// BuildShim compiles the shim (sources embedded in this binary) against
// the libtorch in torchDir, which must hold include/ and lib/ as the
// vendor's archives do, into out. It needs a C++ compiler: $CXX, else g++.
// The library is written beside out and renamed into place, so a failed or
// concurrent build never leaves a partial shim.
func BuildShim(ctx context.Context, torchDir, out string) error {
	cxx := os.Getenv("CXX")
	if cxx == "" {
		cxx = "g++"
	}
	if _, err := exec.LookPath(cxx); err != nil {
		return fmt.Errorf("%w: no C++ compiler to build it (%s: %v)", ErrNoShim, cxx, err)
	}
	inc := filepath.Join(torchDir, "include")
	api := filepath.Join(inc, "torch", "csrc", "api", "include")
	if _, err := os.Stat(api); err != nil {
		return fmt.Errorf("%w: %s has no libtorch headers (include/torch/csrc/api/include) to build it against", ErrNoShim, torchDir)
	}
	lib := libDir(torchDir)
	// libtorch built with the pre-C++11 string ABI has no __cxx11 symbols.
	abi := "0"
	if m, _ := filepath.Glob(filepath.Join(lib, "libc10.so*")); len(m) > 0 {
		if b, err := os.ReadFile(m[0]); err == nil && bytes.Contains(b, []byte("__cxx11")) {
			abi = "1"
		}
	}
	std := "c++17"
	if b, err := os.ReadFile(filepath.Join(inc, "ATen", "ATen.h")); err == nil && bytes.Contains(b, []byte("C++20 or later")) {
		std = "c++20"
	}
	src, err := os.MkdirTemp("", "carton-shim-src-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	cpp, header := carton.TorchShimSources()
	if err := os.WriteFile(filepath.Join(src, "carton_torch.cpp"), []byte(cpp), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "carton_torch.h"), []byte(header), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".shim-*.so")
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.CommandContext(ctx, cxx, "-O2", "-shared", "-fPIC", "-std="+std, "-D_GLIBCXX_USE_CXX11_ABI="+abi,
		"-I"+src, "-I"+inc, "-I"+api, filepath.Join(src, "carton_torch.cpp"), "-o", tmp.Name(),
		"-L"+lib, "-ltorch_cpu", "-lc10", "-Wl,-rpath,"+lib)
	killGroupOnCancel(cmd)
	cmd.WaitDelay = time.Second
	if outp, err := cmd.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("building the shim: %w", ctx.Err())
		}
		tail := outp
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return fmt.Errorf("%w: building it with %s failed: %v\n%s", ErrNoShim, cxx, err, tail)
	}
	return os.Rename(tmp.Name(), out)
}
