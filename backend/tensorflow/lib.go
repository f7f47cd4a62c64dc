package tensorflow

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/ebitengine/purego"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/dlopen"
)

// ErrTensorFlow wraps errors TensorFlow itself reported (a TF_Status).
var ErrTensorFlow = backend.FrameworkSentinel("tensorflow")

// ErrOtherTensorFlow: a different TensorFlow is already loaded in this
// process. Every TensorFlow release names its core library
// libtensorflow_framework.so.2, so a second release would silently bind to
// the first one's; it is refused instead.
var ErrOtherTensorFlow = errors.New("another TensorFlow is already loaded in this process")

// library is the loaded TensorFlow C API, shared by all sessions.
type library struct {
	path    string // the library file opened
	version string // TF_Version()
	fn      struct {
		version, newStatus, deleteStatus, getCode, message                uintptr
		newGraph, deleteGraph, graphOperationByName                       uintptr
		newSessionOptions, deleteSessionOptions, setConfig                uintptr
		newBuffer, deleteBuffer, loadSessionFromSavedModel                uintptr
		sessionRun, closeSession, deleteSession                           uintptr
		newTensor, deleteTensor, tensorData, tensorByteSize, numDims, dim uintptr
		tensorType                                                        uintptr
		operationOutputType, graphGetTensorNumDims, graphGetTensorShape   uintptr
	}
	// release frees one output TF_Tensor; the release of every output.
	release func(uintptr)
}

var (
	libraries dlopen.OncePerFile[*library]
	loaded    *library // the one TensorFlow this process has loaded; guarded by libraries
)

// libraryNames are the files that carry the C API: the C library archive's
// libtensorflow, or the Python package's libtensorflow_cc.
func libraryNames() []string {
	if runtime.GOOS == "darwin" {
		return []string{"libtensorflow.2.dylib", "libtensorflow_cc.2.dylib"}
	}
	return []string{"libtensorflow.so.2", "libtensorflow_cc.so.2"}
}

