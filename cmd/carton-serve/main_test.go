package main

import (
	"context"
	"encoding/json"
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

func TestServeInfer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	model := filepath.Join(dir, "m.bin")
	require.NoError(t, os.WriteFile(model, []byte("m"), 0o644))
	path := filepath.Join(dir, "echo.carton")
	shape, _ := format.ParseShapeSpec("batch,2")
	_, err := carton.Pack(ctx, model, path, carton.PackOptions{Config: format.Config{
		Inputs: []format.TensorSpec{{Name: "x", DType: tensor.Int32, Shape: shape}, {Name: "s", DType: tensor.String, Shape: format.AnyShape}},
		Runner: format.Runner{RunnerName: "noop", RequiredFrameworkVersion: "*"},
	}})
	require.NoError(t, err)
	m, err := carton.Load(ctx, path, carton.WithCacheDir(filepath.Join(dir, "cache")))
	require.NoError(t, err)
	defer m.Close()
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
	assert.Equal(t, "7", string(x.Data[0]))
	assert.Equal(t, `"hi"`, string(body.Outputs["s"].Data[0]))

	bad, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"inputs":{"x":{"dtype":"int32","shape":[1,3],"data":[1,2,3]},"s":{"dtype":"string","shape":[1],"data":["a"]}}}`))
	require.NoError(t, err)
	bad.Body.Close()
	assert.Equal(t, http.StatusBadRequest, bad.StatusCode, "a spec mismatch is the client's error")
}
