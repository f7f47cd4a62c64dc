package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const tinyRequest = `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`

// hammer sends requests to the tiny ONNX model from conns clients, each
// with its own keep-alive connection, until stop says so; it counts 200s
// and every other outcome by kind.
//
// drainAware clients stop once a response closes its connection (the
// server is draining: not ready), as a client behind a balancer that
// watches readiness does.
func hammer(url string, conns int, drainAware bool, stop func(sent int64) bool) (ok int64, failures map[string]int) {
	var wg sync.WaitGroup
	var sent, okN atomic.Int64
	var mu sync.Mutex
	failures = map[string]int{}
	for range conns {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 30 * time.Second}
			defer client.CloseIdleConnections()
			for !stop(sent.Add(1)) {
				resp, err := client.Post(url, "application/json", bytes.NewReader([]byte(tinyRequest)))
				kind := ""
				switch {
				case errors.Is(err, syscall.ECONNREFUSED):
					kind = "refused"
				case err != nil:
					kind = err.Error()
				default:
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						okN.Add(1)
						if resp.Close && drainAware {
							return // the server is going away: a balancer would stop sending it requests
						}
						continue
					}
					kind = fmt.Sprint(resp.StatusCode)
				}
				mu.Lock()
				failures[kind]++
				mu.Unlock()
				if kind == "refused" {
					return // the server stopped listening: nothing more to send
				}
			}
		})
	}
	wg.Wait()
	return okN.Load(), failures
}

// A bounded load test on loopback: 64 concurrent connections, 10,000
// requests, every one answered 200.
func TestLoad64Connections(t *testing.T) {
	addr, _ := start(t, "", "--model", "m="+pack(t, "../../testdata/onnx/matmul_add.onnx"))
	ok, failures := hammer("http://"+addr+"/v2/models/m/infer", 64, false, func(sent int64) bool { return sent > 10000 })
	assert.Equal(t, int64(10000), ok)
	assert.Empty(t, failures)
}

// SIGTERM under 64 connections loses no response: every request sent is
// answered while the server drains (each response closing its
// connection), and the clients, told so, stop before it stops listening:
// nothing ends in an EOF or a reset. (A client that keeps connecting
// after the drain is refused, or, in the instant the listener closes,
// reset by the kernel before the server saw it.)
func TestSIGTERMLosesNothing(t *testing.T) {
	addr, cmd := start(t, "", "--model", "m="+pack(t, "../../testdata/onnx/matmul_add.onnx"), "--drain", "1s")
	var signalled atomic.Bool
	ok, failures := hammer("http://"+addr+"/v2/models/m/infer", 64, true, func(sent int64) bool {
		if sent == 2000 && signalled.CompareAndSwap(false, true) {
			require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		}
		return sent > 200000 // bounded, should the server never stop
	})
	t.Logf("%d answered, then %v", ok, failures)
	assert.Greater(t, ok, int64(2000))
	for kind, n := range failures {
		assert.Equal(t, "refused", kind, "%d requests ended %q", n, kind)
	}
	require.NoError(t, cmd.Wait(), "a clean exit")
}
