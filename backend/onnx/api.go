package onnx

import (
	"fmt"
	"unsafe"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/dlopen"
)

// MinAPIVersion is the OrtApi version this runner asks for: the lowest that
// has every function below (all are in version 1's table). ORT serves any
// version up to its own, so releases from 1.1 to the newest all work.
var MinAPIVersion uint32 = 1

// apiVersionResizeString is the first OrtApi version with
// GetResizedStringTensorElementBuffer, used when it is served.
const apiVersionResizeString = 15

// Indices into the OrtApi function table (onnxruntime_c_api.h; the table
// only ever grows at the end, so indices are stable across releases).
const (
	fnGetErrorCode                  = 1
	fnGetErrorMessage               = 2
	fnCreateEnv                     = 3
	fnCreateSession                 = 7
	fnCreateSessionFromArray        = 8
	fnRun                           = 9
	fnCreateSessionOptions          = 10
	fnSetSessionGraphOptimization   = 23
	fnSetIntraOpNumThreads          = 24
	fnSetInterOpNumThreads          = 25
	fnSessionGetInputCount          = 30
	fnSessionGetOutputCount         = 31
	fnSessionGetInputTypeInfo       = 33
	fnSessionGetOutputTypeInfo      = 34
	fnSessionGetInputName           = 36
	fnSessionGetOutputName          = 37
	fnCreateRunOptions              = 39
	fnRunOptionsSetTerminate        = 46
	fnRunOptionsUnsetTerminate      = 47
	fnCreateTensorAsOrtValue        = 48
	fnCreateTensorWithDataAsOrtVal  = 49
	fnGetTensorMutableData          = 51
	fnFillStringTensor              = 52
	fnGetStringTensorDataLength     = 53
	fnGetStringTensorContent        = 54
	fnCastTypeInfoToTensorInfo      = 55
	fnGetOnnxTypeFromTypeInfo       = 56
	fnGetTensorElementType          = 60
	fnGetDimensionsCount            = 61
	fnGetDimensions                 = 62
	fnGetSymbolicDimensions         = 63
	fnGetTensorTypeAndShape         = 65
	fnCreateCpuMemoryInfo           = 69
	fnAllocatorFree                 = 76
	fnGetAllocatorWithDefaultOption = 78
	fnReleaseEnv                    = 92
	fnReleaseStatus                 = 93
	fnReleaseMemoryInfo             = 94
	fnReleaseSession                = 95
	fnReleaseValue                  = 96
	fnReleaseRunOptions             = 97
	fnReleaseTypeInfo               = 98
	fnReleaseTensorTypeAndShapeInfo = 99
	fnReleaseSessionOptions         = 100

	// In the tables of OrtApi version apiVersionResizeString (ORT 1.15) on.
	fnGetResizedStringTensorElementBuffer = 252
)

// ErrRuntime wraps errors reported by ONNX Runtime itself.
var ErrRuntime = backend.FrameworkSentinel("onnxruntime")

// api is a bound OrtApi table.
type api struct {
	table  dlopen.Table
	status [3]uintptr // GetErrorMessage, GetErrorCode, ReleaseStatus
}

func newAPI(table uintptr) *api {
	t := dlopen.Table(table)
	return &api{table: t, status: [3]uintptr{t.Fn(fnGetErrorMessage), t.Fn(fnGetErrorCode), t.Fn(fnReleaseStatus)}}
}

// call invokes table entry fn and converts a returned OrtStatus* to an error.
func (a *api) call(fn int, args ...uintptr) error {
	return a.check(dlopen.Call(a.table.Fn(fn), args...))
}

// raw invokes a table entry that returns no status (Release*, Get* that return values).
func (a *api) raw(fn int, args ...uintptr) uintptr {
	return dlopen.Call(a.table.Fn(fn), args...)
}

// callC and rawC are call and raw through a reusable Caller: no allocation.
func (a *api) callC(c *dlopen.Caller, fn int, args ...uintptr) error {
	return a.check(c.Call(a.table.Fn(fn), args...))
}

func (a *api) rawC(c *dlopen.Caller, fn int, args ...uintptr) uintptr {
	return c.Call(a.table.Fn(fn), args...)
}

func (a *api) check(status uintptr) error {
	if status == 0 {
		return nil
	}
	msg := dlopen.GoString(dlopen.Call(a.status[0], status))
	code := dlopen.Call(a.status[1], status)
	dlopen.Call(a.status[2], status)
	return fmt.Errorf("%w: %s (%s)", ErrRuntime, msg, errorCodeName(code))
}

func errorCodeName(code uintptr) string {
	names := []string{"OK", "FAIL", "INVALID_ARGUMENT", "NO_SUCHFILE", "NO_MODEL", "ENGINE_ERROR", "RUNTIME_EXCEPTION", "INVALID_PROTOBUF", "MODEL_LOADED", "NOT_IMPLEMENTED", "INVALID_GRAPH", "EP_FAIL"}
	if int(code) < len(names) {
		return "ORT_" + names[code]
	}
	return fmt.Sprintf("code %d", code)
}

// ptr converts a Go pointer for a native call; the caller keeps the
// pointee alive (heap memory, pinned when it holds the data ORT reads).
func ptr[T any](p *T) uintptr { return uintptr(unsafe.Pointer(p)) }
