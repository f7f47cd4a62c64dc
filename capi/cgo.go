//go:build cgo

package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include -O2
#include "capi.h"

extern char **environ;
static char **capi_environ(void) { return environ; }
*/
import "C"

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"unsafe"
)

// cString is s in malloc'd memory.
func cString(s string) *C.char { return C.CString(s) }

// fail stores err's message in *errOut (when not NULL) and returns its
// status.
func fail(errOut **C.char, err error) C.int {
	if errOut != nil {
		*errOut = cString(err.Error())
	}
	return C.int(statusOf(err))
}

// ok clears *errOut.
func ok(errOut **C.char) C.int {
	if errOut != nil {
		*errOut = nil
	}
	return statusOK
}

// guard turns a panic into CARTON_ERR_OTHER: none may cross into C.
func guard(status *C.int, errOut **C.char) {
	if r := recover(); r != nil {
		*status = fail(errOut, fmt.Errorf("carton: internal error: %v\n%s", r, debug.Stack()))
	}
}

var version = sync.OnceValue(func() *C.char {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/carton-run/carton" {
				v = d.Version
			}
		}
		if bi.Main.Path == "github.com/carton-run/carton" && bi.Main.Version != "" {
			v = bi.Main.Version
		}
	}
	return cString(v) // static storage: made once, never freed
})

//export capi_version
func capi_version() *C.char { return version() }

// syncEnviron makes Go's environment the process's as it is now. A Go
// library reads the environment once, when it is loaded; a host that sets
// CARTON_* (or pip's) settings after that, as carton_go does from Python
// (os.environ), expects the next carton_load to honour them.
func syncEnviron() {
	now := map[string]string{}
	for p := C.capi_environ(); p != nil && *p != nil; p = (**C.char)(unsafe.Add(unsafe.Pointer(p), unsafe.Sizeof(*p))) {
		if k, v, ok := strings.Cut(C.GoString(*p), "="); ok {
			now[k] = v
		}
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "" {
			if _, ok := now[k]; !ok {
				os.Unsetenv(k)
			}
		}
	}
	for k, v := range now {
		if cur, ok := os.LookupEnv(k); !ok || cur != v {
			os.Setenv(k, v)
		}
	}
}

// goShape reads ndim dims at shape.
func goShape(shape *C.int64_t, ndim C.size_t) ([]int64, error) {
	if ndim == 0 {
		return []int64{}, nil
	}
	if shape == nil {
		return nil, fmt.Errorf("%w: shape is NULL with ndim %d", errInvalidArgument, ndim)
	}
	if ndim > 64 {
		return nil, fmt.Errorf("%w: ndim %d: at most 64 dimensions", errInvalidArgument, ndim)
	}
	return append([]int64(nil), unsafe.Slice((*int64)(unsafe.Pointer(shape)), int(ndim))...), nil
}
