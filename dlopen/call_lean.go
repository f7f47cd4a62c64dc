//go:build linux && (amd64 || arm64)

package dlopen

import (
	"unsafe"

	"github.com/ebitengine/purego"
)

// maxArgs is the trampoline's argument count.
const maxArgs = 15

// callFrame is what callTrampoline (call_linux_amd64.s, call_linux_arm64.s)
// reads and writes.
type callFrame struct {
	fn   uintptr
	args [maxArgs]uintptr
	r1   uintptr
}

// callTrampolineABI0 is the address of callTrampoline.
var callTrampolineABI0 uintptr

// runtime.cgocall switches to the system stack and marks the goroutine as
// in a native call, as for cgo; purego's fake cgo runtime makes it work
// with CGO_ENABLED=0. The runtime keeps it linkable for purego.
//
//go:linkname runtimeCgocall runtime.cgocall
func runtimeCgocall(fn uintptr, arg unsafe.Pointer) int32

func (c *Caller) call(fn uintptr, args []uintptr) uintptr {
	if len(args) > maxArgs { // rare: purego takes up to 32
		// A copy, so that args (on the caller's stack) does not escape.
		r, _, _ := purego.SyscallN(fn, append([]uintptr(nil), args...)...)
		return r
	}
	f := &c.frame
	f.fn = fn
	copy(f.args[:], args) // arguments past len(args) are stale but unread
	runtimeCgocall(callTrampolineABI0, unsafe.Pointer(f))
	return f.r1
}
