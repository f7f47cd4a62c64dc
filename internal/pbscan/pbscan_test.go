package pbscan

import (
	"bytes"
	"errors"
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

func TestWalk(t *testing.T) {
	// A message bigger than a read window: 2000 small fields, then a nested
	// message whose fields Walk reaches through its Off and Len.
	var inner []byte
	inner = protowire.AppendTag(inner, 1, protowire.BytesType)
	inner = protowire.AppendString(inner, "x")
	inner = protowire.AppendTag(inner, 2, protowire.VarintType)
	inner = protowire.AppendVarint(inner, 7)
	var msg []byte
	for i := range 2000 {
		msg = protowire.AppendTag(msg, 1, protowire.BytesType)
		msg = protowire.AppendBytes(msg, make([]byte, i%7))
	}
	msg = protowire.AppendTag(msg, 9, protowire.BytesType)
	msg = protowire.AppendBytes(msg, inner)
	r := bytes.NewReader(msg)

	count, nested := 0, []Field(nil)
	require.NoError(t, Walk(r, 0, int64(len(msg)), func(f Field) error {
		count++
		if f.Num == 9 {
			assert.Equal(t, inner, msg[f.Off:f.Off+f.Len])
			return Walk(r, f.Off, f.Len, func(g Field) error {
				nested = append(nested, g)
				return nil
			})
		}
		assert.Equal(t, uint64(1), f.Num)
		assert.Equal(t, int64((count-1)%7), f.Len)
		return nil
	}))
	assert.Equal(t, 2001, count)
	require.Len(t, nested, 2)
	assert.Equal(t, Field{Num: 1, Wire: 2, Off: int64(len(msg) - len(inner) + 2), Len: 1}, nested[0])
	assert.Equal(t, Field{Num: 2, Wire: 0}, nested[1])

	stop := errors.New("stop")
	seen := 0
	err := Walk(r, 0, int64(len(msg)), func(Field) error { seen++; return stop })
	assert.Same(t, stop, err, "fn's error comes back as it is")
	assert.Equal(t, 1, seen)

	// A nested length past its message's end, though within the reader.
	bad := protowire.AppendTag(nil, 1, protowire.BytesType)
	bad = protowire.AppendVarint(bad, 5)
	bad = append(bad, "abcdefgh"...)
	assert.ErrorIs(t, Walk(bytes.NewReader(bad), 0, 4, func(Field) error { return nil }), ErrNotProtobuf)
}
