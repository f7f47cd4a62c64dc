package carton_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

// Pack a model, load it and run it. The noop runner echoes its inputs, so
// this runs with no framework installed; with a real runner only the
// PackOptions change.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "carton-example-")
	defer os.RemoveAll(dir)
	model := filepath.Join(dir, "model.bin")
	if err := os.WriteFile(model, []byte("weights"), 0o644); err != nil {
		log.Fatal(err)
	}

	shape, _ := format.ParseShapeSpec("batch,2")
	path := filepath.Join(dir, "echo.carton")
	_, err := carton.Pack(ctx, model, path, carton.PackOptions{Config: format.Config{
		ModelName: "echo",
		Inputs:    []format.TensorSpec{{Name: "x", DType: tensor.Float32, Shape: shape}},
		Outputs:   []format.TensorSpec{{Name: "x", DType: tensor.Float32, Shape: shape}},
		Runner:    format.Runner{RunnerName: "noop", RequiredFrameworkVersion: "*"},
	}})
	if err != nil {
		log.Fatal(err)
	}

	m, err := carton.Load(ctx, path, carton.WithCacheDir(filepath.Join(dir, "cache")))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	x, _ := tensor.From(tensor.Shape{1, 2}, []float32{0.5, 1.5}) // no copy
	out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x})
	if err != nil {
		log.Fatal(err)
	}
	y := out["x"]
	defer y.Release()
	values, _ := tensor.View[float32](y)
	fmt.Println(m.Info().ModelName, m.Info().Runtime.Framework, y.Shape(), values)
	// Output: echo noop [1 2] [0.5 1.5]
}

// A serving loop reuses one output map: InferInto refills it,
// saving the map Infer would allocate on every call.
func ExampleModel_InferInto() {
	ctx := context.Background()
	m, cleanup := loadEcho(ctx)
	defer cleanup()

	out := map[string]tensor.Tensor{}
	for i := range 3 {
		x := tensor.Scalar(float32(i))
		if err := m.InferInto(ctx, map[string]tensor.Tensor{"x": x}, out); err != nil {
			log.Fatal(err)
		}
		v, _ := tensor.View[float32](out["x"])
		fmt.Print(v[0], " ")
		for _, t := range out {
			t.Release() // done with this call's outputs
		}
	}
	fmt.Println()
	// Output: 0 1 2
}

// A serving loop done with each call's outputs gives them back:
// ReleaseOutputs releases every tensor and lets the next Infer refill the
// map instead of allocating one.
func ExampleModel_ReleaseOutputs() {
	ctx := context.Background()
	m, cleanup := loadEcho(ctx)
	defer cleanup()

	for i := range 3 {
		out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": tensor.Scalar(float32(i))})
		if err != nil {
			log.Fatal(err)
		}
		v, _ := tensor.View[float32](out["x"])
		fmt.Print(v[0], " ")
		m.ReleaseOutputs(out) // out and its tensors are not used after this
	}
	fmt.Println()
	// Output: 0 1 2
}

// A carton shipped inside the program: with
//
//	//go:embed model.carton
//	var modelCarton []byte
//
// the binary needs no model file next to it. Here the bytes come from a
// carton packed on the spot.
func ExampleLoadReader() {
	ctx := context.Background()
	dir, path := packEcho(ctx)
	defer os.RemoveAll(dir)
	modelCarton, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}

	m, err := carton.LoadReader(ctx, bytes.NewReader(modelCarton), int64(len(modelCarton)),
		carton.WithCacheDir(filepath.Join(dir, "cache")))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close() // modelCarton must stay unchanged until here
	out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": tensor.Scalar(float32(4))})
	if err != nil {
		log.Fatal(err)
	}
	v, _ := tensor.View[float32](out["x"])
	fmt.Println(m.Info().ManifestSHA256 != "", v)
	// Output: true [4]
}

// A carton by URL: its metadata costs the zip's end and carton.toml, and
// Load downloads the model once into the cache. (Here the server is a
// loopback one serving a carton packed on the spot.)
func ExampleLoad_url() {
	ctx := context.Background()
	dir, _ := packEcho(ctx)
	defer os.RemoveAll(dir)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir))) // answers range requests
	defer srv.Close()
	url := srv.URL + "/echo.carton"

	info, err := carton.ModelInfo(ctx, url)
	if err != nil {
		log.Fatal(err)
	}
	m, err := carton.Load(ctx, url, carton.WithCacheDir(filepath.Join(dir, "cache")))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close() // the model reads the URL until here
	fmt.Println(info.Runner.RunnerName, m.Info().ManifestSHA256 == info.ManifestSHA256)
	// Output: noop true
}

// Checking a carton, then the cache: what Load extracted, and pruning what
// no Load used for a month.
func ExampleVerify() {
	ctx := context.Background()
	m, dir, cleanup := loadEchoIn(ctx)
	defer cleanup()
	m.Close()

	report, err := carton.Verify(ctx, filepath.Join(dir, "echo.carton"))
	if err != nil {
		log.Fatal(err) // errors.Is(err, carton.ErrChecksum) names the file
	}
	fmt.Println(report.Files, "files match MANIFEST")

	cache := filepath.Join(dir, "cache")
	models, _ := carton.CachedModels(cache)
	fmt.Println(len(models), "model cached,", models[0].Bytes, "bytes")
	removed, _ := carton.PruneCachedModels(cache, 30*24*time.Hour)
	fmt.Println(len(removed), "removed")
	// Output:
	// 3 files match MANIFEST
	// 1 model cached, 7 bytes
	// 0 removed
}

// loadEcho packs and loads a carton for the noop runner, which echoes its
// inputs.
func loadEcho(ctx context.Context) (*carton.Model, func()) {
	m, _, cleanup := loadEchoIn(ctx)
	return m, cleanup
}

// loadEchoIn is loadEcho also returning the directory of the carton
// (echo.carton) and its cache (cache/).
func loadEchoIn(ctx context.Context) (*carton.Model, string, func()) {
	dir, path := packEcho(ctx)
	m, err := carton.Load(ctx, path, carton.WithCacheDir(filepath.Join(dir, "cache")))
	if err != nil {
		log.Fatal(err)
	}
	return m, dir, func() { m.Close(); os.RemoveAll(dir) }
}

// packEcho packs a carton for the noop runner into a new temporary
// directory, and returns the directory and the carton's path.
func packEcho(ctx context.Context) (dir, path string) {
	dir, _ = os.MkdirTemp("", "carton-example-")
	model := filepath.Join(dir, "model.bin")
	if err := os.WriteFile(model, []byte("weights"), 0o644); err != nil {
		log.Fatal(err)
	}
	path = filepath.Join(dir, "echo.carton")
	if _, err := carton.Pack(ctx, model, path, carton.PackOptions{Config: format.Config{
		Runner: format.Runner{RunnerName: "noop", RequiredFrameworkVersion: "*"},
	}}); err != nil {
		log.Fatal(err)
	}
	return dir, path
}
