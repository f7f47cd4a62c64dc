package pbscan

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

func TestHasMessageField(t *testing.T) {
	var msg []byte // every wire type, then field 7 as a message
	msg = protowire.AppendTag(msg, 1, protowire.VarintType)
	msg = protowire.AppendVarint(msg, 300)
	msg = protowire.AppendTag(msg, 2, protowire.Fixed64Type)
	msg = protowire.AppendFixed64(msg, 1)
	msg = protowire.AppendTag(msg, 3, protowire.Fixed32Type)
	msg = protowire.AppendFixed32(msg, 1)
	msg = protowire.AppendTag(msg, 7, protowire.BytesType)
	msg = protowire.AppendBytes(msg, []byte("graph"))
	for field, want := range map[uint64]bool{7: true, 1: false, 8: false} {
		got, err := HasMessageField(bytes.NewReader(msg), int64(len(msg)), field)
		require.NoError(t, err)
		assert.Equal(t, want, got, "field %d", field)
	}
	empty, err := HasMessageField(bytes.NewReader(nil), 0, 7)
	require.NoError(t, err)
	assert.False(t, empty)

	group := protowire.AppendTag(nil, 4, protowire.StartGroupType)
	for _, bad := range [][]byte{msg[:len(msg)-1], msg[:1], {0x00}, group, {0x0e}, {0x08, 0x80}} {
		_, err := HasMessageField(bytes.NewReader(bad), int64(len(bad)), 7)
		assert.ErrorIs(t, err, ErrNotProtobuf, "%x", bad)
	}
}

func FuzzHasMessageField(f *testing.F) {
	for _, p := range []string{"../../testdata/onnx/matmul_add.onnx", "../../testdata/torch/first.pt", "../../testdata/tensorflow/dense/saved_model.pb"} {
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		found, err := HasMessageField(bytes.NewReader(data), int64(len(data)), 7) // must not panic or loop
		if err == nil {
			// Agree with protowire on what a well-formed message is.
			for b := data; len(b) > 0; {
				_, typ, n := protowire.ConsumeTag(b)
				require.GreaterOrEqual(t, n, 0)
				b = b[n:]
				n = protowire.ConsumeFieldValue(0, typ, b)
				require.GreaterOrEqual(t, n, 0, "pbscan accepted what protowire refuses")
				b = b[n:]
			}
		}
		_ = found
	})
}
