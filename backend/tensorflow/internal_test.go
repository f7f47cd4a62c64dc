package tensorflow

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/internal/refdata"
	"github.com/carton-run/carton/tensor"
)

const testModels = "../../testdata/tensorflow"

// openTestSession loads a test SavedModel straight into a session.
func openTestSession(t *testing.T, name string) *session {
	t.Helper()
	found, err := Runner{}.Runtimes(context.Background(), backend.Hints{})
	if len(found) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs a TensorFlow runtime (make setup): %v", err)
		}
		t.Skipf("no TensorFlow found: %v", err)
	}
	lib, err := loadLibrary(found[0].Path)
	require.NoError(t, err)
	o, err := parseOptions(nil)
	require.NoError(t, err)
	s, err := newSession(lib, filepath.Join(testModels, name), o)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// The common path shares Go memory with TensorFlow: tensor.New allocates
// 64-byte aligned buffers, and TF_NewTensor wraps them as they are. An
// unaligned buffer is copied, which shows the check can tell the two apart.
func TestAlignedInputsAreNotCopied(t *testing.T) {
	s := openTestSession(t, "first")
	cs := s.scratch.Get().(*callState)
	defer cs.pin.Unpin()
	tensorData := func(x tensor.Tensor) uintptr {
		v, err := s.newInputTensor(cs, &s.sig.inputs[0], x)
		require.NoError(t, err)
		defer cs.Call(s.lib.fn.deleteTensor, v)
		return cs.Call(s.lib.fn.tensorData, v)
	}
	aligned, err := tensor.New(tensor.Float32, tensor.Shape{1024})
	require.NoError(t, err)
	assert.Equal(t, uintptr(aligned.Pointer()), tensorData(aligned), "aligned Go memory must be shared, not copied")

	buf := tensor.Aligned[float32](1025)
	unaligned, err := tensor.From(tensor.Shape{1024}, buf[1:])
	require.NoError(t, err)
	assert.NotEqual(t, uintptr(unaligned.Pointer()), tensorData(unaligned), "TensorFlow copies unaligned data")
}

// When Infer returns, TensorFlow has released every input buffer: each
// deallocator ran, so no Go memory is referenced after unpinning. The
// dtypes model's outputs are Identity of its inputs, the case where
// TensorFlow hands an input buffer back.
func TestNoGoMemoryHeldAfterInfer(t *testing.T) {
	s := openTestSession(t, "dtypes")
	s.dealloc = countingDeallocator()
	in, want := refdata.Load(t, testModels, "dtypes")
	for k, v := range in {
		c, err := v.Clone() // aligned, so TensorFlow shares rather than copies
		require.NoError(t, err)
		in[k] = c
	}
	before := deallocations.Load()
	got := map[string]tensor.Tensor{}
	require.NoError(t, s.Infer(context.Background(), in, got))
	assert.Equal(t, uint64(len(in)), deallocations.Load()-before, "every input's deallocator ran before Infer returned")
	aliased := 0
	for name, w := range want {
		assert.Nil(t, tensor.Compare(got[name], w, tensor.Tolerance{Rtol: 1e-3, Atol: 1e-3}), name)
		if src, ok := in[name[:len(name)-len("_out")]]; ok && got[name].Pointer() == src.Pointer() {
			aliased++
			assert.False(t, got[name].IsForeign(), "an aliasing output is a view of Go memory")
		}
		got[name].Release()
	}
	t.Logf("%d of %d outputs alias their input", aliased, len(want))
	assert.Positive(t, aliased, "Identity outputs should come back as views of their inputs")
}

func TestStringViewsRoundTrip(t *testing.T) {
	strs := []string{"", "short", "exactly twenty-two b..", "a string far longer than the inline capacity of 22 bytes"}
	total := 1
	for _, s := range strs {
		total += len(s)
	}
	buf := make([]byte, total)
	hdr := make([]byte, len(strs)*tstringSize)
	encodeViews(hdr, buf, strs)
	got, err := decodeTStrings(uintptrOf(hdr), len(strs))
	require.NoError(t, err)
	assert.Equal(t, strs, got)
}

// The other three layouts TensorFlow writes, built by hand.
func TestDecodeTStringLayouts(t *testing.T) {
	heap := []byte("a heap-allocated string of some length")
	raw := make([]byte, 3*tstringSize+8)
	// SMALL: size<<2 in byte 0, bytes inline.
	raw[0] = 5 << 2
	copy(raw[1:], "hello")
	// LARGE: size<<2|1, capacity, pointer.
	e := raw[tstringSize:]
	putU64(e[0:], uint64(len(heap))<<2|tstringLarge)
	putU64(e[8:], uint64(len(heap)))
	putU64(e[16:], uint64(uintptrOf(heap)))
	// OFFSET: uint32 size<<2|2, uint32 offset from the element, count.
	e = raw[2*tstringSize:]
	putU32(e[0:], 3<<2|tstringOffset)
	putU32(e[4:], tstringSize)
	copy(raw[3*tstringSize:], "off")
	got, err := decodeTStrings(uintptrOf(raw), 3)
	require.NoError(t, err)
	assert.Equal(t, []string{"hello", string(heap), "off"}, got)

	raw[0] = 30 << 2 // an inline size beyond the inline capacity
	_, err = decodeTStrings(uintptrOf(raw), 1)
	require.ErrorIs(t, err, ErrTensorFlow)
}

func TestSplitTensorName(t *testing.T) {
	for in, want := range map[string]struct {
		op    string
		index int
	}{"a:0": {"a", 0}, "serving_default_x:3": {"serving_default_x", 3}, "plain": {"plain", 0}} {
		op, i, err := splitTensorName(in)
		require.NoError(t, err)
		assert.Equal(t, want.op, op)
		assert.Equal(t, want.index, i)
	}
	for _, bad := range []string{"a:", "a:-1", ":1", "a:x"} {
		_, _, err := splitTensorName(bad)
		assert.Error(t, err, bad)
	}
}
