package dlopen

import "testing"

// BenchmarkCall measures one native call through purego: the unit cost of
// every native call a backend makes.
func BenchmarkCall(b *testing.B) {
	lib, err := Open("libc.so.6")
	if err != nil {
		b.Skip(err)
	}
	abs, err := lib.Symbol("labs")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Caller", func(b *testing.B) {
		var c Caller
		b.ReportAllocs()
		for b.Loop() {
			c.Call(abs, 7)
		}
	})
	b.Run("Call", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Call(abs, 7)
		}
	})
}
