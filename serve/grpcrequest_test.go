package serve

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/carton-run/carton/serve/internal/oippb"
)

// frames splits msg into buffers of size, as gRPC hands a message over
// that arrived in several HTTP/2 frames.
func frames(msg []byte, size int) mem.BufferSlice {
	var out mem.BufferSlice
	for len(msg) > 0 {
		n := min(size, len(msg))
		out = append(out, mem.SliceBuffer(append([]byte(nil), msg[:n]...)))
		msg = msg[n:]
	}
	return out
}

func TestGRPCRawInputsAreAlignedViews(t *testing.T) {
	a := make([]byte, 1<<20)
	for i := range a {
		a[i] = byte(i * 7)
	}
	want := &oippb.ModelInferRequest{ModelName: "m", Id: "r", Inputs: []*oippb.ModelInferRequest_InferInputTensor{
		{Name: "a", Datatype: "FP32", Shape: []int64{1 << 18}}, {Name: "b", Datatype: "INT64", Shape: []int64{2}}},
		Parameters:       map[string]*oippb.InferParameter{"timeout": {ParameterChoice: &oippb.InferParameter_Int64Param{Int64Param: 5}}},
		RawInputContents: [][]byte{a, make([]byte, 16)}}
	msg, err := proto.Marshal(want)
	require.NoError(t, err)
	for _, size := range []int{16 << 10, 7, len(msg)} {
		var got oippb.ModelInferRequest
		require.NoError(t, unmarshalInferRequest(frames(msg, size), &got))
		assert.True(t, proto.Equal(want, &got), "frames of %d", size)
		p := uintptr(unsafe.Pointer(unsafe.SliceData(got.RawInputContents[0])))
		assert.Zero(t, p%alignment, "the first raw input is 64-byte aligned")
		// Views of one buffer: the second follows the first, after its tag
		// and length (so misaligned here: grpcInputs copies it).
		assert.Equal(t, p+uintptr(len(a))+2, uintptr(unsafe.Pointer(unsafe.SliceData(got.RawInputContents[1]))))
	}
}

// Any message decodes as proto.Unmarshal decodes it, or fails where it
// fails.
func FuzzGRPCInferRequest(f *testing.F) {
	seed, _ := proto.Marshal(&oippb.ModelInferRequest{ModelName: "m", Inputs: []*oippb.ModelInferRequest_InferInputTensor{{Name: "x", Datatype: "FP32", Shape: []int64{1}}},
		RawInputContents: [][]byte{{1, 2, 3, 4}, {}}, Outputs: []*oippb.ModelInferRequest_InferRequestedOutputTensor{{Name: "y"}}})
	f.Add(seed)
	f.Add([]byte{0x3a, 0x05, 1, 2})       // raw_input_contents longer than the message
	f.Add([]byte{0x38, 0x01})             // field 7 as a varint
	f.Add([]byte{0x3a, 0xff, 0xff, 0xff}) // a truncated length
	f.Fuzz(func(t *testing.T, msg []byte) {
		var want, got oippb.ModelInferRequest
		wantErr := proto.Unmarshal(msg, &want)
		gotErr := unmarshalInferRequest(frames(msg, 5), &got)
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("proto.Unmarshal: %v, unmarshalInferRequest: %v", wantErr, gotErr)
		}
		if wantErr == nil && !proto.Equal(&want, &got) {
			t.Fatalf("decoded differently:\n%v\n%v", &want, &got)
		}
	})
}
