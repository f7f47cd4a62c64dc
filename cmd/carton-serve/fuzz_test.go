package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzServeInfer posts arbitrary bodies: a client's bad request is a 400,
// never a panic or a server error.
func FuzzServeInfer(f *testing.F) {
	m := echoModel(f, xAndS())
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
