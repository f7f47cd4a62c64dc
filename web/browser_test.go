package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	_ "github.com/carton-run/carton/backend/onnx"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/testneed"
	"github.com/carton-run/carton/tensor"
)

// wasmDir holds carton.wasm and wasm_exec.js: $CARTON_TEST_WASM_DIR (make
// wasm), or built here.
func wasmDir(t *testing.T) string {
	if dir := os.Getenv("CARTON_TEST_WASM_DIR"); dir != "" {
		return dir
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "carton.wasm"), "../wasm")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	require.NoError(t, err)
	for _, f := range []string{"wasm_exec.js", "wasm_exec_node.js"} {
		b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	return dir
}

// picture writes a small PNG: a misc file, and an example's output.
func picture(t *testing.T, name string, c color.RGBA) string {
	img := image.NewRGBA(image.Rect(0, 0, 48, 32))
	for y := range 32 {
		for x := range 48 {
			img.Set(x, y, color.RGBA{c.R, c.G, uint8(x * 5), 255})
		}
	}
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
	return path
}

// infoCarton packs the ONNX demo model with a description, a misc image,
// a self-test and an example whose sample output is an image.
func infoCarton(t *testing.T) string {
	x, err := tensor.From(tensor.Shape{1, 4}, []float32{1, 2, 3, 4})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "matmul_add.carton")
	_, err = carton.Pack(context.Background(), "../testdata/onnx/matmul_add.onnx", path, carton.PackOptions{
		Config:    format.Config{ModelName: "matmul_add", ShortDescription: "y = x @ W + b, with a dynamic batch", License: "MIT"},
		Misc:      []string{picture(t, "diagram.png", color.RGBA{200, 40, 0, 255})},
		SelfTests: []carton.PackSelfTest{{Name: "ones", Description: "a row of 1..4", Inputs: map[string]tensor.Tensor{"x": x}}},
		Examples: []carton.PackExample{{Name: "plot", Description: "the output, drawn", Inputs: map[string]tensor.Tensor{"x": x},
			MiscSampleOut: map[string]string{"y": picture(t, "plot.png", color.RGBA{0, 90, 200, 255})}}},
	})
	testneed.Runtime(t, err)
	require.NoError(t, err)
	return path
}

// serve serves the page, carton.wasm and wasm_exec.js, and the carton at
// /models/matmul_add.carton (http.ServeContent: range requests).
func serve(t *testing.T, wasm, cartonPath string) string {
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(".")))
	for _, f := range []string{"carton.wasm", "wasm_exec.js"} {
		mux.HandleFunc("/"+f, func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, filepath.Join(wasm, f)) })
	}
	var ranges atomic.Int32
	mux.HandleFunc("/models/matmul_add.carton", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			ranges.Add(1)
		}
		http.ServeFile(w, r, cartonPath)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		t.Logf("range requests for the carton: %d", ranges.Load())
	})
	return srv.URL
}

func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testneed.Need(t, "the browser test needs Chromium (make setup installs Debian's chromium)", errors.New("not found"))
	return ""
}

// headless runs Chromium on url with flags and returns its stdout.
func headless(t *testing.T, browser, url string, flags ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=20000"}, flags...)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, browser, append(args, url)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "%s", stderr.String())
	return stdout.String()
}

// The page in a real browser: carton.wasm reads the carton over HTTP range
// requests and the card shows its name, description, runner, inputs and
// outputs, self-tests, examples with their image, and the misc image; a
// screenshot is kept (build/test-artifacts/ under make test).
func TestInfoCardInChromium(t *testing.T) {
	browser := chromium(t)
	base := serve(t, wasmDir(t), infoCarton(t))
	dom := headless(t, browser, base+"/index.html?carton=/models/matmul_add.carton", "--dump-dom")
	for _, want := range []string{`data-state="ready"`, `<h2 id="model-name">matmul_add</h2>`, "y = x @ W + b, with a dynamic batch",
		`data-tensor="x"`, `data-tensor="y"`, "[batch, 4]", "onnx *", "MIT", `<li>ones: a row of 1..4</li>`,
		`data-misc="misc/diagram.png"`, `data-misc="misc/_example_misc_file_0"`, `src="blob:`} {
		assert.Contains(t, dom, want)
	}
	bad := headless(t, browser, base+"/index.html?carton=/models/missing.carton", "--dump-dom")
	assert.Contains(t, bad, `data-state="error"`)

	shots := os.Getenv("CARTON_TEST_ARTIFACTS")
	if shots == "" {
		shots = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(shots, 0o755))
	shot := filepath.Join(shots, "info-card.png")
	headless(t, browser, base+"/index.html?carton=/models/matmul_add.carton", "--screenshot="+shot, "--window-size=1000,1400")
	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	require.NoError(t, err)
	assert.Equal(t, 1000, cfg.Width)
	t.Logf("screenshot: %s", shot)
}

// The API under Node: getModelInfo of a carton's bytes, misc files as
// Blobs, and bytes that are not a carton refused.
func TestGetModelInfoInNode(t *testing.T) {
	node, err := exec.LookPath("node")
	testneed.Need(t, "the Node test needs node", err)
	wasm := wasmDir(t)
	out, err := exec.Command(node, "testdata/node_info.js", filepath.Join(wasm, "wasm_exec.js"), filepath.Join(wasm, "carton.wasm"), infoCarton(t)).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var got struct {
		Info struct {
			ModelName string `json:"model_name"`
			Runner    struct {
				RunnerName string `json:"runner_name"`
			} `json:"runner"`
			Input []struct {
				Name  string `json:"name"`
				DType string `json:"dtype"`
				Shape []any  `json:"shape"`
			} `json:"input"`
			Example   []map[string]any `json:"example"`
			SelfTest  []map[string]any `json:"self_test"`
			MiscFiles []string         `json:"misc_files"`
			Misc      map[string]struct {
				Type string `json:"type"`
				Size int    `json:"size"`
			} `json:"misc"`
			ManifestSHA256 string `json:"manifest_sha256"`
		} `json:"info"`
		Refused string `json:"refused"`
	}
	line := strings.TrimSpace(string(out))
	require.NoError(t, json.Unmarshal([]byte(line[strings.LastIndex(line, "\n")+1:]), &got), "%s", out)
	assert.Equal(t, "matmul_add", got.Info.ModelName)
	assert.Equal(t, "onnx", got.Info.Runner.RunnerName)
	require.Len(t, got.Info.Input, 1)
	assert.Equal(t, []any{"batch", float64(4)}, got.Info.Input[0].Shape)
	assert.Len(t, got.Info.Example, 1)
	assert.Len(t, got.Info.SelfTest, 1)
	assert.Len(t, got.Info.ManifestSHA256, 64)
	assert.ElementsMatch(t, []string{"misc/diagram.png", "misc/_example_misc_file_0"}, got.Info.MiscFiles)
	for name, m := range got.Info.Misc {
		assert.Equal(t, "image/png", m.Type, name)
		assert.Greater(t, m.Size, 100, name)
	}
	assert.NotEmpty(t, got.Refused, "three bytes are not a carton")
}
