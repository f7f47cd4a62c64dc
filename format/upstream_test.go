package format

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/tensor"
)

var upstreamCarton = filepath.Join(upstreamDir, "test.carton")

func TestUpstreamCarton(t *testing.T) {
	c, err := Open(upstreamCarton, OpenOptions{})
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, "f1cae5143a92a44e3a7e1d9c32a0245065dfb6e0f1e91c18b5e44356d081dfb5", c.ManifestSHA256)
	assert.True(t, c.Packed)
	cfg := c.Config
	assert.Equal(t, "Test Model", cfg.ModelName)
	assert.Equal(t, "python", cfg.Runner.RunnerName)
	assert.Equal(t, "=3.11", cfg.Runner.RequiredFrameworkVersion)
	assert.Equal(t, map[string]any{"entrypoint_fn": "get_model", "entrypoint_package": "main"}, cfg.Runner.Opts)
	assert.Len(t, cfg.RequiredPlatforms, 4)

	var shapes []string
	var dtypes []tensor.DType
	for _, in := range cfg.Inputs {
		shapes = append(shapes, in.Name+":"+in.Shape.String())
		dtypes = append(dtypes, in.DType)
	}
	assert.Equal(t, []string{"a:*", "b:some_symbol", "c:[*]", "d:[some_symbol]", "e:[]", "f:[batch_size,3,512,512]", "g:[*,*,*]"}, shapes)
	assert.Equal(t, []tensor.DType{tensor.Float32, tensor.Float64, tensor.String, tensor.Int8, tensor.Int16, tensor.Int32, tensor.Int64}, dtypes)
	require.Len(t, cfg.Outputs, 1)
	assert.Equal(t, "[2,3,512,512]", cfg.Outputs[0].Shape.String())

	require.Len(t, cfg.SelfTests, 1)
	st := cfg.SelfTests[0]
	assert.Equal(t, "a_self_test", st.Name)
	assert.Equal(t, map[string]string{"a": "@tensor_data/_tensor_1", "b": "@tensor_data/_tensor_0"}, st.Inputs)
	assert.Equal(t, map[string]string{"y": "@tensor_data/_tensor_2"}, st.ExpectedOut)
	require.Len(t, cfg.Examples, 1)
	assert.Equal(t, map[string]string{"f": "@misc/_example_misc_file_0"}, cfg.Examples[0].Inputs)
	assert.Equal(t, map[string]string{"y": "@tensor_data/_tensor_3"}, cfg.Examples[0].SampleOut)

	td, err := c.TensorData()
	require.NoError(t, err)
	a := td.Tensors["_tensor_1"]
	assert.Equal(t, tensor.Float32, a.DType())
	assert.Equal(t, tensor.Shape{5}, a.Shape())
	assert.Equal(t, []float32{1, 1, 1, 1, 1}, tensor.MustView[float32](a))

	b := td.Tensors["_tensor_0"]
	assert.Equal(t, tensor.String, b.DType())
	assert.Equal(t, tensor.Shape{3}, b.Shape())
	s, _ := b.Strings()
	assert.Equal(t, "Hello 💖 😂😍🎉👍 Unicode", s[0])
	assert.Equal(t, "Some Telugu: గ ఘ ఙ చ ఛ జ ఝ ఞ ట ఠ డ ఢ ణ త థ ద ధ న ప ఫ బ భ మ య ర ఱ", s[1])
	assert.Equal(t, "Let's 🤑 make 🙋😬 sure 👍 emojis ⚽ work 💼🙄 well 🤓🤒", s[2])

	y := td.Tensors["_tensor_2"]
	assert.Equal(t, tensor.Uint32, y.DType())
	assert.Equal(t, tensor.Shape{5}, y.Shape())
	assert.Equal(t, []uint32{1, 1, 1, 1, 1}, tensor.MustView[uint32](y))

	sample := td.Tensors["_tensor_3"]
	assert.Equal(t, tensor.Int64, sample.DType())
	assert.Equal(t, tensor.Shape{}, sample.Shape())
	assert.Equal(t, []int64{5}, tensor.MustView[int64](sample))

	misc, err := c.ReadFile("misc/_example_misc_file_0")
	require.NoError(t, err)
	assert.Len(t, misc, 539819)

	dir, err := c.Materialize(context.Background(), t.TempDir())
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(dir, "main.py"))
	assert.FileExists(t, filepath.Join(dir, ".carton", "carton.lock"))
}
