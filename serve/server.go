package serve

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

// ErrBadRequest marks a request the protocol or the model refuses: 400.
var ErrBadRequest = errors.New("bad request")

// Model is one model the server serves.
type Model struct {
	Name    string
	Version string // "" for a model without versions
	// Model is the loaded model; nil when it failed to load (LoadErr),
	// which the server reports as not ready.
	Model   *carton.Model
	LoadErr error
	// Concurrency and QueueSize, when not 0, replace the server's
	// Options for this model (a GPU model may want 1 at once and a short
	// queue, a CPU one several).
	Concurrency, QueueSize int
}

// Options configure a Server. The zero value is ready to use.
type Options struct {
	// Name and Version are what server metadata reports ("carton", "").
	Name, Version string
	// MaxRequestBytes caps a request body (default 64 MiB): 413 past it.
	MaxRequestBytes int64
	// Logger receives a line per failed request (default slog.Default()).
	Logger *slog.Logger
	// Concurrency is how many infer requests of one model run at once
	// (default GOMAXPROCS); QueueSize how many more may wait (default
	// 256), past which a request is refused with ErrQueueFull (429).
	Concurrency, QueueSize int
	// Registry receives the server's Prometheus metrics, which GET
	// /metrics serves; nil for a registry of its own.
	Registry *prometheus.Registry
}

const defaultMaxRequestBytes = 64 << 20

// Server serves the Open Inference Protocol's REST endpoints for a set of
// models. It is an http.Handler.
type Server struct {
	opts     Options
	byName   map[string][]*served // versions in the order given
	metrics  *metrics
	mux      *http.ServeMux
	notReady atomic.Bool
}

// New makes a Server for models; each Name, with its Version, must be
// unique. The models stay the caller's to close.
func New(models []Model, opts Options) (*Server, error) {
	if opts.Name == "" {
		opts.Name = "carton"
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = defaultMaxRequestBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.QueueSize == 0 {
		opts.QueueSize = 256
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	met, err := newMetrics(opts.Registry)
	if err != nil {
		return nil, fmt.Errorf("%w: registering metrics: %w", carton.ErrInvalidOption, err)
	}
	s := &Server{opts: opts, byName: map[string][]*served{}, metrics: met, mux: http.NewServeMux()}
	for i := range models {
		m := &served{Model: models[i]} // a copy: the caller's slice stays the caller's
		if m.Name == "" {
			return nil, fmt.Errorf("%w: model %d has no name", carton.ErrInvalidOption, i)
		}
		if m.model() == nil && m.LoadErr == nil {
			return nil, fmt.Errorf("%w: model %s has neither a Model nor a LoadErr", carton.ErrInvalidOption, m.Name)
		}
		for _, o := range s.byName[m.Name] {
			if o.Version == m.Version {
				return nil, fmt.Errorf("%w: model %s version %q is given twice", carton.ErrInvalidOption, m.Name, m.Version)
			}
		}
		m.admission = newAdmission(cmp.Or(m.Concurrency, opts.Concurrency), cmp.Or(m.QueueSize, opts.QueueSize))
		m.inFlight = met.inFlight.WithLabelValues(m.Name, m.Version)
		m.queued = met.queued.WithLabelValues(m.Name, m.Version)
		s.byName[m.Name] = append(s.byName[m.Name], m)
	}
	s.routes()
	return s, nil
}

// SetReady sets what server ready answers (true at first): a server
// about to shut down turns it false so that load balancers stop sending,
// and every response then closes its connection (ServeHTTP).
func (s *Server) SetReady(ready bool) { s.notReady.Store(!ready) }

// ServeHTTP serves a request. A server set not ready answers with
// "Connection: close", so that clients move their next requests to a new
// connection (to another server, behind a balancer) instead of one this
// server is about to close under them.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.notReady.Load() {
		w.Header().Set("Connection", "close")
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"live": true})
	})
	s.mux.HandleFunc("GET /v2/health/ready", func(w http.ResponseWriter, r *http.Request) {
		ready := s.ready()
		writeJSON(w, statusFor(ready), map[string]bool{"ready": ready})
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.opts.Registry, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /v2", s.serverMetadata)
	s.mux.HandleFunc("GET /v2/{$}", s.serverMetadata)
	for _, v := range []string{"", "/versions/{version}"} {
		base := "/v2/models/{name}" + v
		s.mux.HandleFunc("GET "+base, s.withModel(s.modelMetadata))
		s.mux.HandleFunc("GET "+base+"/ready", s.withModel(s.modelReady))
		s.mux.HandleFunc("POST "+base+"/infer", s.withModel(s.infer))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no endpoint %s %s in the Open Inference Protocol", r.Method, r.URL.Path))
	})
}

