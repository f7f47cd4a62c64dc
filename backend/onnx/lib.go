package onnx

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/carton-run/carton/dlopen"
)

// ErrTooOld: the ONNX Runtime library predates MinAPIVersion.
var ErrTooOld = errors.New("onnxruntime too old")

// library is one loaded ONNX Runtime, shared by all sessions using it.
type library struct {
	path      string
	version   string
	api       *api
	env       uintptr // OrtEnv*
	memInfo   uintptr // OrtMemoryInfo* for CPU tensors over caller memory
	allocator uintptr // OrtAllocator* (default CPU allocator, owned by ORT)
	// resizeString is GetResizedStringTensorElementBuffer, which writes a
	// string with NUL bytes into a string tensor; 0 before ORT 1.15.
	resizeString uintptr
}

var libraries dlopen.OncePerFile[*library]

// loadLibrary opens (once per process and file) the ORT library at path.
func loadLibrary(path string) (*library, error) {
	return libraries.Get(path, openLibrary)
}

func openLibrary(path string) (*library, error) {
	dl, err := dlopen.Open(path)
	if err != nil {
		return nil, err
	}
	getAPIBase, err := dl.Symbol("OrtGetApiBase")
	if err != nil {
		return nil, fmt.Errorf("%s is not an ONNX Runtime library: %w", path, err)
	}
	base := dlopen.Table(dlopen.Call(getAPIBase)) // struct { GetApi; GetVersionString }
	if base == 0 {
		return nil, fmt.Errorf("%w: %s: OrtGetApiBase returned NULL", ErrRuntime, path)
	}
	version := dlopen.GoString(dlopen.Call(base.Fn(1)))
	table := dlopen.Call(base.Fn(0), uintptr(MinAPIVersion))
	if table == 0 {
		return nil, fmt.Errorf("%w: %s is ONNX Runtime %s, which does not serve OrtApi version %d (ONNX Runtime 1.%d or newer is needed)", ErrTooOld, path, version, MinAPIVersion, MinAPIVersion)
	}
	lib := &library{path: path, version: version, api: newAPI(table)}
	if t := dlopen.Call(base.Fn(0), apiVersionResizeString); t != 0 {
		lib.resizeString = dlopen.Table(t).Fn(fnGetResizedStringTensorElementBuffer)
	}
	a := lib.api
	logID := dlopen.CString("carton")
	const loggingLevelError = 3
	err = a.call(fnCreateEnv, loggingLevelError, ptr(&logID[0]), ptr(&lib.env))
	runtime.KeepAlive(logID)
	if err != nil {
		return nil, fmt.Errorf("%s: creating environment: %w", path, err)
	}
	const arenaAllocator, memTypeDefault = 1, 0
	if err := a.call(fnCreateCpuMemoryInfo, arenaAllocator, memTypeDefault, ptr(&lib.memInfo)); err != nil {
		return nil, fmt.Errorf("%s: creating memory info: %w", path, err)
	}
	if err := a.call(fnGetAllocatorWithDefaultOption, ptr(&lib.allocator)); err != nil {
		return nil, fmt.Errorf("%s: getting the default allocator: %w", path, err)
	}
	return lib, nil
}

// Version reads the ONNX Runtime version of the library at path (loading it).
func Version(path string) (string, error) {
	lib, err := loadLibrary(path)
	if err != nil {
		return "", err
	}
	return lib.version, nil
}
