package libtorch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"unsafe"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/dlopen"
	"github.com/carton-run/carton/internal/semver"
	"github.com/carton-run/carton/libfetch"
)

// ShimABIVersion is the CT_ABI_VERSION of include/carton_torch.h this
// package speaks.
const ShimABIVersion = 3

// ShimRevision is the CT_SHIM_REVISION of the sources this package embeds:
// a shim built from them exports ct_revision_<ShimRevision>. One without
// it was built by an older carton (the same ABI, fewer features: before
// revision 2, no int, float, bool or list arguments and results; before
// 3, a dict-mode forward looked up, checked and given a new dict on every
// call); it is rebuilt where carton builds shims itself, else used as it is.
const ShimRevision = 3

// shimIsCurrent says whether the shim file at path was built from this
// package's sources, by its revision symbol, without loading it (a shim
// once loaded cannot be replaced in the process).
func shimIsCurrent(path string) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Contains(b, []byte("ct_revision_"+strconv.Itoa(ShimRevision)+"\x00"))
}

// ErrNoShim: no shim is built for the selected libtorch version.
var ErrNoShim = errors.New("no carton shim for this libtorch")

// shim is a loaded libcarton_torch.so and the libtorch it links.
type shim struct {
	path     string
	version  string // libtorch version the shim reports
	torchLib string // the directory of the libtorch it runs on
	fn       struct {
		abiVersion, torchVersion, freeError, setThreads    uintptr
		load, moduleFree, forwardInfo, forward, resultFree uintptr
	}
	threadsMu sync.Mutex
	threads   [2]int64 // intra, inter last set (0 = untouched)
	cudaOnce  sync.Once
	cudaErr   error
}

var (
	shims  dlopen.OncePerFile[*shim]
	loaded *backend.Runtime // the one libtorch this process has loaded; guarded by shims
)

// ErrOtherLibtorch: a different libtorch is already loaded in this process.
// Two libtorch releases cannot share a process (their static initialisers
// collide and abort it), so the second is refused instead.
var ErrOtherLibtorch = errors.New("another libtorch is already loaded in this process")

// ShimPath returns where the shim for a libtorch version is looked for,
// and whether one built from this package's sources (ShimRevision) is
// there: the first such in $CARTON_LIBTORCH_SHIM_DIR's directories, then
// carton's cache; else the cache's path, where one is built.
func ShimPath(version string) (string, bool) {
	files := shimFiles(version)
	for _, p := range files {
		if shimIsCurrent(p) {
			return p, true
		}
	}
	if len(files) == 0 {
		return shimFileName(), false
	}
	return files[len(files)-1], false
}

