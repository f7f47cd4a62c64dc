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
	"time"

	"github.com/carton-run/carton"
	_ "github.com/carton-run/carton/backend/libtorch"
	_ "github.com/carton-run/carton/backend/onnx"
	_ "github.com/carton-run/carton/backend/tensorflow"
	"github.com/carton-run/carton/tensor"
)

// wireTensor is a tensor in JSON: numbers (or strings, or booleans) in C order.
type wireTensor struct {
	DType string            `json:"dtype"`
	Shape []int64           `json:"shape"`
	Data  []json.RawMessage `json:"data"`
}

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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
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
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
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
	for name, t := range out {
		resp[name] = toWire(t)
		t.Release()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"outputs": resp})
}

func fromWire(wt wireTensor) (tensor.Tensor, error) {
	dt, err := tensor.ParseDType(wt.DType)
	if err != nil {
		return tensor.Tensor{}, err
	}
	if dt == tensor.String {
		strs := make([]string, len(wt.Data))
		for i, raw := range wt.Data {
			if err := json.Unmarshal(raw, &strs[i]); err != nil {
				return tensor.Tensor{}, err
			}
		}
		return tensor.FromStrings(wt.Shape, strs)
	}
	vals := make([]float64, len(wt.Data))
	for i, raw := range wt.Data {
		if dt == tensor.Bool {
			var b bool
			if err := json.Unmarshal(raw, &b); err != nil {
				return tensor.Tensor{}, err
			}
			if b {
				vals[i] = 1
			}
			continue
		}
		if err := json.Unmarshal(raw, &vals[i]); err != nil {
			return tensor.Tensor{}, err
		}
	}
	return tensor.FromFloat64s(dt, wt.Shape, vals)
}

func toWire(t tensor.Tensor) wireTensor {
	wt := wireTensor{DType: t.DType().String(), Shape: t.Shape()}
	if s, err := t.Strings(); err == nil {
		for _, x := range s {
			b, _ := json.Marshal(x)
			wt.Data = append(wt.Data, b)
		}
		return wt
	}
	vals, _ := tensor.Float64s(t)
	for _, v := range vals {
		b, _ := json.Marshal(v)
		if t.DType() == tensor.Bool {
			b, _ = json.Marshal(v != 0)
		}
		wt.Data = append(wt.Data, b)
	}
	return wt
}