// LibraryPath finds the C API library in a runtime directory (dir, or
// dir/lib), or returns path itself when it names a file.
func LibraryPath(path string) (string, error) {
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		return path, nil
	}
	for _, d := range []string{path, filepath.Join(path, "lib")} {
		for _, n := range libraryNames() {
			p := filepath.Join(d, n)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("%w: no %v in %s or its lib/", backend.ErrNoRuntime, libraryNames(), path)
}

// loadLibrary opens (once per process) the TensorFlow runtime at path, a
// directory or the library file.
func loadLibrary(path string) (*library, error) {
	file, err := LibraryPath(path)
	if err != nil {
		return nil, err
	}
	return libraries.Get(file, func(file string) (*library, error) {
		if loaded != nil {
			return nil, fmt.Errorf("%w: TensorFlow %s (%s) is, so %s cannot be; use one TensorFlow per process (pin it with WithFrameworkVersion)",
				ErrOtherTensorFlow, loaded.version, loaded.path, file)
		}
		lib, err := openLibrary(file)
		if err == nil {
			loaded = lib
		}
		return lib, err
	})
}

func openLibrary(path string) (*library, error) {
	dl, err := dlopen.Open(path)
	if err != nil {
		return nil, err
	}
	lib := &library{path: path}
	f := &lib.fn
	if err := dl.Bind(map[string]*uintptr{
		"TF_Version": &f.version, "TF_NewStatus": &f.newStatus, "TF_DeleteStatus": &f.deleteStatus,
		"TF_GetCode": &f.getCode, "TF_Message": &f.message,
		"TF_NewGraph": &f.newGraph, "TF_DeleteGraph": &f.deleteGraph, "TF_GraphOperationByName": &f.graphOperationByName,
		"TF_NewSessionOptions": &f.newSessionOptions, "TF_DeleteSessionOptions": &f.deleteSessionOptions,
		"TF_SetConfig": &f.setConfig, "TF_NewBuffer": &f.newBuffer, "TF_DeleteBuffer": &f.deleteBuffer,
		"TF_LoadSessionFromSavedModel": &f.loadSessionFromSavedModel,
		"TF_SessionRun":                &f.sessionRun, "TF_CloseSession": &f.closeSession, "TF_DeleteSession": &f.deleteSession,
		"TF_NewTensor": &f.newTensor, "TF_DeleteTensor": &f.deleteTensor, "TF_TensorData": &f.tensorData,
		"TF_TensorByteSize": &f.tensorByteSize, "TF_NumDims": &f.numDims, "TF_Dim": &f.dim,
		"TF_TensorType": &f.tensorType, "TF_OperationOutputType": &f.operationOutputType,
		"TF_GraphGetTensorNumDims": &f.graphGetTensorNumDims, "TF_GraphGetTensorShape": &f.graphGetTensorShape,
	}); err != nil {
		return nil, fmt.Errorf("%s does not carry the TensorFlow C API: %w", path, err)
	}
	lib.version = dlopen.GoString(dlopen.Call(f.version))
	deleteTensor := f.deleteTensor
	lib.release = func(t uintptr) { dlopen.Call(deleteTensor, t) }
	return lib, nil
}

// Version loads the TensorFlow runtime at path and returns TF_Version().
func Version(path string) (string, error) {
	lib, err := loadLibrary(path)
	if err != nil {
		return "", err
	}
	return lib.version, nil
}

// status is a TF_Status; its error reads and resets nothing (TensorFlow
// overwrites it on the next call that takes it).
type status uintptr

func (l *library) newStatus() status { return status(dlopen.Call(l.fn.newStatus)) }

func (l *library) deleteStatus(s status) { dlopen.Call(l.fn.deleteStatus, uintptr(s)) }

// err returns nil when s holds TF_OK, else ErrTensorFlow with the message.
func (l *library) err(c *dlopen.Caller, s status) error {
	code := int32(c.Call(l.fn.getCode, uintptr(s)))
	if code == 0 {
		return nil
	}
	return &Error{Code: code, Message: dlopen.GoString(c.Call(l.fn.message, uintptr(s)))}
}

// Error is a failure TensorFlow reported, with its TF_Code.
type Error struct {
	Code    int32
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%v: %s (%s)", ErrTensorFlow, e.Message, codeName(e.Code))
}

// Unwrap returns ErrTensorFlow; ErrInvalidInput as well for TensorFlow's
// INVALID_ARGUMENT, which it reports for feeds of the wrong shape or type.
func (e *Error) Unwrap() []error {
	if e.Code == codeInvalidArgument {
		return []error{ErrTensorFlow, backend.ErrInvalidInput}
	}
	return []error{ErrTensorFlow}
}

const codeInvalidArgument = 3

func codeName(c int32) string {
	names := []string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
		"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
		"OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}
	if c >= 0 && int(c) < len(names) {
		return names[c]
	}
	return fmt.Sprintf("code %d", c)
}

// noopDeallocator returns the C function TF_NewTensor calls once
// TensorFlow no longer needs an input buffer. Inputs are Go memory pinned
// for the call and unpinned only after every TF_Tensor the call made is
// deleted (feeds, and outputs that alias them), so the deallocator has
// nothing to do: it is a native function that does nothing. A Go callback
// would cost an allocation and a reflective call per input (RATIONALE.md).
// A test swaps in a counting callback to prove TensorFlow released every
// buffer before Infer returned.
func noopDeallocator() uintptr {
	noopOnce.Do(func() {
		// abs(int) reads one argument register and returns a value the
		// caller (expecting void) ignores: a pure native no-op under the
		// deallocator's calling convention.
		if p, err := purego.Dlsym(purego.RTLD_DEFAULT, "abs"); err == nil && p != 0 {
			noopFn = p
			return
		}
		noopFn = purego.NewCallback(func(data, n, arg uintptr) {})
	})
	return noopFn
}

var (
	noopOnce sync.Once
	noopFn   uintptr
)
