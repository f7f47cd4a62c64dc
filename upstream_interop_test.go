package carton_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

// upstreamPython is a Python with upstream Carton's package (cartonml),
// which make setup installs into build/upstream-venv.
func upstreamPython(t *testing.T) string {
	py := os.Getenv("CARTON_TEST_UPSTREAM_PYTHON")
	if py != "" {
		if err := exec.Command(py, "-c", "import cartonml").Run(); err == nil {
			return py
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no Python with upstream Carton's cartonml at CARTON_TEST_UPSTREAM_PYTHON=%q under CI=true (make setup-upstream installs it)", py)
	}
	t.Skip("set CARTON_TEST_UPSTREAM_PYTHON to a Python with cartonml (make setup-upstream)")
	return ""
}

// upstreamView is what testdata/upstream/read_carton.py prints.
type upstreamView struct {
	ModelName         *string  `json:"model_name"`
	ShortDescription  *string  `json:"short_description"`
	ModelDescription  *string  `json:"model_description"`
	License           *string  `json:"license"`
	Repository        *string  `json:"repository"`
	Homepage          *string  `json:"homepage"`
	RequiredPlatforms []string `json:"required_platforms"`
	Runner            struct {
		RunnerName               string         `json:"runner_name"`
		RequiredFrameworkVersion string         `json:"required_framework_version"`
		RunnerCompatVersion      int            `json:"runner_compat_version"`
		Opts                     map[string]any `json:"opts"`
	} `json:"runner"`
	Inputs, Outputs []struct {
		Name         string          `json:"name"`
		DType        string          `json:"dtype"`
		Shape        json.RawMessage `json:"shape"`
		Description  *string         `json:"description"`
		InternalName *string         `json:"internal_name"`
	}
	SelfTests []struct {
		Name        *string                    `json:"name"`
		Description *string                    `json:"description"`
		Inputs      map[string]*upstreamTensor `json:"inputs"`
		ExpectedOut map[string]*upstreamTensor `json:"expected_out"`
	} `json:"self_tests"`
	Examples []struct {
		Name      *string                    `json:"name"`
		Inputs    map[string]*upstreamTensor `json:"inputs"`
		SampleOut map[string]*upstreamTensor `json:"sample_out"`
	} `json:"examples"`
	MiscFiles map[string]string `json:"misc_files"`
}

type upstreamTensor struct {
	DType      string  `json:"dtype"`
	Shape      []int64 `json:"shape"`
	Data       []any   `json:"data"` // json.Number, or string for string tensors
	MiscSHA256 string  `json:"misc_sha256"`
}

// readUpstream has cartonml read the carton at path; skip names tensors
// it cannot hand to Python (scalar strings).
func readUpstream(t *testing.T, py, path string, skip ...string) upstreamView {
	t.Helper()
	out, stderr, err := runUpstream(py, path, skip...)
	require.NoError(t, err, "cartonml could not read %s:\n%s", path, stderr)
	var v upstreamView
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&v), "%s", out)
	return v
}

func runUpstream(py, path string, skip ...string) (stdout []byte, stderr string, err error) {
	cmd := exec.Command(py, append([]string{"testdata/upstream/read_carton.py", path}, skip...)...)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	stdout, err = cmd.Output()
	return stdout, errBuf.String(), err
}

// sameTensor checks a tensor cartonml read against ours: dtype, shape
// and every element, printed as Python prints them.
func sameTensor(t *testing.T, what string, got *upstreamTensor, want tensor.Tensor) {
	t.Helper()
	require.NotNil(t, got, what)
	assert.Equal(t, []int64(want.Shape()), append([]int64{}, got.Shape...), what)
	n, err := want.Shape().NumElements()
	require.NoError(t, err)
	require.Len(t, got.Data, n, what)
	if want.DType() == tensor.String {
		assert.Regexp(t, `^<U\d+$`, got.DType, what) // numpy's fixed-width unicode
		strs, _ := want.Strings()
		for i, s := range strs {
			assert.Equal(t, s, got.Data[i], "%s: element %d", what, i)
		}
		return
	}
	assert.Equal(t, want.DType().String(), got.DType, what)
	vals, err := tensor.Float64s(want)
	require.NoError(t, err)
	for i, d := range got.Data {
		n, ok := d.(json.Number)
		require.True(t, ok, "%s: element %d is %v", what, i, d)
		var s string
		switch want.DType() {
		case tensor.Float32, tensor.Float64:
			s = strconv.FormatFloat(vals[i], 'g', -1, 64)
			if f, err := strconv.ParseFloat(n.String(), 64); err == nil && f == vals[i] {
				continue // the same float, printed another way (1e+30 / 1e30)
			}
		case tensor.Uint64:
			s = fmt.Sprint(tensor.MustView[uint64](want)[i])
		case tensor.Int64:
			s = fmt.Sprint(tensor.MustView[int64](want)[i])
		default:
			s = fmt.Sprint(int64(vals[i]))
		}
		assert.Equal(t, s, n.String(), "%s: element %d", what, i)
	}
}

