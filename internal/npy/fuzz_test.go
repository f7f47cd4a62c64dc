package npy

import (
	"bytes"
	"math"
	"testing"

	"github.com/carton-run/carton/tensor"
)

func FuzzRead(f *testing.F) {
	for _, x := range []tensor.Tensor{
		tensor.Scalar(float32(3.25)),
		tensor.Scalar(int64(-9)),
	} {
		var buf bytes.Buffer
		if err := Write(&buf, x); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	s, _ := tensor.FromStrings(tensor.Shape{2}, []string{"a", "bcd"})
	b, _ := tensor.From(tensor.Shape{2, 2}, []bool{true, false, false, true})
	h, _ := tensor.From(tensor.Shape{1}, []tensor.F16{tensor.NewF16(1.5)})
	for _, x := range []tensor.Tensor{s, b, h} {
		var buf bytes.Buffer
		if err := Write(&buf, x); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := Write(&buf, x); err != nil {
			t.Fatalf("read %s, cannot write it back: %v", x, err)
		}
		back, err := Read(&buf)
		if err != nil {
			t.Fatalf("wrote %s, cannot read it back: %v", x, err)
		}
		if m := tensor.Compare(back, x, tensor.Tolerance{}); m != nil && !hasNaN(x) {
			t.Fatalf("%s read back as %s: %v", x, back, m)
		}
	})
}

func hasNaN(x tensor.Tensor) bool {
	vals, err := tensor.Float64s(x)
	if err != nil {
		return false
	}
	for _, v := range vals {
		if math.IsNaN(v) {
			return true
		}
	}
	return false
}