// staleShim finds a shim for version built by an older carton, for when
// no current one can be built.
func staleShim(version string) (string, bool) {
	for _, p := range shimFiles(version) {
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}

// shimFiles are the places a shim for version is looked for, in order:
// under each of $CARTON_LIBTORCH_SHIM_DIR's directories, then the cache's.
func shimFiles(version string) []string {
	var dirs []string
	if d := os.Getenv("CARTON_LIBTORCH_SHIM_DIR"); d != "" {
		dirs = append(dirs, filepath.SplitList(d)...)
	}
	if cache, err := libfetch.CacheDir(); err == nil {
		dirs = append(dirs, filepath.Join(cache, "shims", "libtorch"))
	}
	files := make([]string, len(dirs))
	for i, d := range dirs {
		files[i] = filepath.Join(d, coreVersion(version), shimFileName())
	}
	return files
}

func shimFileName() string {
	if runtime.GOOS == "darwin" {
		return "libcarton_torch.dylib"
	}
	return "libcarton_torch.so"
}

// coreVersion drops build metadata: "2.15.0+cu132" -> "2.15.0".
func coreVersion(v string) string {
	if sv, err := semver.Parse(v); err == nil {
		sv.Build = ""
		return sv.String()
	}
	return v
}

// loadShim opens libtorch from rt.Path and the shim built for its version,
// building it first where it can; ctx ends a build in progress.
func loadShim(ctx context.Context, rt backend.Runtime) (*shim, error) {
	shimPath, ok := ShimPath(rt.Version)
	if !ok {
		// A libtorch carton fetched (or one placed in the cache) carries its
		// headers: build the shim for it from the sources in this binary.
		var buildErr error = fmt.Errorf("%w: shims are built automatically only for a libtorch in carton's cache or an installed Python torch", ErrNoShim)
		switch rt.Source {
		case "download", "cache":
			buildErr = BuildShim(ctx, rt.Path, shimPath)
		case "python": // rt.Path is torch/lib; torch/include beside it
			buildErr = BuildShim(ctx, filepath.Dir(rt.Path), shimPath)
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("building the shim for libtorch %s: %w", rt.Version, err)
		}
		if old, found := staleShim(rt.Version); buildErr != nil && found {
			shimPath = old // an older shim still speaks the ABI; it lacks what later revisions added
		} else if buildErr != nil {
			return nil, fmt.Errorf("%w %s (%s): expected %s, and building it failed (%v); build it with `make shims` or a C++ compiler and the libtorch headers, or set CARTON_LIBTORCH_SHIM_DIR to a directory holding %s/%s",
				ErrNoShim, rt.Version, rt.Path, shimPath, buildErr, coreVersion(rt.Version), shimFileName())
		}
	}
	return shims.Get(shimPath, func(shimPath string) (*shim, error) {
		if l := loaded; l != nil && (l.Path != rt.Path || coreVersion(l.Version) != coreVersion(rt.Version)) {
			return nil, fmt.Errorf("%w: libtorch %s (%s) is, so %s (%s) cannot be; use one libtorch per process (pin it with WithFrameworkVersion)",
				ErrOtherLibtorch, l.Version, l.Path, rt.Version, rt.Path)
		}
		s, err := openShim(shimPath, libDir(rt.Path))
		if err == nil {
			loaded = &rt
		}
		return s, err
	})
}

// libDir is the directory holding libtorch_cpu: dir/lib or dir itself.
func libDir(dir string) string {
	if m, _ := filepath.Glob(filepath.Join(dir, "lib", "libtorch_cpu*")); len(m) > 0 {
		return filepath.Join(dir, "lib")
	}
	return dir
}

func openShim(path, torchLib string) (*shim, error) {
	// Load the chosen libtorch first: the shim's dependencies then resolve
	// to these (already-loaded) libraries rather than to whatever its
	// build-time rpath names.
	if missing, err := openEach(torchLib, "libc10", "libtorch_cpu"); missing != "" {
		return nil, fmt.Errorf("%w: no %s.so in %s", backend.ErrNoRuntime, missing, torchLib)
	} else if err != nil {
		return nil, err
	}
	lib, err := dlopen.Open(path)
	if err != nil {
		return nil, err
	}
	s := &shim{path: path, torchLib: torchLib}
	f := &s.fn
	if err := lib.Bind(map[string]*uintptr{
		"ct_abi_version": &f.abiVersion, "ct_torch_version": &f.torchVersion, "ct_free_error": &f.freeError,
		"ct_set_threads": &f.setThreads, "ct_load": &f.load, "ct_module_free": &f.moduleFree,
		"ct_forward_info": &f.forwardInfo, "ct_forward": &f.forward, "ct_result_free": &f.resultFree,
	}); err != nil {
		return nil, err
	}
	if v := int32(dlopen.Call(f.abiVersion)); v != ShimABIVersion {
		return nil, fmt.Errorf("%w: %s speaks ABI %d, this build of carton needs %d: rebuild it", ErrNoShim, path, v, ShimABIVersion)
	}
	s.version = dlopen.GoString(dlopen.Call(f.torchVersion))
	return s, nil
}

// enableCUDA loads libtorch's CUDA libraries from the shim's libtorch,
// once: their static initialisers register the CUDA backend that a module
// on a cuda device needs, and a CPU-only process never pays for them.
func (s *shim) enableCUDA() error {
	s.cudaOnce.Do(func() {
		if missing, err := openEach(s.torchLib, "libc10_cuda", "libtorch_cuda"); missing != "" {
			s.cudaErr = fmt.Errorf("%w: a cuda device needs libtorch's CUDA libraries, and %s has no %s.so (a CPU-only libtorch, or one unpacked without them)",
				backend.ErrNoRuntime, s.torchLib, missing)
		} else if err != nil {
			s.cudaErr = fmt.Errorf("%w: a cuda device needs libtorch's CUDA libraries: %v", backend.ErrNoRuntime, err)
		}
	})
	return s.cudaErr
}

// openEach loads dir/<name>.so* for each name, in order, and stops at the
// first that has no file (missing names it) or fails to load.
func openEach(dir string, names ...string) (missing string, err error) {
	for _, name := range names {
		m, _ := filepath.Glob(filepath.Join(dir, name+".so*"))
		if len(m) == 0 {
			return name, nil
		}
		if _, err := dlopen.Open(m[0]); err != nil {
			return "", err
		}
	}
	return "", nil
}

// check turns a shim status and error string into a Go error.
func (s *shim) check(c *dlopen.Caller, status uintptr, errp *uintptr) error {
	if int32(status) == 0 {
		return nil
	}
	msg := "unknown error"
	if *errp != 0 {
		msg = dlopen.GoString(*errp)
		c.Call(s.fn.freeError, *errp)
		*errp = 0
	}
	return fmt.Errorf("%w: %s", ErrTorch, msg)
}

// ErrTorch wraps errors libtorch reported.
var ErrTorch = backend.FrameworkSentinel("libtorch")

// setThreads applies thread options once per library (they are global).
func (s *shim) setThreads(intra, inter int64) error {
	s.threadsMu.Lock()
	defer s.threadsMu.Unlock()
	if inter > 0 && s.threads[1] > 0 && inter != s.threads[1] {
		return fmt.Errorf("%w: num_interop_threads is %d for this process already; libtorch cannot change it", backend.ErrInvalidOption, s.threads[1])
	}
	if (intra <= 0 || intra == s.threads[0]) && (inter <= 0 || inter == s.threads[1]) {
		return nil
	}
	errp := dlopen.New[uintptr]()
	var c dlopen.Caller
	if err := s.check(&c, c.Call(s.fn.setThreads, uintptr(intra), uintptr(inter), uintptr(unsafe.Pointer(errp))), errp); err != nil {
		return err
	}
	if intra > 0 {
		s.threads[0] = intra
	}
	if inter > 0 {
		s.threads[1] = inter
	}
	return nil
}