// upstreamShape is spec's shape as cartonml shows it: "*" is None.
func upstreamShape(t *testing.T, spec format.ShapeSpec) string {
	b, err := json.Marshal(spec)
	require.NoError(t, err)
	var v any
	require.NoError(t, json.Unmarshal(b, &v))
	switch x := v.(type) {
	case string:
		if x == "*" {
			v = nil
		}
	case []any:
		for i, d := range x {
			if d == "*" {
				x[i] = nil
			}
		}
	}
	b, err = json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func mustTensor[T tensor.Elem](t *testing.T, shape tensor.Shape, data []T) tensor.Tensor {
	x, err := tensor.From(shape, data)
	require.NoError(t, err)
	return x
}

// Upstream Carton (its Python package, cartonml) reads what Pack writes:
// every carton.toml field, every dtype and shape form the format has, the
// tensors of self-tests and examples element by element, and misc files.
func TestUpstreamReadsOurCartons(t *testing.T) {
	py := upstreamPython(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	require.NoError(t, os.MkdirAll(filepath.Join(model, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(model, "weights.bin"), []byte("weights"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(model, "sub", "more.bin"), []byte("more"), 0o644))
	require.NoError(t, os.Symlink("weights.bin", filepath.Join(model, "alias.bin")))
	require.NoError(t, os.Symlink("sub", filepath.Join(model, "current"))) // stored as model/current/more.bin -> ../sub/more.bin
	misc := filepath.Join(dir, "diagram.txt")
	require.NoError(t, os.WriteFile(misc, []byte("a diagram"), 0o644))

	words, err := tensor.FromStrings(tensor.Shape{2}, []string{"a", "é"})
	require.NoError(t, err)
	word, err := tensor.FromStrings(tensor.Shape{}, []string{"scalar"})
	require.NoError(t, err)
	inputs := map[string]tensor.Tensor{
		"f32": mustTensor(t, tensor.Shape{2, 3}, []float32{0.1, -1.5, 3e-8, 1e30, 0, -0}),
		"f64": mustTensor(t, tensor.Shape{3}, []float64{0.1, -2.5e-300, 1e300}),
		"i8":  mustTensor(t, tensor.Shape{2}, []int8{-128, 127}),
		"i16": mustTensor(t, tensor.Shape{2}, []int16{-32768, 32767}),
		"i32": mustTensor(t, tensor.Shape{1, 2}, []int32{-1 << 31, 1<<31 - 1}),
		"i64": mustTensor(t, tensor.Shape{2}, []int64{-1 << 63, 1<<63 - 1}),
		"u8":  mustTensor(t, tensor.Shape{2}, []uint8{0, 255}),
		"u16": mustTensor(t, tensor.Shape{2}, []uint16{0, 65535}),
		"u32": mustTensor(t, tensor.Shape{2}, []uint32{0, 1<<32 - 1}),
		"u64": mustTensor(t, tensor.Shape{2}, []uint64{0, 1<<64 - 1}),
		"s":   words,
		"s0":  word,
		"one": tensor.Scalar(float32(2.5)),
	}
	var specs []format.TensorSpec
	shapes := map[string]string{"f32": "batch,3", "f64": "*", "i8": "[*]", "i16": "[2]", "i32": "1,*", "i64": "seq",
		"u8": "[batch]", "u16": "*", "u32": "*", "u64": "*", "s": "[*]", "s0": "[]", "one": "[]"}
	for _, name := range format.SortedKeys(inputs) {
		sh, err := format.ParseShapeSpec(shapes[name])
		require.NoError(t, err, name)
		specs = append(specs, format.TensorSpec{Name: name, DType: inputs[name].DType(), Shape: sh})
	}
	specs[0].Description, specs[0].InternalName = "the first input", "graph/node:0"
	cfg := format.Config{
		ModelName:         "interop",
		ShortDescription:  "every field upstream reads",
		ModelDescription:  "# Interop\n\nSee `@misc/diagram.txt`.\n",
		License:           "Apache-2.0",
		Repository:        "https://example.com/repo",
		Homepage:          "https://example.com",
		RequiredPlatforms: []string{"x86_64-unknown-linux-gnu", "aarch64-apple-darwin"},
		Inputs:            specs,
		Outputs:           []format.TensorSpec{{Name: "f32", DType: tensor.Float32, Shape: specs[0].Shape}},
		Runner: format.Runner{RunnerName: "noop", RequiredFrameworkVersion: ">=1.2, <3", RunnerCompatVersion: 1,
			Opts: map[string]any{"threads": int64(4), "scale": 0.5, "mode": "fast", "fuse": true}},
	}
	path := filepath.Join(dir, "interop.carton")
	_, err = carton.Pack(context.Background(), model, path, carton.PackOptions{
		Config: cfg,
		Misc:   []string{misc},
		SelfTests: []carton.PackSelfTest{
			{Name: "all dtypes", Description: "every dtype in, f32 out", Inputs: inputs, ExpectedOut: map[string]tensor.Tensor{"f32": inputs["f32"]}},
			{Inputs: map[string]tensor.Tensor{"one": inputs["one"]}}, // no expected_out
		},
		Examples: []carton.PackExample{
			{Name: "with output", Inputs: map[string]tensor.Tensor{"f32": inputs["f32"]}, SampleOut: map[string]tensor.Tensor{"f32": inputs["f32"]}},
			{Inputs: map[string]tensor.Tensor{"u8": inputs["u8"]}}, // no sample_out: upstream still needs the (empty) table
			{MiscInputs: map[string]string{"f32": misc}, MiscSampleOut: map[string]string{"f32": misc}},
		},
	})
	require.NoError(t, err)

	v := readUpstream(t, py, path, "s0")
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	assert.Equal(t, cfg.ModelName, str(v.ModelName))
	assert.Equal(t, cfg.ShortDescription, str(v.ShortDescription))
	assert.Equal(t, cfg.ModelDescription, str(v.ModelDescription))
	assert.Equal(t, cfg.License, str(v.License))
	assert.Equal(t, cfg.Repository, str(v.Repository))
	assert.Equal(t, cfg.Homepage, str(v.Homepage))
	assert.Equal(t, cfg.RequiredPlatforms, v.RequiredPlatforms)
	assert.Equal(t, "noop", v.Runner.RunnerName)
	assert.Equal(t, ">=1.2, <3", v.Runner.RequiredFrameworkVersion)
	assert.Equal(t, 1, v.Runner.RunnerCompatVersion)
	assert.Equal(t, map[string]any{"threads": json.Number("4"), "scale": json.Number("0.5"), "mode": "fast", "fuse": true}, v.Runner.Opts)

	require.Len(t, v.Inputs, len(specs))
	for i, s := range specs {
		got := v.Inputs[i]
		assert.Equal(t, s.Name, got.Name, "inputs keep their order")
		assert.Equal(t, s.DType.String(), got.DType, s.Name)
		assert.JSONEq(t, upstreamShape(t, s.Shape), string(got.Shape), s.Name)
		assert.Equal(t, s.Description, str(got.Description), s.Name)
		assert.Equal(t, s.InternalName, str(got.InternalName), s.Name)
	}
	require.Len(t, v.Outputs, 1)

	require.Len(t, v.SelfTests, 2)
	assert.Equal(t, "all dtypes", str(v.SelfTests[0].Name))
	assert.Equal(t, "every dtype in, f32 out", str(v.SelfTests[0].Description))
	require.Len(t, v.SelfTests[0].Inputs, len(inputs))
	for name, want := range inputs {
		if name == "s0" {
			assert.Contains(t, v.SelfTests[0].Inputs, name) // cartonml cannot hand a 0-d string to Python
			continue
		}
		sameTensor(t, "self-test input "+name, v.SelfTests[0].Inputs[name], want)
	}
	sameTensor(t, "self-test expected f32", v.SelfTests[0].ExpectedOut["f32"], inputs["f32"])
	assert.Empty(t, v.SelfTests[1].ExpectedOut)
	sameTensor(t, "self-test 1 input one", v.SelfTests[1].Inputs["one"], inputs["one"])

	require.Len(t, v.Examples, 3)
	assert.Equal(t, "with output", str(v.Examples[0].Name))
	sameTensor(t, "example sample_out", v.Examples[0].SampleOut["f32"], inputs["f32"])
	sameTensor(t, "example 1 input", v.Examples[1].Inputs["u8"], inputs["u8"])
	assert.Empty(t, v.Examples[1].SampleOut)
	sum := sha256.Sum256([]byte("a diagram"))
	diagram := hex.EncodeToString(sum[:])
	assert.Equal(t, diagram, v.Examples[2].Inputs["f32"].MiscSHA256, "an example input given as a file")
	assert.Equal(t, diagram, v.Examples[2].SampleOut["f32"].MiscSHA256)

	assert.Equal(t, map[string]string{"diagram.txt": diagram, "_example_misc_file_0": diagram, "_example_misc_file_1": diagram}, v.MiscFiles)

	// Shrunk (the weights behind LINKS, upstream's own way to ship large
	// files), it still reads the same.
	shrunk := filepath.Join(dir, "shrunk.carton")
	_, err = carton.Shrink(context.Background(), path, shrunk, map[string][]string{format.SHA256([]byte("weights")): {"https://example.com/weights.bin"}})
	require.NoError(t, err)
	s := readUpstream(t, py, shrunk, "s0")
	assert.Equal(t, v, s)
}

// The carton upstream packed reads the same through both: specs,
// self-test and example tensors element by element, misc files.
func TestUpstreamAndWeReadTheUpstreamCartonAlike(t *testing.T) {
	py := upstreamPython(t)
	ctx := context.Background()
	c, err := format.Open(upstreamCarton, format.OpenOptions{})
	require.NoError(t, err)
	defer c.Close()
	td, err := c.TensorData()
	require.NoError(t, err)
	v := readUpstream(t, py, upstreamCarton)
	info, err := carton.ModelInfo(ctx, upstreamCarton)
	require.NoError(t, err)
	assert.Equal(t, info.ModelName, *v.ModelName)
	assert.Equal(t, info.Runner.RequiredFrameworkVersion, v.Runner.RequiredFrameworkVersion)
	require.Len(t, v.Inputs, len(info.Inputs))
	for i, s := range info.Inputs {
		assert.Equal(t, s.Name, v.Inputs[i].Name)
		assert.Equal(t, s.DType.String(), v.Inputs[i].DType)
		assert.JSONEq(t, upstreamShape(t, s.Shape), string(v.Inputs[i].Shape), s.Name)
	}
	tensorOf := func(ref string) tensor.Tensor {
		x, ok := td.Tensors[strings.TrimPrefix(ref, format.TensorDataRef)]
		require.True(t, ok, ref)
		return x
	}
	require.Len(t, v.SelfTests, len(info.SelfTests))
	for i, st := range info.SelfTests {
		for name, ref := range st.Inputs {
			sameTensor(t, "self-test input "+name, v.SelfTests[i].Inputs[name], tensorOf(ref))
		}
		for name, ref := range st.ExpectedOut {
			sameTensor(t, "self-test output "+name, v.SelfTests[i].ExpectedOut[name], tensorOf(ref))
		}
	}
	require.Len(t, v.Examples, len(info.Examples))
	for i, ex := range info.Examples {
		for name, ref := range ex.Inputs {
			if misc, ok := strings.CutPrefix(ref, format.MiscRef); ok {
				b, err := c.ReadFile("misc/" + misc)
				require.NoError(t, err)
				sum := sha256.Sum256(b)
				assert.Equal(t, hex.EncodeToString(sum[:]), v.Examples[i].Inputs[name].MiscSHA256, name)
				continue
			}
			sameTensor(t, "example input "+name, v.Examples[i].Inputs[name], tensorOf(ref))
		}
		for name, ref := range ex.SampleOut {
			sameTensor(t, "example output "+name, v.Examples[i].SampleOut[name], tensorOf(ref))
		}
	}
	for name, sum := range v.MiscFiles {
		b, err := c.ReadFile("misc/" + name)
		require.NoError(t, err)
		got := sha256.Sum256(b)
		assert.Equal(t, sum, hex.EncodeToString(got[:]), name)
	}
}

// The dtypes carton adds (bool, float16, bfloat16) are the one thing
// upstream cannot read, as the README says.
func TestUpstreamRefusesOurExtraDTypes(t *testing.T) {
	py := upstreamPython(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "m.bin")
	require.NoError(t, os.WriteFile(model, []byte("m"), 0o644))
	for _, dt := range []tensor.DType{tensor.Bool, tensor.Float16, tensor.BFloat16} {
		path := filepath.Join(dir, dt.String()+".carton")
		_, err := carton.Pack(context.Background(), model, path, carton.PackOptions{Config: format.Config{
			Inputs: []format.TensorSpec{{Name: "x", DType: dt, Shape: mustShape(t, "[2]")}},
			Runner: format.Runner{RunnerName: "noop", RequiredFrameworkVersion: "*"}}})
		require.NoError(t, err)
		_, stderr, err := runUpstream(py, path)
		require.Error(t, err, dt.String())
		assert.Contains(t, stderr, "unknown variant `"+dt.String()+"`")
	}
}

// Upstream's shrink, run on a carton Pack wrote (symlinks to a file and to
// a directory included), writes a carton we load: the same identity, the
// linked file fetched once per URL and checked against MANIFEST, every
// file of the model there after extraction.
func TestWeLoadOurCartonShrunkByUpstream(t *testing.T) {
	py := upstreamPython(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	require.NoError(t, os.MkdirAll(filepath.Join(model, "layers"), 0o755))
	files := map[string]string{"weights.bin": "weights", "layers/big.bin": "a large layer"}
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(model, filepath.FromSlash(name)), []byte(body), 0o644))
	}
	require.NoError(t, os.Symlink("weights.bin", filepath.Join(model, "alias.bin")))
	require.NoError(t, os.Symlink("layers", filepath.Join(model, "current")))
	files["alias.bin"], files["current/big.bin"] = files["weights.bin"], files["layers/big.bin"]
	ctx := context.Background()
	ours := filepath.Join(dir, "ours.carton")
	hash, err := carton.Pack(ctx, model, ours, carton.PackOptions{Config: format.Config{Runner: format.Runner{RunnerName: "noop", RequiredFrameworkVersion: "*"}}})
	require.NoError(t, err)

	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, files["layers/big.bin"])
	}))
	defer srv.Close()
	shrunk := filepath.Join(dir, "shrunk.carton")
	cmd := exec.Command(py, "testdata/upstream/shrink_carton.py", ours, shrunk, format.SHA256([]byte(files["layers/big.bin"]))+"="+srv.URL+"/big.bin")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "cartonml could not shrink the carton:\n%s", out)

	c, err := format.Open(shrunk, format.OpenOptions{})
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, hash, c.ManifestSHA256, "shrinking keeps the model's identity")
	assert.Equal(t, map[string][]string{
		"model/current/big.bin": {srv.URL + "/big.bin"},
		"model/layers/big.bin":  {srv.URL + "/big.bin"},
	}, c.LinkedFiles())
	extracted, err := c.Materialize(ctx, t.TempDir())
	require.NoError(t, err)
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(extracted, filepath.FromSlash(name)))
		require.NoError(t, err, name)
		assert.Equal(t, want, string(got), name)
	}
	assert.Equal(t, int32(1), hits.Load(), "two files with one sha256: one download")

	m, err := carton.Load(ctx, shrunk, carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	require.NoError(t, m.Close())
}
