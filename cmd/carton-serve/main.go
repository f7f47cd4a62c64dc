package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/carton-run/carton"
	_ "github.com/carton-run/carton/backend/libtorch"
	_ "github.com/carton-run/carton/backend/onnx"
	_ "github.com/carton-run/carton/backend/tensorflow"
	"github.com/carton-run/carton/tensor"
)

// moreProcsForNativeCalls doubles GOMAXPROCS unless the user set it: each
// Infer spends its time in one long native call, and when every P is in
// such a call the Go scheduler hands Ps off and wakes spinning threads that
// take CPU from the model (BENCHMARKS.md, "Throughput at concurrency 2").
func moreProcsForNativeCalls() {
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		runtime.GOMAXPROCS(2 * runtime.GOMAXPROCS(0))
	}
}

func main() {
	moreProcsForNativeCalls()
	path := flag.String("carton", "", "the carton to serve (required)")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	if *path == "" {
		flag.Usage()
		os.Exit(2)
	}
	// SIGTERM is what an orchestrator sends to stop a container.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m, err := carton.Load(ctx, *path)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	if rt := m.Info().Runtime; rt != nil {
		log.Printf("serving %s on %s %s (%s) at %s", *path, rt.Framework, rt.Version, rt.Source, *addr)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/infer", func(w http.ResponseWriter, r *http.Request) { serveInfer(w, r, m) })
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, r *http.Request) { _ = json.NewEncoder(w).Encode(m.Info()) })
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	// ListenAndServe returns as soon as Shutdown starts; the requests in
	// flight finish before the model closes.
	<-drained
}

func serveInfer(w http.ResponseWriter, r *http.Request, m *carton.Model) {
	var req struct {
		Inputs map[string]wireTensor `json:"inputs"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(&req); err != nil {
		http.Error(w, "bad JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	in := map[string]tensor.Tensor{}
	for name, wt := range req.Inputs {
		t, err := fromWire(wt)
		if err != nil {
			http.Error(w, fmt.Sprintf("input %s: %v", name, err), http.StatusBadRequest)
			return
		}
		in[name] = t
	}
	out, err := m.Infer(r.Context(), in)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, carton.ErrInvalidInput) {
			status = http.StatusBadRequest
		}
		http.Error(w, err.Error(), status)
		return
	}
	resp := map[string]wireTensor{}
	var encErr error
	for name, t := range out {
		wt, err := toWire(t)
		if err != nil && encErr == nil {
			encErr = fmt.Errorf("output %s: %w", name, err)
		}
		resp[name] = wt
	}
	m.ReleaseOutputs(out) // toWire copied what it needs
	if encErr != nil {
		http.Error(w, encErr.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"outputs": resp})
}
