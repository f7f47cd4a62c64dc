package dlopen

import (
	"testing"

	"github.com/ebitengine/purego"
)

// BenchmarkCall measures one native call: the unit cost of every native
// call a backend makes. Caller is what the hot paths use (on linux/amd64
// this package's trampoline); purego-reused is purego.SyscallN through a
// reused heap slice, what Caller did before; Call is the package-level
// function (a pooled Caller).
func BenchmarkCall(b *testing.B) {
	abs := libcSymbol(b, "labs")
	b.Run("Caller", func(b *testing.B) {
		var c Caller
		b.ReportAllocs()
		for b.Loop() {
			c.Call(abs, 7)
		}
	})
	b.Run("purego-reused", func(b *testing.B) {
		args := make([]uintptr, 1)
		b.ReportAllocs()
		for b.Loop() {
			args[0] = 7
			purego.SyscallN(abs, args...)
		}
	})
	b.Run("Call", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Call(abs, 7)
		}
	})
}
