package serve

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carton-run/carton"
)

// ErrQueueFull: the model's queue is full; 429 over REST,
// RESOURCE_EXHAUSTED over gRPC. The client should retry later.
var ErrQueueFull = errors.New("queue full")

// admission bounds one model's work: at most concurrency requests run,
// at most queue more wait; past that a request is refused at once, so a
// burst cannot pile up unbounded latency and memory.
type admission struct {
	slots   chan struct{}
	waiting atomic.Int64
	queue   int64
}

func newAdmission(concurrency, queue int) *admission {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	if queue < 0 {
		queue = 0
	}
	return &admission{slots: make(chan struct{}, concurrency), queue: int64(queue)}
}

// acquire waits for a slot (or ctx), and returns the release and how long
// it waited.
func (a *admission) acquire(ctx context.Context) (func(), time.Duration, error) {
	select {
	case a.slots <- struct{}{}:
		return a.release, 0, nil
	default:
	}
	if a.waiting.Add(1) > a.queue {
		a.waiting.Add(-1)
		return nil, 0, fmt.Errorf("%w: %d requests are running and %d waiting for this model", ErrQueueFull, cap(a.slots), a.queue)
	}
	defer a.waiting.Add(-1)
	start := time.Now()
	select {
	case a.slots <- struct{}{}:
		return a.release, time.Since(start), nil
	case <-ctx.Done():
		return nil, time.Since(start), ctx.Err()
	}
}

func (a *admission) release() { <-a.slots }

// metrics are the server's Prometheus collectors.
type metrics struct {
	requests *prometheus.CounterVec   // model, version, protocol, code
	latency  *prometheus.HistogramVec // model, version, protocol
	queued   *prometheus.HistogramVec // model, version
	inFlight *prometheus.GaugeVec     // model, version
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carton_serve_infer_requests_total", Help: "Infer requests, by model, protocol (rest, grpc) and outcome (an HTTP status code).",
		}, []string{"model", "version", "protocol", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "carton_serve_infer_duration_seconds", Help: "Infer requests' time in the server, queue included.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 18),
		}, []string{"model", "version", "protocol"}),
		queued: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "carton_serve_queue_duration_seconds", Help: "Time infer requests waited for a slot of their model.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 18),
		}, []string{"model", "version"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "carton_serve_infer_in_flight", Help: "Infer requests running or waiting, by model.",
		}, []string{"model", "version"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.queued, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// served is a model as the server holds it: the caller's Model, its
// queue, and its metrics' children, looked up once rather than per request.
type served struct {
	Model
	admission *admission
	inFlight  prometheus.Gauge
	queued    prometheus.Observer
}

// model is the loaded model; nil when it failed to load.
func (m *served) model() *carton.Model { return m.Model.Model }

// track counts one infer request of m over protocol; done records its
// outcome (an HTTP status code) and duration.
func (s *Server) track(m *served, protocol string) (done func(code int)) {
	start := time.Now()
	m.inFlight.Inc()
	return func(code int) {
		m.inFlight.Dec()
		s.metrics.requests.WithLabelValues(m.Name, m.Version, protocol, strconv.Itoa(code)).Inc()
		s.metrics.latency.WithLabelValues(m.Name, m.Version, protocol).Observe(time.Since(start).Seconds())
	}
}
