package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/internal/refdata"
)

func TestCheckModel(t *testing.T) {
	models, _ := filepath.Glob("../../testdata/onnx/*.onnx")
	external, _ := filepath.Glob("../../testdata/onnx/external/*.onnx")
	require.NotEmpty(t, models)
	require.NotEmpty(t, external)
	var good []byte
	for _, p := range models {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.NoError(t, Runner{}.CheckModel(refdata.ModelDir(t, "model.onnx", b)), p)
		good = b
	}
	assert.NoError(t, Runner{}.CheckModel("../../testdata/onnx/external"), "the directory's one *.onnx, its data beside it")

	notONNX := map[string]string{
		"../../testdata/torch/first.pt":                  "field number 0",
		"../../testdata/tensorflow/dense/saved_model.pb": "no graph",
		"../../testdata/upstream/toml/complete.toml":     "",
	}
	for p, msg := range notONNX {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		err = Runner{}.CheckModel(refdata.ModelDir(t, "model.onnx", b))
		require.ErrorIs(t, err, backend.ErrModel, p)
		assert.Contains(t, err.Error(), "is not an ONNX model", p)
		assert.Contains(t, err.Error(), msg, p)
	}
	for _, data := range [][]byte{nil, good[:len(good)/2], good[:len(good)-1]} {
		err := Runner{}.CheckModel(refdata.ModelDir(t, "model.onnx", data))
		require.ErrorIs(t, err, backend.ErrModel, "%d bytes", len(data))
	}
	ortFormat := append([]byte{0x1c, 0, 0, 0}, "ORTM"...)
	assert.NoError(t, Runner{}.CheckModel(refdata.ModelDir(t, "model.onnx", append(ortFormat, make([]byte, 64)...))))
	err := Runner{}.CheckModel(t.TempDir())
	require.ErrorIs(t, err, backend.ErrModel)
	assert.Contains(t, err.Error(), "no model/model.onnx")
}

// A model keeping initializer data in files (ONNX external data) needs
// them in its directory: without, it is an ONNX model that cannot be
// packed as it is (backend.UnusableModelError), not another kind of file.
func TestCheckModelExternalData(t *testing.T) {
	model, err := os.ReadFile("../../testdata/onnx/external/model.onnx")
	require.NoError(t, err)
	files, err := externalDataFiles(bytes.NewReader(model), int64(len(model)))
	require.NoError(t, err)
	assert.Equal(t, []string{"weights.bin"}, files)

	alone := refdata.ModelDir(t, "model.onnx", model)
	err = Runner{}.CheckModel(alone)
	require.ErrorIs(t, err, backend.ErrModel)
	var unusable *backend.UnusableModelError
	require.ErrorAs(t, err, &unusable)
	assert.Contains(t, err.Error(), "keeps initializer data in weights.bin, which is not beside it")
	require.NoError(t, os.WriteFile(filepath.Join(alone, "weights.bin"), make([]byte, 64), 0o644))
	assert.NoError(t, Runner{}.CheckModel(alone))

	for _, location := range []string{"../weights.bin", "/etc/weights.bin", "sub/../../weights.bin"} {
		dir := refdata.ModelDir(t, "model.onnx", withLocation(model, location))
		err := Runner{}.CheckModel(dir)
		require.ErrorAs(t, err, &unusable, location)
		assert.Contains(t, err.Error(), "outside its directory", location)
	}
}

// withLocation rewrites the location of model's external data entries
// (ModelProto.graph.initializer.external_data with key "location").
func withLocation(model []byte, location string) []byte {
	return rewrite(model, []protowire.Number{modelProtoGraph, graphProtoInitializer, tensorProtoExternalData}, func(entry []byte) []byte {
		var key string
		_ = fields(entry, func(num protowire.Number, v []byte) error {
			if num == stringEntryKey {
				key = string(v)
			}
			return nil
		})
		if key != "location" {
			return entry
		}
		out := protowire.AppendTag(nil, stringEntryKey, protowire.BytesType)
		out = protowire.AppendString(out, key)
		out = protowire.AppendTag(out, stringEntryValue, protowire.BytesType)
		return protowire.AppendString(out, location)
	})
}

// rewrite re-encodes msg with fn applied to each length-delimited field
// at path (field numbers, outermost first), every other field as it was.
func rewrite(msg []byte, path []protowire.Number, fn func([]byte) []byte) []byte {
	var out []byte
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		tag := msg[:n]
		msg = msg[n:]
		m := protowire.ConsumeFieldValue(num, typ, msg)
		value := msg[:m]
		msg = msg[m:]
		if typ != protowire.BytesType || num != path[0] {
			out = append(append(out, tag...), value...)
			continue
		}
		inner, _ := protowire.ConsumeBytes(value)
		if len(path) == 1 {
			inner = fn(inner)
		} else {
			inner = rewrite(inner, path[1:], fn)
		}
		out = protowire.AppendBytes(append(out, tag...), inner)
	}
	return out
}
