package serve

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/serve/internal/oippb"
)

func TestBufferPoolSizes(t *testing.T) {
	for _, c := range []struct{ n, cap int }{
		{0, 0}, {1, 1}, {1 << 15, 1 << 15}, // small: made to measure
		{1<<15 + 1, 1 << 16},
		{1 << 16, 1 << 16}, {1<<16 + 1, 1 << 17}, {3 << 20, 4 << 20},
	} {
		b, pooled := getBuffer(c.n)
		assert.Len(t, b, c.n)
		assert.Equal(t, c.cap, cap(b), "getBuffer(%d)", c.n)
		putBuffer(pooled)
	}
	// Buffers the pool did not make are left alone, whatever their size.
	for _, n := range []int{0, 100, 100_000, 1 << 16} {
		b := make([]byte, n, n+1)
		putBuffer(&b)
		assert.Len(t, b, n)
	}
	again, pooled := getBuffer(1 << 17)
	again[0] = 1 // a recycled buffer is not cleared: a user must write what it reads
	putBuffer(pooled)
}

// TestPooledRequestsDoNotMix: many clients at once send the echo model
// (its outputs are its inputs, so views of the pooled request buffer)
// tensors large enough to be pooled, over gRPC and REST binary; each gets
// back its own tensor, so no buffer went back to the pool while a request
// still read it.
func TestPooledRequestsDoNotMix(t *testing.T) {
	s, err := New([]Model{{Name: "echo", Model: noopModel(t)}}, Options{})
	require.NoError(t, err)
	httpSrv := httptest.NewServer(s)
	t.Cleanup(httpSrv.Close)
	grpcClient := grpcEcho(t, grpcServers["NewGRPCServer"])

	const clients, requests, n = 8, 12, 50_000 // 200 KB a tensor
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range requests {
				raw := numbered(n, uint32(c<<24|r<<16))
				var got []byte
				var err error
				if r%2 == 0 {
					got, err = echoGRPC(grpcClient, raw, n)
				} else {
					got, err = echoREST(httpSrv.URL, raw, n)
				}
				if !assert.NoError(t, err) || !assert.True(t, bytes.Equal(raw, got), "client %d request %d got another's tensor", c, r) {
					return
				}
			}
		}()
	}
	wg.Wait()
}

func echoGRPC(c oippb.GRPCInferenceServiceClient, raw []byte, n int) ([]byte, error) {
	resp, err := c.ModelInfer(context.Background(), &oippb.ModelInferRequest{ModelName: "echo",
		Inputs:           []*oippb.ModelInferRequest_InferInputTensor{{Name: "x", Datatype: "FP32", Shape: []int64{int64(n)}}},
		RawInputContents: [][]byte{raw}})
	if err != nil {
		return nil, err
	}
	if len(resp.RawOutputContents) != 1 {
		return nil, fmt.Errorf("%d raw outputs", len(resp.RawOutputContents))
	}
	return resp.RawOutputContents[0], nil
}

// binaryEcho is a REST infer body for the echo model: raw, n FP32
// elements, as binary data both ways; headerLen is its JSON header's.
func binaryEcho(raw []byte, n int) (body []byte, headerLen int) {
	header, _ := json.Marshal(map[string]any{
		"inputs":     []map[string]any{{"name": "x", "shape": []int{n}, "datatype": "FP32", "parameters": map[string]any{"binary_data_size": len(raw)}}},
		"parameters": map[string]any{"binary_data_output": true},
	})
	return append(header, raw...), len(header)
}

// numbered is n FP32-sized elements, element i holding tag|i.
func numbered(n int, tag uint32) []byte {
	raw := make([]byte, 4*n)
	for i := range n {
		binary.LittleEndian.PutUint32(raw[4*i:], tag|uint32(i))
	}
	return raw
}

func echoREST(url string, raw []byte, n int) ([]byte, error) {
	reqBody, headerLen := binaryEcho(raw, n)
	req, _ := http.NewRequest(http.MethodPost, url+"/v2/models/echo/infer", bytes.NewReader(reqBody))
	req.Header.Set(headerLength, strconv.Itoa(headerLen))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	hl, err := strconv.Atoi(resp.Header.Get(headerLength))
	if err != nil || resp.StatusCode != http.StatusOK || hl > len(body) {
		return nil, fmt.Errorf("status %d, header length %q: %s", resp.StatusCode, resp.Header.Get(headerLength), body)
	}
	return body[hl:], nil
}

// scribbler is a ResponseWriter that, at its first Write, takes a buffer
// of size from the pool and overwrites it: were the request's body back
// in the pool by then, the response would carry the scribble.
type scribbler struct {
	*httptest.ResponseRecorder
	size int
	done bool
}

func (s *scribbler) Write(p []byte) (int, error) {
	if !s.done {
		s.done = true
		buf, _ := getBuffer(s.size) // kept: the pool must not hand it out again
		for i := range buf {
			buf[i] = 0xff
		}
	}
	return s.ResponseRecorder.Write(p)
}

// TestRESTBodyHeldUntilResponseWritten: the echo model's outputs are views
// of the pooled body, written to the response after Infer; the body's
// buffer goes back to the pool only after that.
func TestRESTBodyHeldUntilResponseWritten(t *testing.T) {
	s, err := New([]Model{{Name: "echo", Model: noopModel(t)}}, Options{})
	require.NoError(t, err)
	const n = 50_000
	raw := numbered(n, 0)
	body, headerLen := binaryEcho(raw, n)
	for range 20 { // the race detector's pool drops some puts
		req := httptest.NewRequest(http.MethodPost, "/v2/models/echo/infer", bytes.NewReader(body))
		req.Header.Set(headerLength, strconv.Itoa(headerLen))
		w := &scribbler{ResponseRecorder: httptest.NewRecorder(), size: len(body) + alignment}
		s.ServeHTTP(w, req)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		hl, err := strconv.Atoi(w.Header().Get(headerLength))
		require.NoError(t, err)
		require.True(t, bytes.Equal(raw, w.Body.Bytes()[hl:]), "the response carries another request's bytes")
	}
}
