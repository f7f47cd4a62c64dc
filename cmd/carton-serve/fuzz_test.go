package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

// FuzzServeInfer posts arbitrary bodies: a client's bad request is a 400,
// never a panic or a server error.
func FuzzServeInfer(f *testing.F) {
	ctx := context.Background()
	dir := f.TempDir()
	model := filepath.Join(dir, "m.bin")
	if err := os.WriteFile(model, []byte("m"), 0o644); err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(dir, "echo.carton")
	shape, _ := format.ParseShapeSpec("batch,2")
	if _, err := carton.Pack(ctx, model, path, carton.PackOptions{Config: format.Config{
		Inputs: []format.TensorSpec{{Name: "x", DType: tensor.Int32, Shape: shape}, {Name: "s", DType: tensor.String, Shape: format.AnyShape}},
		Runner: format.Runner{RunnerName: "noop", RequiredFrameworkVersion: "*"},
	}}); err != nil {
		f.Fatal(err)
	}
	m, err := carton.Load(ctx, path, carton.WithCacheDir(filepath.Join(dir, "cache")))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	f.Add(`{"inputs":{"x":{"dtype":"int32","shape":[1,2],"data":[7,-3]},"s":{"dtype":"string","shape":[1],"data":["hi"]}}}`)
	f.Add(`{"inputs":{"x":{"dtype":"int32","shape":[4611686018427387904,4],"data":[]},"s":{"dtype":"string","shape":[],"data":["a"]}}}`)
	f.Add(`{"inputs":{"x":{"dtype":"bool","shape":[-1,2],"data":[true,1]}}}`)
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		serveInfer(rec, httptest.NewRequest(http.MethodPost, "/infer", strings.NewReader(body)), m)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}
