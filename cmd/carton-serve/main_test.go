package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

// echoModel loads a carton of the noop runner, which echoes its inputs,
// declaring inputs (none: any input is accepted).
func echoModel(tb testing.TB, inputs []format.TensorSpec) *carton.Model {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	model := filepath.Join(dir, "m.bin")
	require.NoError(tb, os.WriteFile(model, []byte("m"), 0o644))
	path := filepath.Join(dir, "echo.carton")
	_, err := carton.Pack(ctx, model, path, carton.PackOptions{Config: format.Config{
		Inputs: inputs,
		Runner: format.Runner{RunnerName: "noop", RequiredFrameworkVersion: "*"},
	}})
	require.NoError(tb, err)
	m, err := carton.Load(ctx, path, carton.WithCacheDir(filepath.Join(dir, "cache")))
	require.NoError(tb, err)
	tb.Cleanup(func() { m.Close() })
	return m
}

// xAndS declares x int32 [batch, 2] and s, strings of any shape.
func xAndS() []format.TensorSpec {
	shape, _ := format.ParseShapeSpec("batch,2")
	return []format.TensorSpec{{Name: "x", DType: tensor.Int32, Shape: shape}, {Name: "s", DType: tensor.String, Shape: format.AnyShape}}
}

func TestServeInfer(t *testing.T) {
	m := echoModel(t, xAndS())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveInfer(w, r, m) }))
	defer srv.Close()

	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"inputs":{"x":{"dtype":"int32","shape":[1,2],"data":[7,-3]},"s":{"dtype":"string","shape":[1],"data":["hi"]}}}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var body struct {
		Outputs map[string]wireTensor `json:"outputs"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	x := body.Outputs["x"]
	assert.Equal(t, "int32", x.DType)
	assert.Equal(t, []int64{1, 2}, x.Shape)
	assert.Equal(t, "[7,-3]", string(x.Data))
	assert.Equal(t, `["hi"]`, string(body.Outputs["s"].Data))

	bad, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"inputs":{"x":{"dtype":"int32","shape":[1,3],"data":[1,2,3]},"s":{"dtype":"string","shape":[1],"data":["a"]}}}`))
	require.NoError(t, err)
	bad.Body.Close()
	assert.Equal(t, http.StatusBadRequest, bad.StatusCode, "a spec mismatch is the client's error")
}

// Every dtype travels exactly through the service (the noop runner echoes
// its inputs): integers beyond 2^53, uint8 as numbers rather than base64,
// and the floats JSON has no numbers for. Values that do not fit their
// dtype are the client's error.
func TestServeWireExact(t *testing.T) {
	m := echoModel(t, nil)
	post := func(body string) (int, map[string]wireTensor) {
		rec := httptest.NewRecorder()
		serveInfer(rec, httptest.NewRequest(http.MethodPost, "/v1/infer", strings.NewReader(body)), m)
		var resp struct {
			Outputs map[string]wireTensor `json:"outputs"`
		}
		if rec.Code == http.StatusOK {
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
		}
		return rec.Code, resp.Outputs
	}
	for dtype, data := range map[string]string{
		"int64":   `[9007199254740993,-9223372036854775808]`,
		"uint64":  `[18446744073709551615,0]`,
		"int8":    `[-128,127]`,
		"uint8":   `[0,255]`,
		"uint32":  `[4294967295,1]`,
		"bool":    `[true,false]`,
		"float64": `[0.1,"NaN","Inf","-Inf"]`,
		"float32": `[1.5,"-Inf"]`,
		"string":  `["a","é"]`,
	} {
		n := strings.Count(data, ",") + 1
		code, out := post(`{"inputs":{"v":{"dtype":"` + dtype + `","shape":[` + fmt.Sprint(n) + `],"data":` + data + `}}}`)
		require.Equal(t, http.StatusOK, code, dtype)
		assert.Equal(t, dtype, out["v"].DType)
		assert.JSONEq(t, data, string(out["v"].Data), dtype)
	}
	for name, body := range map[string]string{
		"int8 overflow":     `{"inputs":{"v":{"dtype":"int8","shape":[1],"data":[128]}}}`,
		"negative unsigned": `{"inputs":{"v":{"dtype":"uint16","shape":[1],"data":[-1]}}}`,
		"fraction":          `{"inputs":{"v":{"dtype":"int32","shape":[1],"data":[1.5]}}}`,
		"beyond int64":      `{"inputs":{"v":{"dtype":"int64","shape":[1],"data":[9223372036854775808]}}}`,
		"string as float":   `{"inputs":{"v":{"dtype":"float32","shape":[1],"data":["x"]}}}`,
		"too few values":    `{"inputs":{"v":{"dtype":"float32","shape":[3],"data":[1]}}}`,
		"unknown dtype":     `{"inputs":{"v":{"dtype":"complex64","shape":[1],"data":[1]}}}`,
	} {
		code, _ := post(body)
		assert.Equal(t, http.StatusBadRequest, code, name)
	}
}

// A model's string output that is not UTF-8 is an error, not a JSON string
// with U+FFFD in place of its bytes.
func TestServeWireRefusesBytesStrings(t *testing.T) {
	x, err := tensor.FromStrings(tensor.Shape{2}, []string{"ok", "\xac"})
	require.NoError(t, err)
	_, err = toWire(x)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "element 1 is not valid UTF-8")
}
