package format

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/tensor"
)

const upstreamDir = "../testdata/upstream"

func TestUpstreamTOMLVectors(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(upstreamDir, "toml", "*.toml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "upstream vectors missing: is ../shared beside the repo?")
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		cfg, err := ParseConfig(data)
		if strings.HasSuffix(f, "_expect_failure.toml") {
			assert.ErrorIs(t, err, ErrMalformed, f)
			continue
		}
		require.NoError(t, err, f)
		// Round trip: what we write parses back to the same config.
		out, err := cfg.Marshal()
		require.NoError(t, err, f)
		again, err := ParseConfig(out)
		require.NoError(t, err, "%s re-parse:\n%s", f, out)
		assert.Equal(t, normalise(cfg), normalise(again), f)
	}
}

func normalise(c *Config) *Config {
	cp := *c
	if cp.RequiredPlatforms == nil {
		cp.RequiredPlatforms = []string{}
	}
	return &cp
}

func TestCompleteTOML(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(upstreamDir, "toml", "complete.toml"))
	require.NoError(t, err)
	cfg, err := ParseConfig(data)
	require.NoError(t, err)
	assert.Equal(t, "super_awesome_test_model", cfg.ModelName)
	require.Len(t, cfg.Inputs, 2)
	x := cfg.Inputs[0]
	assert.Equal(t, tensor.Float32, x.DType)
	assert.Equal(t, "some_namespace/in_x:0", x.InternalName)
	assert.Equal(t, ShapeSpec{Kind: ShapeDims, Dims: []Dim{{Kind: DimSymbol, Symbol: "batch_size"}, {Size: 3}, {Size: 512}, {Size: 512}}}, x.Shape)
	assert.Equal(t, "=1.12.1", cfg.Runner.RequiredFrameworkVersion)
	assert.Equal(t, 2, cfg.Runner.RunnerCompatVersion)
	assert.Equal(t, map[string]any{"num_interop_threads": int64(4), "num_threads": int64(1)}, cfg.Runner.Opts)
	assert.Equal(t, map[string]string{"x": "@misc/input.png", "y": "@tensor_data/something"}, cfg.Examples[0].Inputs)
}

func TestConfigErrors(t *testing.T) {
	base := "spec_version = 1\n[runner]\nrunner_name = 'noop'\nrequired_framework_version = '*'\nrunner_compat_version = 1\n"
	cases := map[string]string{
		"spec_version 2":      strings.Replace(base, "spec_version = 1", "spec_version = 2", 1),
		"no spec_version":     strings.Replace(base, "spec_version = 1", "", 1),
		"no runner":           "spec_version = 1\n",
		"bad version req":     strings.Replace(base, "'*'", "'>>1'", 1),
		"empty runner":        strings.Replace(base, "'noop'", "''", 1),
		"not toml":            "spec_version = = 1",
		"wrong type":          strings.Replace(base, "spec_version = 1", "spec_version = 'one'", 1),
		"bad dtype":           base + "[[input]]\nname='x'\ndtype='complex'\nshape='*'\n",
		"bad shape":           base + "[[input]]\nname='x'\ndtype='float32'\nshape=[1.5]\n",
		"negative dim":        base + "[[input]]\nname='x'\ndtype='float32'\nshape=[-1]\n",
		"no shape":            base + "[[input]]\nname='x'\ndtype='float32'\n",
		"duplicate input":     base + "[[input]]\nname='x'\ndtype='float32'\nshape='*'\n[[input]]\nname='x'\ndtype='float32'\nshape='*'\n",
		"bad opt":             base + "[runner.opts]\nx = [1]\n",
		"example bad ref":     base + "[[example]]\ninputs = {x = 'file.png'}\n",
		"self-test empty ref": base + "[[self_test]]\ninputs = {x = '@tensor_data/'}\n",
	}
	for name, doc := range cases {
		_, err := ParseConfig([]byte(doc))
		assert.ErrorIs(t, err, ErrMalformed, name)
	}
	cfg, err := ParseConfig([]byte(base + "future_key = 3\n[future_table]\na = 1\n"))
	require.NoError(t, err, "unknown keys are ignored")
	assert.Equal(t, "noop", cfg.Runner.RunnerName)
}

