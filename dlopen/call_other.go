//go:build !(linux && (amd64 || arm64))

package dlopen

import "github.com/ebitengine/purego"

// callFrame is the heap slice purego copies arguments through.
type callFrame struct {
	args [16]uintptr
}

func (c *Caller) call(fn uintptr, args []uintptr) uintptr {
	n := copy(c.frame.args[:], args)
	r, _, _ := purego.SyscallN(fn, c.frame.args[:n]...)
	return r
}
