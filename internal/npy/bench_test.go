package npy

import (
	"bytes"
	"testing"

	"github.com/carton-run/carton/tensor"
)

func BenchmarkWriteRead46MB(b *testing.B) {
	x, _ := tensor.New(tensor.Float32, tensor.Shape{46e6 / 4})
	var buf bytes.Buffer
	b.Run("write", func(b *testing.B) {
		for b.Loop() {
			buf.Reset()
			if err := Write(&buf, x); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			if _, err := Read(bytes.NewReader(buf.Bytes())); err != nil {
				b.Fatal(err)
			}
		}
	})
}