// Marshal refuses a config whose carton.toml would not read back: TOML
// strings are UTF-8, and a carton whose carton.toml is not opens nowhere.
func TestMarshalRefusesWhatWouldNotReadBack(t *testing.T) {
	valid := func() *Config {
		return &Config{SpecVersion: 1, Runner: Runner{RunnerName: "noop", RequiredFrameworkVersion: "*", RunnerCompatVersion: 1}}
	}
	_, err := valid().Marshal()
	require.NoError(t, err)
	for name, spoil := range map[string]func(*Config){
		"model_name":        func(c *Config) { c.ModelName = "caf\xe9" },
		"model_description": func(c *Config) { c.ModelDescription = "ok\n\xff" },
		"opt value":         func(c *Config) { c.Runner.Opts = map[string]any{"path": "\xc3("} },
		"opt key":           func(c *Config) { c.Runner.Opts = map[string]any{"\xff": int64(1)} },
		"input description": func(c *Config) {
			c.Inputs = []TensorSpec{{Name: "x", DType: tensor.Float32, Shape: AnyShape, Description: "\x80"}}
		},
		"input name": func(c *Config) { c.Inputs = []TensorSpec{{Name: "\xfe", DType: tensor.Float32, Shape: AnyShape}} },
	} {
		c := valid()
		spoil(c)
		_, err := c.Marshal()
		assert.ErrorIs(t, err, ErrMalformed, name)
		assert.ErrorContains(t, err, "UTF-8", name)
	}
}

func TestParseShapeSpec(t *testing.T) {
	cases := map[string]string{"*": "*", "batch,3,224,224": "[batch,3,224,224]", "": "[]", "[]": "[]", "sym": "sym", "3": "[3]", "*,*": "[*,*]", "[1, 2]": "[1,2]"}
	for in, want := range cases {
		s, err := ParseShapeSpec(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, s.String(), in)
	}
	for _, bad := range []string{"1,-2", "a b", "1,,2", "\xf1", "[1,\xff]"} {
		_, err := ParseShapeSpec(bad)
		assert.ErrorIs(t, err, ErrMalformed, bad)
	}
}

func TestShapeSpecJSON(t *testing.T) {
	for _, in := range []string{`"*"`, `"n"`, `[]`, `[9007199254740993,"n","*"]`} {
		var s ShapeSpec
		require.NoError(t, s.UnmarshalJSON([]byte(in)), in)
		out, err := s.MarshalJSON()
		require.NoError(t, err)
		assert.Equal(t, in, string(out), "above 2^53 a dimension must not round")
	}
	for _, bad := range []string{`[1.5]`, `[1e3]`, `[1] [2]`, `[-1]`, `{}`, `"a b"`} {
		var s ShapeSpec
		assert.Error(t, s.UnmarshalJSON([]byte(bad)), bad)
	}
}

func TestTensorSpecStringIsPacksForm(t *testing.T) {
	for _, s := range []string{"x", "*", "[]", "[n,2]", "[*,4]"} {
		shape, err := ParseShapeSpec(s)
		require.NoError(t, err)
		spec := TensorSpec{Name: "x", DType: tensor.Float32, Shape: shape}
		back, err := ParseShapeSpec(strings.TrimPrefix(spec.String(), "x:float32:"))
		require.NoError(t, err, spec.String())
		assert.Equal(t, shape, back, spec.String())
	}
	assert.Equal(t, "[a:int64:[n] b:string:*]", fmt.Sprint([]TensorSpec{
		{Name: "a", DType: tensor.Int64, Shape: ShapeSpec{Kind: ShapeDims, Dims: []Dim{{Kind: DimSymbol, Symbol: "n"}}}},
		{Name: "b", DType: tensor.String, Shape: AnyShape},
	}))
}
