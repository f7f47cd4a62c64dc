package serve_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/carton-run/carton/serve"
)

// FuzzInfer posts arbitrary bodies, with and without a binary header
// length: a client's bad request is a 400 (or 413), never a panic or a
// server error.
func FuzzInfer(f *testing.F) {
	s, err := serve.New([]serve.Model{{Name: "m", Model: echo(f)}}, serve.Options{MaxRequestBytes: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(`{"inputs":[{"name":"x","shape":[1,2],"datatype":"INT32","data":[[7,-3]]},{"name":"s","shape":[1],"datatype":"BYTES","data":["hi"]}]}`, -1)
	f.Add(`{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}`+"\x00\x00\x80?\x00\x00\x00@", 94)
	f.Add(`{"inputs":[{"name":"s","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":6}}]}`+"\x02\x00\x00\x00hi", 91)
	f.Add(`{"inputs":[{"name":"x","shape":[4611686018427387904,4],"datatype":"INT32","data":[]}]}`, -1)
	f.Fuzz(func(t *testing.T, body string, headerLen int) {
		req := httptest.NewRequest(http.MethodPost, "/v2/models/m/infer", strings.NewReader(body))
		if headerLen >= 0 {
			req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(headerLen))
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest && rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d for %q (header %d): %s", rec.Code, body, headerLen, rec.Body)
		}
	})
}