// ready: the server is ready when it was not set otherwise and every
// model loaded.
func (s *Server) ready() bool {
	if s.notReady.Load() {
		return false
	}
	for _, versions := range s.byName {
		for _, m := range versions {
			if m.model() == nil {
				return false
			}
		}
	}
	return true
}

func statusFor(ok bool) int {
	if ok {
		return http.StatusOK
	}
	return http.StatusServiceUnavailable
}

func (s *Server) serverMetadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"name": s.opts.Name, "version": s.opts.Version,
		"extensions": []string{"binary_tensor_data"},
	})
}

// withModel finds the model the path names (the last version given when
// the path names none): 404 when there is no such model or version.
func (s *Server) withModel(h func(http.ResponseWriter, *http.Request, *served)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		m, err := s.lookup(r.PathValue("name"), r.PathValue("version"))
		if err != nil {
			writeError(w, http.StatusNotFound, err)
			return
		}
		h(w, r, m)
	}
}

// errNotFound marks an unknown model or version: 404, gRPC NotFound.
var errNotFound = errors.New("not found")

// lookup finds a model by name and version ("": the last one given).
func (s *Server) lookup(name, version string) (*served, error) {
	versions := s.byName[name]
	if len(versions) == 0 {
		return nil, fmt.Errorf("%w: unknown model %q", errNotFound, name)
	}
	if version == "" {
		return versions[len(versions)-1], nil
	}
	i := slices.IndexFunc(versions, func(m *served) bool { return m.Version == version })
	if i < 0 {
		return nil, fmt.Errorf("%w: model %q has no version %q", errNotFound, name, version)
	}
	return versions[i], nil
}

// versionsOf lists a model's versions ("" ones left out).
func (s *Server) versionsOf(name string) []string {
	var out []string
	for _, v := range s.byName[name] {
		if v.Version != "" {
			out = append(out, v.Version)
		}
	}
	return out
}

func (s *Server) modelReady(w http.ResponseWriter, r *http.Request, m *served) {
	ready := m.model() != nil && !s.notReady.Load()
	writeJSON(w, statusFor(ready), map[string]any{"name": m.Name, "ready": ready})
}

// tensorMetadata is an input or output in model metadata.
type tensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

func (s *Server) modelMetadata(w http.ResponseWriter, r *http.Request, m *served) {
	if m.model() == nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("model %s failed to load: %v", m.Name, m.LoadErr))
		return
	}
	info := m.model().Info()
	versions := s.versionsOf(m.Name)
	meta := map[string]any{
		"name": m.Name, "platform": Platform(info.Runner.RunnerName),
		"inputs": specsMetadata(info.Inputs), "outputs": specsMetadata(info.Outputs),
	}
	if versions != nil {
		meta["versions"] = versions
	}
	writeJSON(w, http.StatusOK, meta)
}

// Platform is the protocol's platform name for a runner: Triton's for
// the frameworks it knows, "carton_<runner>" for others.
func Platform(runner string) string {
	switch runner {
	case "onnx":
		return "onnx_onnxv1"
	case "torchscript":
		return "pytorch_torchscript"
	case "tensorflow":
		return "tensorflow_savedmodel"
	}
	return "carton_" + runner
}

// specsMetadata turns declared specs into metadata: -1 for a dimension
// that is not fixed, and [-1] for a tensor of any shape.
func specsMetadata(specs []format.TensorSpec) []tensorMetadata {
	out := make([]tensorMetadata, 0, len(specs))
	for _, sp := range specs {
		md := tensorMetadata{Name: sp.Name, Datatype: Datatype(sp.DType), Shape: []int64{-1}}
		if sp.Shape.Kind == format.ShapeDims {
			md.Shape = make([]int64, len(sp.Shape.Dims))
			for i, d := range sp.Shape.Dims {
				md.Shape[i] = -1
				if d.Kind == format.DimFixed {
					md.Shape[i] = d.Size
				}
			}
		}
		out = append(out, md)
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// statusOf maps an infer error to its HTTP status.
func statusOf(err error) int {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBadRequest), errors.Is(err, carton.ErrInvalidInput), errors.Is(err, tensor.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrQueueFull):
		return http.StatusTooManyRequests
	case errors.Is(err, carton.ErrClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}
