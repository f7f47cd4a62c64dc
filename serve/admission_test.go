package serve

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
	"unsafe"
)

func TestAdmissionBoundsRunningAndWaiting(t *testing.T) {
	a := newAdmission(1, 1)
	ctx := context.Background()
	release, waited, err := a.acquire(ctx)
	if err != nil || waited != 0 {
		t.Fatalf("first: %v %v", waited, err)
	}
	second := make(chan error, 1)
	go func() {
		rel, _, err := a.acquire(ctx) // waits in the queue
		if err == nil {
			rel()
		}
		second <- err
	}()
	for a.waiting.Load() != 1 {
		time.Sleep(time.Millisecond)
	}
	if _, _, err := a.acquire(ctx); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third: %v, want ErrQueueFull", err)
	}
	release()
	if err := <-second; err != nil {
		t.Fatalf("second: %v", err)
	}
	// A waiter whose context ends leaves the queue.
	release, _, _ = a.acquire(ctx)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, _, err := a.acquire(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timed out waiter: %v", err)
	}
	if n := a.waiting.Load(); n != 0 {
		t.Fatalf("%d still waiting", n)
	}
	release()
}

// A binary request body is read once, its binary part 64-byte aligned,
// and the input tensors are views of it: the tensor's one copy is the
// read from the connection.
func TestBinaryInputsAreViewsOfTheBody(t *testing.T) {
	header := []byte(`{"inputs":[{"name":"x","shape":[4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}`)
	body := append(append([]byte{}, header...), make([]byte, 16)...)
	req := httptest.NewRequest(http.MethodPost, "/v2/models/m/infer", bytes.NewReader(body))
	req.Header.Set(headerLength, strconv.Itoa(len(header)))
	buf, pooled, err := readBody(httptest.NewRecorder(), req, 1<<20, len(header))
	if err != nil {
		t.Fatal(err)
	}
	defer putBuffer(pooled)
	if p := uintptr(unsafe.Pointer(&buf[len(header)])); p%alignment != 0 {
		t.Fatalf("binary part at %#x, not %d-byte aligned", p, alignment)
	}
	_, inputs, err := parseInfer(buf, strconv.Itoa(len(header)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := inputs["x"].Pointer(), unsafe.Pointer(&buf[len(header)]); got != want {
		t.Fatalf("input x at %p, want a view of the body at %p", got, want)
	}
}

// A model's own Concurrency and QueueSize replace the server's.
func TestPerModelAdmission(t *testing.T) {
	s, err := New([]Model{
		{Name: "own", LoadErr: errors.New("x"), Concurrency: 1, QueueSize: 3},
		{Name: "server", LoadErr: errors.New("x")},
	}, Options{Concurrency: 5, QueueSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][2]int{"own": {1, 3}, "server": {5, 7}} {
		a := s.byName[name][0].admission
		if got := [2]int{cap(a.slots), int(a.queue)}; got != want {
			t.Errorf("%s: concurrency, queue = %v, want %v", name, got, want)
		}
	}
}
