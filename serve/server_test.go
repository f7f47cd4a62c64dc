package serve_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	_ "github.com/carton-run/carton/backend" // the noop runner
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/serve"
	"github.com/carton-run/carton/tensor"
)

// echo loads a carton of the noop runner, which returns its inputs as
// outputs of the same names, declaring inputs (none: any is accepted).
func echo(tb testing.TB, inputs ...format.TensorSpec) *carton.Model {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	model := filepath.Join(dir, "m.bin")
	require.NoError(tb, os.WriteFile(model, []byte("m"), 0o644))
	path := filepath.Join(dir, "echo.carton")
	_, err := carton.Pack(ctx, model, path, carton.PackOptions{Config: format.Config{
		Inputs: inputs, Outputs: inputs,
		Runner: format.Runner{RunnerName: "noop", RequiredFrameworkVersion: "*"},
	}})
	require.NoError(tb, err)
	m, err := carton.Load(ctx, path, carton.WithCacheDir(filepath.Join(dir, "cache")))
	require.NoError(tb, err)
	tb.Cleanup(func() { m.Close() })
	return m
}

func spec(tb testing.TB, name string, dt tensor.DType, shape string) format.TensorSpec {
	s, err := format.ParseShapeSpec(shape)
	require.NoError(tb, err)
	return format.TensorSpec{Name: name, DType: dt, Shape: s}
}

func newServer(tb testing.TB, models ...serve.Model) *httptest.Server {
	s, err := serve.New(models, serve.Options{Version: "test"})
	require.NoError(tb, err)
	srv := httptest.NewServer(s)
	tb.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (int, map[string]any) {
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func post(t *testing.T, url string, body []byte, header map[string]string) (*http.Response, []byte) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

func TestHealthAndMetadata(t *testing.T) {
	m := echo(t, spec(t, "x", tensor.Float32, "batch,3"), spec(t, "s", tensor.String, "*"))
	srv := newServer(t,
		serve.Model{Name: "echo", Version: "1", Model: m},
		serve.Model{Name: "echo", Version: "2", Model: m},
	)
	code, body := get(t, srv.URL+"/v2/health/live")
	assert.Equal(t, 200, code)
	assert.Equal(t, true, body["live"])
	code, body = get(t, srv.URL+"/v2/health/ready")
	assert.Equal(t, 200, code)
	assert.Equal(t, true, body["ready"])

	code, body = get(t, srv.URL+"/v2")
	assert.Equal(t, 200, code)
	assert.Equal(t, "carton", body["name"])
	assert.Equal(t, "test", body["version"])
	assert.Contains(t, body["extensions"], "binary_tensor_data")

	for _, path := range []string{"/v2/models/echo", "/v2/models/echo/versions/1"} {
		code, body = get(t, srv.URL+path)
		require.Equal(t, 200, code, path)
		assert.Equal(t, "echo", body["name"])
		assert.Equal(t, "carton_noop", body["platform"])
		assert.Equal(t, []any{"1", "2"}, body["versions"])
		assert.Equal(t, []any{
			map[string]any{"name": "x", "datatype": "FP32", "shape": []any{-1.0, 3.0}},
			map[string]any{"name": "s", "datatype": "BYTES", "shape": []any{-1.0}},
		}, body["inputs"])
		code, body = get(t, srv.URL+path+"/ready")
		assert.Equal(t, 200, code)
		assert.Equal(t, true, body["ready"])
	}
	for _, path := range []string{"/v2/models/nope", "/v2/models/echo/versions/3", "/v2/models/nope/ready", "/v3/models"} {
		code, body = get(t, srv.URL+path)
		assert.Equal(t, 404, code, path)
		assert.NotEmpty(t, body["error"], path)
	}
}

// A model that failed to load is not ready, nor is the server; the others
// serve.
func TestFailedModelIsNotReady(t *testing.T) {
	srv := newServer(t,
		serve.Model{Name: "good", Model: echo(t)},
		serve.Model{Name: "bad", LoadErr: errors.New("no runtime")},
	)
	code, _ := get(t, srv.URL+"/v2/health/ready")
	assert.Equal(t, 503, code)
	code, _ = get(t, srv.URL+"/v2/models/bad/ready")
	assert.Equal(t, 503, code)
	code, body := get(t, srv.URL+"/v2/models/bad")
	assert.Equal(t, 503, code)
	assert.Contains(t, body["error"], "no runtime")
	code, _ = get(t, srv.URL+"/v2/models/good/ready")
	assert.Equal(t, 200, code)
	resp, _ := post(t, srv.URL+"/v2/models/good/infer", []byte(`{"inputs":[{"name":"a","shape":[1],"datatype":"INT32","data":[1]}]}`), nil)
	assert.Equal(t, 200, resp.StatusCode)
}

// Every datatype round-trips through JSON, flat or nested, exactly.
func TestInferJSONEveryDatatype(t *testing.T) {
	srv := newServer(t, serve.Model{Name: "echo", Model: echo(t)})
	req := `{"id":"req-7","parameters":{"anything":1},"inputs":[
		{"name":"b","shape":[2],"datatype":"BOOL","data":[true,false]},
		{"name":"u8","shape":[2],"datatype":"UINT8","data":[0,255]},
		{"name":"u64","shape":[1],"datatype":"UINT64","data":[18446744073709551615]},
		{"name":"i8","shape":[2],"datatype":"INT8","data":[-128,127]},
		{"name":"i64","shape":[2,2],"datatype":"INT64","data":[[9007199254740993,-9223372036854775808],[0,1]]},
		{"name":"f16","shape":[2],"datatype":"FP16","data":[0.5,-2]},
		{"name":"bf16","shape":[1],"datatype":"BF16","data":[1.5]},
		{"name":"f32","shape":[3],"datatype":"FP32","data":[1.25,"NaN","-Inf"]},
		{"name":"f64","shape":[1],"datatype":"FP64","data":[0.1]},
		{"name":"s","shape":[2],"datatype":"BYTES","data":["héllo",""]}
	]}`
	resp, b := post(t, srv.URL+"/v2/models/echo/infer", []byte(req), nil)
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	var out struct {
		ModelName string `json:"model_name"`
		ID        string
		Outputs   []struct {
			Name, Datatype string
			Shape          []int64
			Data           json.RawMessage
		}
	}
	require.NoError(t, json.Unmarshal(b, &out))
	assert.Equal(t, "echo", out.ModelName)
	assert.Equal(t, "req-7", out.ID)
	got := map[string]string{}
	for _, o := range out.Outputs {
		got[o.Name] = o.Datatype + " " + strings.Trim(strings.ReplaceAll(strconv.Quote(string(o.Data)), `\"`, `"`), `"`)
	}
	assert.Equal(t, map[string]string{
		"b": "BOOL [true,false]", "u8": "UINT8 [0,255]", "u64": "UINT64 [18446744073709551615]",
		"i8": "INT8 [-128,127]", "i64": "INT64 [9007199254740993,-9223372036854775808,0,1]",
		"f16": "FP16 [0.5,-2]", "bf16": "BF16 [1.5]", "f32": `FP32 [1.25,"NaN","-Inf"]`, "f64": "FP64 [0.1]",
		"s": `BYTES ["héllo",""]`,
	}, got)
}

// outputs selects and orders the outputs; one the model lacks is a 400.
func TestInferSelectsOutputs(t *testing.T) {
	srv := newServer(t, serve.Model{Name: "echo", Model: echo(t)})
	req := `{"inputs":[{"name":"a","shape":[1],"datatype":"INT32","data":[1]},{"name":"b","shape":[1],"datatype":"INT32","data":[2]},{"name":"c","shape":[1],"datatype":"INT32","data":[3]}],
		"outputs":[{"name":"c"},{"name":"a"}]}`
	resp, b := post(t, srv.URL+"/v2/models/echo/infer", []byte(req), nil)
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	var out struct{ Outputs []struct{ Name string } }
	require.NoError(t, json.Unmarshal(b, &out))
	require.Len(t, out.Outputs, 2)
	assert.Equal(t, "c", out.Outputs[0].Name)
	assert.Equal(t, "a", out.Outputs[1].Name)

	resp, b = post(t, srv.URL+"/v2/models/echo/infer", []byte(`{"inputs":[{"name":"a","shape":[1],"datatype":"INT32","data":[1]}],"outputs":[{"name":"z"}]}`), nil)
	assert.Equal(t, 400, resp.StatusCode)
	assert.Contains(t, string(b), `"error"`)
}

// The binary tensor data extension, both ways: numeric and BYTES inputs
// from the binary part, outputs asked for as binary written there.
func TestInferBinaryData(t *testing.T) {
	srv := newServer(t, serve.Model{Name: "echo", Model: echo(t)})
	x := make([]byte, 16)
	for i, v := range []float32{1, 2.5, -3, 4} {
		binary.LittleEndian.PutUint32(x[4*i:], math.Float32bits(v))
	}
	var s []byte
	for _, e := range []string{"a", "\xff\x00bytes"} { // not UTF-8: only binary carries it
		s = binary.LittleEndian.AppendUint32(s, uint32(len(e)))
		s = append(s, e...)
	}
	header, _ := json.Marshal(map[string]any{
		"inputs": []map[string]any{
			{"name": "x", "shape": []int{2, 2}, "datatype": "FP32", "parameters": map[string]any{"binary_data_size": len(x)}},
			{"name": "s", "shape": []int{2}, "datatype": "BYTES", "parameters": map[string]any{"binary_data_size": len(s)}},
			{"name": "j", "shape": []int{1}, "datatype": "INT16", "data": []int{-7}},
		},
		"outputs": []map[string]any{
			{"name": "x", "parameters": map[string]any{"binary_data": true}},
			{"name": "s", "parameters": map[string]any{"binary_data": true}},
			{"name": "j"},
		},
	})
	body := append(append(append([]byte{}, header...), x...), s...)
	resp, b := post(t, srv.URL+"/v2/models/echo/infer", body, map[string]string{"Inference-Header-Content-Length": strconv.Itoa(len(header))})
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	n, err := strconv.Atoi(resp.Header.Get("Inference-Header-Content-Length"))
	require.NoError(t, err)
	var out struct {
		Outputs []struct {
			Name       string
			Shape      []int64
			Parameters map[string]any
			Data       json.RawMessage
		}
	}
	require.NoError(t, json.Unmarshal(b[:n], &out))
	require.Len(t, out.Outputs, 3)
	assert.Equal(t, float64(len(x)), out.Outputs[0].Parameters["binary_data_size"])
	assert.Equal(t, []int64{2, 2}, out.Outputs[0].Shape)
	assert.Equal(t, float64(len(s)), out.Outputs[1].Parameters["binary_data_size"])
	assert.JSONEq(t, `[-7]`, string(out.Outputs[2].Data))
	assert.Equal(t, append(append([]byte{}, x...), s...), b[n:], "binary outputs in order, byte for byte")

	// The same request asking for every output in binary.
	var req map[string]any
	require.NoError(t, json.Unmarshal(header, &req))
	delete(req, "outputs")
	req["parameters"] = map[string]any{"binary_data_output": true}
	header2, _ := json.Marshal(req)
	body = append(append(append([]byte{}, header2...), x...), s...)
	resp, b = post(t, srv.URL+"/v2/models/echo/infer", body, map[string]string{"Inference-Header-Content-Length": strconv.Itoa(len(header2))})
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	n, _ = strconv.Atoi(resp.Header.Get("Inference-Header-Content-Length"))
	assert.Equal(t, len(b)-n, 2+len(s)+len(x), "j (2 bytes), s and x, sorted by name")
}

// Requests that do not fit are 400s naming what is wrong; too large a
// body is 413; a request to a model being closed never panics.
func TestInferBadRequests(t *testing.T) {
	m := echo(t, spec(t, "x", tensor.Float32, "2"))
	s, err := serve.New([]serve.Model{{Name: "m", Model: m}}, serve.Options{MaxRequestBytes: 1 << 10})
	require.NoError(t, err)
	srv := httptest.NewServer(s)
	defer srv.Close()
	for body, want := range map[string]string{
		`{`:             "not JSON",
		`{"inputs":[]}`: "no inputs",
		`{"inputs":[{"name":"x","shape":[2],"datatype":"FP33","data":[1,2]}]}`:                                                         "FP33",
		`{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2]}]}`:                                                         "do not fill",
		`{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,2]},{"name":"x","shape":[2],"datatype":"FP32","data":[1,2]}]}`: "twice",
		`{"inputs":[{"name":"x","shape":[2],"datatype":"INT32","data":[1,2]}]}`:                                                        "want float32",
		`{"inputs":[{"name":"x","shape":[2],"datatype":"FP32"}]}`:                                                                      "no data",
		`{"inputs":[{"name":"x","shape":[-2],"datatype":"FP32","data":[1,2]}]}`:                                                        "negative",
		`{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,{"a":2}]}]}`:                                                   "",
		`{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}`:                                  "binary_data_size",
		`{"inputs":[{"name":"x","shape":[2],"datatype":"INT8","data":[1,300]}]}`:                                                       "",
		`{"inputs":[{"name":"y","shape":[2],"datatype":"FP32","data":[1,2]}]}`:                                                         "missing input",
	} {
		resp, b := post(t, srv.URL+"/v2/models/m/infer", []byte(body), nil)
		assert.Equal(t, 400, resp.StatusCode, "%s: %s", body, b)
		assert.Contains(t, string(b), want, body)
		var e map[string]string
		assert.NoError(t, json.Unmarshal(b, &e), "errors are JSON")
	}
	resp, _ := post(t, srv.URL+"/v2/models/m/infer", []byte(`{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,2]}]}`),
		map[string]string{"Inference-Header-Content-Length": "999"})
	assert.Equal(t, 400, resp.StatusCode)
	resp, _ = post(t, srv.URL+"/v2/models/m/infer", bytes.Repeat([]byte(" "), 2<<10), nil)
	assert.Equal(t, 413, resp.StatusCode)
	resp, _ = post(t, srv.URL+"/v2/models/nope/infer", []byte(`{}`), nil)
	assert.Equal(t, 404, resp.StatusCode)

	require.NoError(t, m.Close())
	resp, _ = post(t, srv.URL+"/v2/models/m/infer", []byte(`{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,2]}]}`), nil)
	assert.Equal(t, 503, resp.StatusCode, "a closed model")
}

func TestNewRefusesMisuse(t *testing.T) {
	m := echo(t)
	for name, models := range map[string][]serve.Model{
		"no name":       {{Model: m}},
		"no model":      {{Name: "a"}},
		"twice":         {{Name: "a", Model: m}, {Name: "a", Model: m}},
		"version twice": {{Name: "a", Version: "1", Model: m}, {Name: "a", Version: "1", Model: m}},
	} {
		_, err := serve.New(models, serve.Options{})
		assert.ErrorIs(t, err, carton.ErrInvalidOption, name)
	}
}

// SetReady(false), as before a shutdown: ready turns 503, infer still runs.
func TestSetReady(t *testing.T) {
	s, err := serve.New([]serve.Model{{Name: "m", Model: echo(t)}}, serve.Options{})
	require.NoError(t, err)
	srv := httptest.NewServer(s)
	defer srv.Close()
	s.SetReady(false)
	code, _ := get(t, srv.URL+"/v2/health/ready")
	assert.Equal(t, 503, code)
	code, _ = get(t, srv.URL+"/v2/models/m/ready")
	assert.Equal(t, 503, code)
	code, _ = get(t, srv.URL+"/v2/health/live")
	assert.Equal(t, 200, code)
	s.SetReady(true)
	code, _ = get(t, srv.URL+"/v2/health/ready")
	assert.Equal(t, 200, code)
}

// GET /metrics serves the server's Prometheus metrics: requests by model
// and outcome, latency and queue time histograms, in flight.
func TestMetrics(t *testing.T) {
	srv := newServer(t, serve.Model{Name: "echo", Model: echo(t)})
	post(t, srv.URL+"/v2/models/echo/infer", []byte(`{"inputs":[{"name":"a","shape":[1],"datatype":"INT32","data":[1]}]}`), nil)
	post(t, srv.URL+"/v2/models/echo/infer", []byte(`{`), nil)
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	text := string(b)
	for _, want := range []string{
		`carton_serve_infer_requests_total{code="200",model="echo",protocol="rest",version=""} 1`,
		`carton_serve_infer_requests_total{code="400",model="echo",protocol="rest",version=""} 1`,
		`carton_serve_infer_duration_seconds_count{model="echo",protocol="rest",version=""} 2`,
		`carton_serve_queue_duration_seconds_count{model="echo",version=""} 1`,
		`carton_serve_infer_in_flight{model="echo",version=""} 0`,
	} {
		assert.Contains(t, text, want)
	}
}
